/**
 * The analysis result (`faceptor.result/v1`), defined once: the worker validates what it writes with
 * `resultSchema`, and docs/result.schema.json is generated from it by scripts/write-result-schema.ts.
 *
 * Coordinates are in pixels of the original image after EXIF orientation, with pixel centers at integer
 * coordinates: the top-left pixel's center is (0, 0) and the image spans [-0.5, width - 0.5] horizontally.
 */
import { z } from 'zod';
import { TASKS } from './tasks.ts';

/** Value of the `schema` field of every v1 result. */
export const RESULT_SCHEMA_ID = 'faceptor.result/v1';

/** Largest allowed deviation of an identity embedding's L2 norm from 1. */
export const EMBEDDING_NORM_TOLERANCE = 1e-3;

const probability = z.number().min(0).max(1);
const milliseconds = z.number().min(0);

const pointSchema = z
  .tuple([z.number(), z.number()])
  .describe('Point [x, y] in original image pixels, with pixel centers at integer coordinates.');

const headStatusSchema = z.strictObject({
  trained: z.boolean().describe('Whether the head was trained. Untrained heads never appear in faces[].'),
  trained_on: z.string().nullable().optional().describe('Short description of the training data, or null when unknown.'),
});

const modelSchema = z
  .strictObject({
    name: z.string().min(1).describe('Model name from the model manifest.'),
    version: z.string().min(1).describe('Model version from the model manifest.'),
    heads: z
      .partialRecord(z.enum(TASKS), headStatusSchema)
      .describe('Every head the model has, trained or not. A head the model lacks is absent.'),
  })
  .describe('The model that produced the result.');

const boxSchema = z
  .strictObject({
    x: z.number().describe('Left edge in original image pixels.'),
    y: z.number().describe('Top edge in original image pixels.'),
    width: z.number().min(0).describe('Width in pixels.'),
    height: z.number().min(0).describe('Height in pixels.'),
  })
  .describe('Detector box. It spans [x, x + width] by [y, y + height] in the pixel-center-at-integer frame.');

const landmarksSchema = z
  .strictObject({
    scheme: z.string().min(1).describe('Landmark scheme from the model manifest, such as "300w-68"; it fixes the meaning of each index.'),
    points: z.array(pointSchema).min(1).describe('Landmarks in scheme order, in original image pixels.'),
  })
  .describe('Facial landmarks.');

const parsingSchema = z
  .strictObject({
    scheme: z.string().min(1).describe('Parsing scheme from the model manifest, such as "lapa-11" or "celebamask-19".'),
    labels: z.array(z.string().min(1)).min(2).describe('Class names by class index. Index 0 is the background.'),
    mask: z
      .string()
      .min(1)
      .optional()
      .describe(
        'Where the label map is stored: a URL, an object key or a file path. It is a single-channel 8-bit PNG of the ' +
          'original image size whose pixel values are class indices into `labels`; pixels outside the face crop are 0.',
      ),
    areas: z
      .record(z.string(), probability)
      .describe(
        "Share of the face's foreground pixels per class, by label: pixels of the class divided by pixels of any class " +
          'but the background (index 0), counted over the label map. The background has no entry; the values sum to 1, ' +
          'or are all 0 when no pixel is foreground.',
      ),
  })
  .describe('Face parsing (semantic segmentation of face parts).');

const expressionSchema = z
  .strictObject({
    label: z.string().min(1).describe('The most probable expression.'),
    probabilities: z.record(z.string(), probability).describe('Softmax probability of every expression class, by label.'),
  })
  .describe('Facial expression.');

const identitySchema = z
  .strictObject({
    embedding: z
      .array(z.number())
      .min(1)
      .describe(`Identity embedding, L2-normalized (its norm is 1 within ${EMBEDDING_NORM_TOLERANCE}). Compare faces by the dot product (cosine similarity).`),
  })
  .describe('Identity embedding for face verification and search.');

const faceSchema = z
  .strictObject({
    box: boxSchema,
    score: probability.describe('Detector confidence in [0, 1].'),
    landmarks: landmarksSchema.optional(),
    parsing: parsingSchema.optional(),
    age: z.strictObject({ years: z.number().describe('Estimated age in years (the expected value over the age bins).') }).optional(),
    expression: expressionSchema.optional(),
    attributes: z
      .record(z.string(), probability)
      .optional()
      .describe('Probability in [0, 1] of each binary attribute, by the names in the model manifest. An attribute counts as present above 0.5.'),
    identity: identitySchema.optional(),
  })
  .describe('One detected face. Each task field is present only when the task was requested and its head is trained.');

