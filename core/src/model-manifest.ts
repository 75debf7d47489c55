/**
 * Reader's definition of a model folder's manifest (`faceptor.model/v1`), written by
 * `training/export_onnx.py`. docs/model-format.md describes every field.
 */
import { z } from 'zod';

const rgbTriple = z.tuple([z.number(), z.number(), z.number()]);
const point = z.tuple([z.number(), z.number()]);
const fivePoints = z.tuple([point, point, point, point, point]);

const graphPortSchema = z.object({
  name: z.string().min(1),
  shape: z.array(z.union([z.number().int(), z.string()])),
});

const graphSchema = z.object({
  file: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex sha256'),
  inputs: z.array(graphPortSchema).min(1),
  outputs: z.array(graphPortSchema).min(1),
});

const encoderSchema = z.object({
  graph: z.string().min(1),
  input_size: z.number().int().positive(),
  token_grid: z.number().int().positive(),
  mean: rgbTriple,
  std: rgbTriple.refine((std) => std.every((value) => value > 0), 'every std must be positive'),
});

const headBase = {
  trained: z.boolean(),
  trained_on: z.string().nullable(),
  source_task: z.string().min(1),
  graph: z.string().min(1),
  output: z.string().min(1),
};

export const identityHeadSchema = z.object({ ...headBase, encoder: z.literal('face'), dim: z.number().int().positive() });
export const ageHeadSchema = z.object({
  ...headBase,
  encoder: z.literal('face'),
  bins: z.number().int().positive(),
  first_bin_years: z.number(),
});
export const expressionHeadSchema = z.object({ ...headBase, encoder: z.literal('face'), labels: z.array(z.string().min(1)).min(2) });
export const attributesHeadSchema = z.object({ ...headBase, encoder: z.literal('face'), labels: z.array(z.string().min(1)).min(1) });
export const landmarksHeadSchema = z.object({
  ...headBase,
  encoder: z.literal('dense'),
  scheme: z.string().min(1),
  points: z.number().int().positive(),
  heatmap_size: z.number().int().positive(),
  five_point_indices: z.array(z.array(z.number().int().nonnegative()).min(1)).length(5),
});
export const parsingHeadSchema = z.object({
  ...headBase,
  encoder: z.literal('dense'),
  scheme: z.string().min(1),
  labels: z.array(z.string().min(1)).min(2),
  map_size: z.number().int().positive(),
});

export const faceCropSchema = z.object({
  kind: z.literal('arcface'),
  template_size: z.number().positive(),
  template: fivePoints,
});
export const landmarkCropSchema = z.object({ kind: z.literal('box'), scale: z.number().positive().max(2) });
export const parsingCropSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('lapa-tanh'), warp_factor: z.number().min(0).max(1), template_unit: fivePoints }),
  z.object({ kind: z.literal('celebamask-ffhq') }),
]);

export const modelManifestSchema = z
  .object({
    format: z.literal('faceptor.model/v1'),
    name: z.string().min(1),
    version: z.string().min(1),
    description: z.string(),
    architecture: z
      .object({
        config: z.string().min(1),
        patch_size: z.number().int().positive(),
        width: z.number().int().positive(),
        layers: z.number().int().positive(),
        heads: z.number().int().positive(),
        levels: z.array(z.number().int().nonnegative()).min(1),
        parameters: z.number().int().positive(),
      })
      .passthrough(),
    source: z.object({
      kind: z.string().min(1),
      file: z.string().nullable(),
      sha256: z.string().regex(/^[0-9a-f]{64}$/).nullable(),
      notes: z.string().optional(),
    }),
    license: z.object({ id: z.string().min(1), notes: z.string() }),
    graphs: z.record(z.string(), graphSchema),
    encoders: z.object({ face: encoderSchema.optional(), dense: encoderSchema.optional() }),
    crops: z.object({
      face: faceCropSchema.optional(),
      landmarks: landmarkCropSchema.optional(),
      parsing: parsingCropSchema.optional(),
    }),
    heads: z.object({
      identity: identityHeadSchema.optional(),
      age: ageHeadSchema.optional(),
      expression: expressionHeadSchema.optional(),
      attributes: attributesHeadSchema.optional(),
      landmarks: landmarksHeadSchema.optional(),
      parsing: parsingHeadSchema.optional(),
    }),
  })
  .superRefine((manifest, ctx) => {
    for (const [role, encoder] of Object.entries(manifest.encoders)) {
      if (encoder && !(encoder.graph in manifest.graphs)) {
        ctx.addIssue({ code: 'custom', path: ['encoders', role, 'graph'], message: `graph "${encoder.graph}" is not listed in graphs` });
      }
    }
    for (const [name, head] of Object.entries(manifest.heads)) {
      if (!head) continue;
      const graph = manifest.graphs[head.graph];
      if (!graph) {
        ctx.addIssue({ code: 'custom', path: ['heads', name, 'graph'], message: `graph "${head.graph}" is not listed in graphs` });
      } else if (!graph.outputs.some((port) => port.name === head.output)) {
        ctx.addIssue({ code: 'custom', path: ['heads', name, 'output'], message: `graph "${head.graph}" has no output "${head.output}"` });
      }
      if (!manifest.encoders[head.encoder]) {
        ctx.addIssue({ code: 'custom', path: ['heads', name, 'encoder'], message: `encoder "${head.encoder}" is not described in encoders` });
      }
    }
    if ((manifest.heads.identity || manifest.heads.age || manifest.heads.expression || manifest.heads.attributes) && !manifest.crops.face) {
      ctx.addIssue({ code: 'custom', path: ['crops', 'face'], message: 'the model has face-encoder heads but no crops.face' });
    }
    if (manifest.heads.landmarks && !manifest.crops.landmarks) {
      ctx.addIssue({ code: 'custom', path: ['crops', 'landmarks'], message: 'the model has a landmarks head but no crops.landmarks' });
    }
    if (manifest.heads.parsing && !manifest.crops.parsing) {
      ctx.addIssue({ code: 'custom', path: ['crops', 'parsing'], message: 'the model has a parsing head but no crops.parsing' });
    }
  });

export type ModelManifest = z.infer<typeof modelManifestSchema>;
export type HeadName = keyof ModelManifest['heads'];
export type EncoderRole = 'face' | 'dense';

/** Parse a manifest object, raising an error that lists every invalid field of `source` (a path for messages). */
export function parseModelManifest(value: unknown, source: string): ModelManifest {
  const parsed = modelManifestSchema.safeParse(value);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new Error(`invalid model manifest ${source}:\n  ${problems.join('\n  ')}\nre-export the model with training/export_onnx.py`);
  }
  return parsed.data;
}
