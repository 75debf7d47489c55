/**
 * The format of `teacher-labels.json`: labels that redistributable teacher networks produced for the faces
 * of the project's real test photos, to distill a demo Faceptor model from.
 *
 * Coordinates are pixels of the decoded photo (EXIF orientation applied) with pixel centers at integer
 * values, the convention of every frame in this project.
 */
import { z } from 'zod';

export const teacherLabelsFormat = 'faceptor.teacher-labels/v1';

/** Faceptor's expression order, the order of every `expression` array in the file. */
export const expressionLabels = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'anger'] as const;

/** The 40 CelebA attributes in the dataset's order. */
export const celebaAttributes = [
  '5_o_Clock_Shadow', 'Arched_Eyebrows', 'Attractive', 'Bags_Under_Eyes', 'Bald', 'Bangs', 'Big_Lips', 'Big_Nose',
  'Black_Hair', 'Blond_Hair', 'Blurry', 'Brown_Hair', 'Bushy_Eyebrows', 'Chubby', 'Double_Chin', 'Eyeglasses',
  'Goatee', 'Gray_Hair', 'Heavy_Makeup', 'High_Cheekbones', 'Male', 'Mouth_Slightly_Open', 'Mustache',
  'Narrow_Eyes', 'No_Beard', 'Oval_Face', 'Pale_Skin', 'Pointy_Nose', 'Receding_Hairline', 'Rosy_Cheeks',
  'Sideburns', 'Smiling', 'Straight_Hair', 'Wavy_Hair', 'Wearing_Earrings', 'Wearing_Hat', 'Wearing_Lipstick',
  'Wearing_Necklace', 'Wearing_Necktie', 'Young',
] as const;

/** The attributes that have a proxy label, derived from another teacher's output. */
export const proxyAttributes = ['Male', 'Smiling', 'Young'] as const;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'a lowercase hex SHA-256');
const probability = z.number().min(0).max(1);
const point = z.tuple([z.number(), z.number()]);
const box = z.object({ x: z.number(), y: z.number(), width: z.number().positive(), height: z.number().positive() });
const split = z.enum(['train', 'heldout']);

/** One teacher network and what it labelled. */
const teacher = z.object({
  package: z.string(),
  version: z.string(),
  license: z.string(),
  net: z.string(),
  /** Weights file, relative to the package folder. */
  weights: z.string(),
  weightsSha256: sha256,
  /** The face fields this teacher produced. */
  produces: z.array(z.string()).min(1),
  /** Description of the crop the network saw. */
  input: z.string(),
  notes: z.string(),
});

const face = z.object({
  /** `<photo path>#<index among the photo's detections>`. */
  id: z.string(),
  photo: z.string(),
  split,
  box,
  /** Detector face probability. */
  score: probability,
  /** 68 points in iBUG (300W) order. */
  landmarks: z.array(point).length(68),
  ageYears: z.number().nonnegative(),
  maleProbability: probability,
  /** Probabilities in {@link expressionLabels} order. */
  expression: z.array(probability).length(expressionLabels.length),
  /** face-api's 128-d descriptor, not L2-normalized. */
  identity: z.array(z.number()).length(128),
  /** Proxy labels in [0, 1], derived from the fields above; see `attributes.proxies` for each rule. */
  attributeProxies: z.object({ Male: probability, Smiling: probability, Young: probability }).strict(),
  /** Landmark NME against the dlib XML reference points, when the face has them. */
  referenceNme: z.number().nonnegative().optional(),
});

const skippedFace = z.object({
  id: z.string(),
  photo: z.string(),
  split,
  box,
  score: probability,
  reason: z.string(),
  referenceNme: z.number().nonnegative().optional(),
});

const nmeStatistics = z.object({
  faces: z.number().int().nonnegative(),
  mean: z.number().nonnegative().nullable(),
  median: z.number().nonnegative().nullable(),
  max: z.number().nonnegative().nullable(),
});

const photo = z.object({
  /** Path relative to test/fixtures/photos. */
  path: z.string(),
  sha256,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  split,
  detections: z.number().int().nonnegative(),
  faces: z.number().int().nonnegative(),
});

const splitCount = z.object({ photos: z.number().int().nonnegative(), faces: z.number().int().nonnegative() });

export const teacherLabelsSchema = z
  .object({
    format: z.literal(teacherLabelsFormat),
    generator: z.string(),
    /** Seed of the random choices; null because the labeling makes none (fixed split list, deterministic inference). */
    seed: z.null(),
    split: z.object({ unit: z.literal('photo'), rule: z.string(), heldOutPhotos: z.array(z.string()) }),
    detector: z.object({
      folder: z.string(),
      name: z.string(),
      version: z.string(),
      graphSha256: sha256,
      settings: z.record(z.string(), z.unknown()),
    }),
    runtime: z.object({ tfjs: z.string(), backend: z.literal('wasm') }),
    teachers: z.object({ landmarks: teacher, ageGender: teacher, expression: teacher, identity: teacher }).strict(),
    expression: z.object({
      labels: z
        .array(z.enum(expressionLabels))
        .refine((labels) => labels.join(',') === expressionLabels.join(','), `must be ${expressionLabels.join(', ')} in this order`),
      teacherLabels: z.array(z.string()).length(7),
      /** Faceptor label -> the teacher label it was taken from. */
      mapping: z.record(z.string(), z.string()),
    }),
    attributes: z.object({
      proxies: z.record(z.enum(proxyAttributes), z.object({ from: z.string(), rule: z.string() })),
      noTeacher: z.array(z.enum(celebaAttributes)),
    }),
    parsing: z.object({ teacher: z.null(), notes: z.string() }),
    quality: z.record(z.string(), z.number()),
    referenceCheck: z.object({
      reference: z.string(),
      normalization: z.string(),
      matchIou: z.number(),
      referenceFaces: z.number().int().nonnegative(),
      undetectedReferenceFaces: z.number().int().nonnegative(),
      /** NME over the labelled faces that have reference points. */
      labelled: nmeStatistics,
      /** NME over the labelled held-out faces that have reference points. */
      heldOut: nmeStatistics,
      /** NME over every detected face with reference points, skipped ones included: the teacher's own error. */
      allDetected: nmeStatistics,
    }),
    summary: z.object({ train: splitCount, heldout: splitCount, skippedFaces: z.number().int().nonnegative() }),
    photos: z.array(photo),
    faces: z.array(face),
    skipped: z.array(skippedFace),
  })
  .strict();

export type TeacherLabels = z.infer<typeof teacherLabelsSchema>;
export type LabelledFace = z.infer<typeof face>;
export type SkippedFace = z.infer<typeof skippedFace>;
export type PhotoRecord = z.infer<typeof photo>;
export type TeacherRecord = z.infer<typeof teacher>;