const timingsSchema = z
  .strictObject({
    decode: milliseconds.describe('Image decoding, in milliseconds.'),
    detect: milliseconds.describe('Face detection, in milliseconds.'),
    align: milliseconds.describe('Crop building and sampling, in milliseconds.'),
    infer: milliseconds.describe('Model inference, in milliseconds.'),
    postprocess: milliseconds.describe('Decoding of the model outputs, in milliseconds.'),
    total: milliseconds.describe('Wall time of the whole analysis, in milliseconds.'),
  })
  .describe('Time spent per stage. When images are batched together, shared stages are split among them.');

const resultObjectSchema = z.strictObject({
  schema: z.literal(RESULT_SCHEMA_ID).describe('Result format and version.'),
  image: z
    .strictObject({
      width: z.number().int().positive().describe('Width in pixels, after EXIF orientation.'),
      height: z.number().int().positive().describe('Height in pixels, after EXIF orientation.'),
    })
    .describe('The analyzed image.'),
  model: modelSchema,
  warnings: z
    .array(z.string().min(1))
    .describe('Facts about this analysis a caller should know, such as "crops built from the detector box because the landmark head is untrained".'),
  faces: z.array(faceSchema).describe('Detected faces, in detector order.'),
  timings_ms: timingsSchema,
});

/** Zod schema of a `faceptor.result/v1` document, with the cross-field rules of `checkConsistency`. */
export const resultSchema = resultObjectSchema.superRefine(checkConsistency).meta({
  title: 'Faceptor analysis result (faceptor.result/v1)',
  description:
    'Faces found in one image and the outputs of the requested tasks. Coordinates are in pixels of the original image ' +
    'after EXIF orientation, with pixel centers at integer coordinates.',
});

/** A `faceptor.result/v1` document. */
export type FaceptorResult = z.infer<typeof resultSchema>;

/** One entry of `faces`. */
export type FaceResult = FaceptorResult['faces'][number];

/** JSON Schema (draft 2020-12) of a `faceptor.result/v1` document, as docs/result.schema.json stores it. */
export function resultJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(resultSchema, { target: 'draft-2020-12' }) as Record<string, unknown>;
}

/** Error raised by `parseResult`; `issues` lists every problem as "path: message". */
export class InvalidResultError extends Error {
  constructor(readonly issues: string[]) {
    super(`invalid ${RESULT_SCHEMA_ID} result:\n  ${issues.join('\n  ')}`);
    this.name = 'InvalidResultError';
  }
}

/** Validate a result document, raising an `InvalidResultError` that lists every invalid field. */
export function parseResult(value: unknown): FaceptorResult {
  const parsed = resultSchema.safeParse(value);
  if (!parsed.success) {
    throw new InvalidResultError(parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`));
  }
  return parsed.data;
}

/** Cross-field rules that the JSON Schema cannot state: trained heads only, labels that match, unit embeddings. */
function checkConsistency(result: z.output<typeof resultObjectSchema>, ctx: z.RefinementCtx): void {
  result.faces.forEach((face, index) => {
    for (const task of TASKS) {
      if (face[task] === undefined) continue;
      const head = result.model.heads[task];
      if (!head?.trained) {
        ctx.addIssue({
          code: 'custom',
          path: ['faces', index, task],
          message: `the "${task}" head is ${head ? 'untrained' : 'not in model.heads'}, so faces must not report it`,
        });
      }
    }

    if (face.parsing) {
      for (const label of Object.keys(face.parsing.areas)) {
        if (!face.parsing.labels.includes(label)) {
          ctx.addIssue({ code: 'custom', path: ['faces', index, 'parsing', 'areas', label], message: `"${label}" is not one of parsing.labels` });
        }
      }
    }

    if (face.expression && !(face.expression.label in face.expression.probabilities)) {
      ctx.addIssue({
        code: 'custom',
        path: ['faces', index, 'expression', 'label'],
        message: `"${face.expression.label}" has no entry in expression.probabilities`,
      });
    }

    if (face.identity) {
      const norm = Math.sqrt(face.identity.embedding.reduce((sum, value) => sum + value * value, 0));
      if (!(Math.abs(norm - 1) <= EMBEDDING_NORM_TOLERANCE)) {
        ctx.addIssue({
          code: 'custom',
          path: ['faces', index, 'identity', 'embedding'],
          message: `embedding must be L2-normalized, but its norm is ${norm}`,
        });
      }
    }
  });
}
