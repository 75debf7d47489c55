/**
 * Labels every face of the real test photos with the face-api teacher networks, for distilling a demo model.
 *
 *   npx tsx training/teachers/label-photos.ts --out training/data [--photos dlib-examples/2008_001322.jpg,...]
 *
 * Faces are found by the project's own detector (UltraFace RFB-320 in ONNX Runtime); the teachers run in
 * TensorFlow.js with the WebAssembly backend. Writes `<out>/teacher-labels.json` (format in labels-schema.ts)
 * and prints the counts per split, the landmark teacher's error against dlib's reference points, and the time.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { decodeImage } from '../../gpu-worker/src/decode/decode-image.ts';
import { matchBoxes } from '../../gpu-worker/src/detect/reference-boxes.ts';
import type { Box, Detection } from '../../gpu-worker/src/detect/types.ts';
import { UltraFaceDetector } from '../../gpu-worker/src/detect/ultraface.ts';
import { SessionRegistry } from '../../gpu-worker/src/inference/sessions.ts';
import { expressionMapping, FaceApiTeachers, faceApiExpressionLabels, type TeacherModelFile, type TeacherOutputs } from './face-api-teachers.ts';
import {
  celebaAttributes,
  expressionLabels,
  proxyAttributes,
  teacherLabelsFormat,
  teacherLabelsSchema,
  type LabelledFace,
  type PhotoRecord,
  type SkippedFace,
  type TeacherLabels,
  type TeacherRecord,
} from './labels-schema.ts';
import { heldOutPhotos, listPhotos, readReferencePoints, type PhotoEntry, type ReferenceFace } from './photos.ts';
import { defaultQualityThresholds, findQualityProblem, interOcularNme } from './quality.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const photosDir = path.join(repoRoot, 'test', 'fixtures', 'photos');
const detectorDir = path.join(repoRoot, 'models', 'ultraface-rfb320');
const referenceXmlFiles = ['training_with_face_landmarks.xml', 'testing_with_face_landmarks.xml'].map((file) => path.join(photosDir, 'dlib-examples', file));

/** File name of the labels inside the output folder. */
export const labelsFileName = 'teacher-labels.json';

/**
 * Side of the landmark crop as a multiple of the longer side of the UltraFace box. On the test photos, the
 * UltraFace box's longer side is a median 1.26 times the extent of face-api's 68 points. The box of face-api's
 * own detector (ssd_mobilenetv1) is a median 1.375 times that extent, so a factor of 1.1 gives the landmark
 * net about the margin it gets in face-api's own pipeline.
 */
const landmarkCropScale = 1.1;
/** Crop scale of the second landmark run that tests how stable the points are. */
const stabilityCropScale = 1.3;
/** Minimum IoU between a detector box and a dlib reference box for the face to be compared with its reference points. */
const referenceMatchIou = 0.4;
/** Age below which the Young proxy is 1. */
const youngBelowYears = 30;
const maxPixels = 50_000_000;

/** Options of {@link labelPhotos}. */
export interface LabelPhotosOptions {
  /** Photos to label, relative to test/fixtures/photos; all photos there when omitted. */
  photos?: readonly string[];
  /** Called with one line of progress per photo. */
  log?: (line: string) => void;
}

/** Runs the detector and the teachers on the photos and returns the labels, checked against the schema. */
export async function labelPhotos(options: LabelPhotosOptions = {}): Promise<TeacherLabels> {
  const log = options.log ?? (() => {});
  const photos = await listPhotos(photosDir, options.photos);
  const references = await readAllReferences();
  const registry = new SessionRegistry({ executionProviders: ['cpu'] });
  try {
    const detector = await UltraFaceDetector.load(detectorDir, registry);
    const teachers = await FaceApiTeachers.load({ landmarkCropScale });

    const photoRecords: PhotoRecord[] = [];
    const faces: LabelledFace[] = [];
    const skipped: SkippedFace[] = [];
    for (const photo of photos) {
      const image = await decodeImage(await readFile(path.join(photosDir, photo.path)), { maxPixels });
      const detections = await detector.detect(image);
      const referenceFaces = references.get(photo.path) ?? [];
      const match = matchBoxes(
        referenceFaces.map((face) => face.box),
        detections.map((detection) => detection.box),
        referenceMatchIou,
      );

      let labelledCount = 0;
      for (const [index, detection] of detections.entries()) {
        const id = `${photo.path}#${index}`;
        const outputs = await teachers.label(image, detection.box);
        const secondRun = await teachers.landmarksAt(image, detection.box, stabilityCropScale);
        const reference = referenceFaces[match.referenceToDetection.indexOf(index)];
        const referenceNme = reference ? round(interOcularNme(outputs.landmarks, reference.points), 4) : undefined;
        const problem = findQualityProblem(detection.box, outputs.landmarks, secondRun, defaultQualityThresholds);
        if (problem) {
          const record: SkippedFace = { id, photo: photo.path, split: photo.split, box: roundBox(detection.box), score: round(detection.score, 4), reason: problem };
          if (referenceNme !== undefined) record.referenceNme = referenceNme;
          skipped.push(record);
          continue;
        }
        faces.push(faceRecord(id, photo, detection, outputs, referenceNme));
        labelledCount += 1;
      }

      photoRecords.push({ path: photo.path, sha256: photo.sha256, width: image.width, height: image.height, split: photo.split, detections: detections.length, faces: labelledCount });
      log(`${photo.path} (${photo.split}): ${detections.length} detections, ${labelledCount} labelled`);
    }

    const referenceFaceCount = photos.reduce((count, photo) => count + (references.get(photo.path)?.length ?? 0), 0);
    return teacherLabelsSchema.parse(assembleLabels(detector, teachers, photoRecords, faces, skipped, referenceFaceCount));
  } finally {
    await registry.close();
  }
}

/** Reads the reference points of both dlib XML files, keyed by photo path relative to the photos folder. */
async function readAllReferences(): Promise<Map<string, ReferenceFace[]>> {
  const all = new Map<string, ReferenceFace[]>();
  for (const xml of referenceXmlFiles) {
    for (const [file, faces] of await readReferencePoints(xml)) all.set(`dlib-examples/${file}`, faces);
  }
  return all;
}

function faceRecord(id: string, photo: PhotoEntry, detection: Detection, outputs: TeacherOutputs, referenceNme: number | undefined): LabelledFace {
  const happy = outputs.expression[expressionLabels.indexOf('happy')]!;
  const record: LabelledFace = {
    id,
    photo: photo.path,
    split: photo.split,
    box: roundBox(detection.box),
    score: round(detection.score, 4),
    landmarks: outputs.landmarks.map(([x, y]) => [round(x, 2), round(y, 2)]),
    ageYears: round(outputs.ageYears, 1),
    maleProbability: round(outputs.maleProbability, 4),
    expression: outputs.expression.map((p) => round(p, 4)),
    identity: outputs.identity.map((v) => round(v, 5)),
    attributeProxies: {
      Male: round(outputs.maleProbability, 4),
      Smiling: round(happy, 4),
      Young: outputs.ageYears < youngBelowYears ? 1 : 0,
    },
  };
  if (referenceNme !== undefined) record.referenceNme = referenceNme;
  return record;
}

function assembleLabels(
  detector: UltraFaceDetector,
  teachers: FaceApiTeachers,
  photos: PhotoRecord[],
  faces: LabelledFace[],
  skipped: SkippedFace[],
  referenceFaceCount: number,
): TeacherLabels {
  const teacher = (net: string, produces: string[], input: string, notes: string): TeacherRecord => {
    const file = teachers.files.find((f: TeacherModelFile) => f.net === net);
    if (!file) throw new Error(`no weights record for face-api net ${net}`);
    return { package: '@vladmandic/face-api', version: teachers.packageVersion, license: 'MIT', net, weights: file.weights, weightsSha256: file.weightsSha256, produces, input, notes };
  };
  const landmarkInput = `square crop of ${landmarkCropScale} x the longer side of the detector box, centered on it, black outside the photo`;
  const attributeInput = "face-api's align() box: the 68 points' bounding box grown by 20% in width and height, clipped to the photo";
  const labelledNmes = faces.flatMap((face) => (face.referenceNme === undefined ? [] : [face.referenceNme]));
  const skippedNmes = skipped.flatMap((face) => (face.referenceNme === undefined ? [] : [face.referenceNme]));
  const countSplit = (split: 'train' | 'heldout') => ({
    photos: photos.filter((p) => p.split === split).length,
    faces: faces.filter((f) => f.split === split).length,
  });

  return {
    format: teacherLabelsFormat,
    generator: 'training/teachers/label-photos.ts',
    seed: null,
    split: {
      unit: 'photo',
      rule: 'every face of a photo goes to that photo\'s split; held-out photos are the fixed list below (the five photos of dlib\'s testing_with_face_landmarks.xml and face-api-demo/sample6.jpg), all others are train',
      heldOutPhotos: [...heldOutPhotos],
    },
    detector: {
      folder: 'models/ultraface-rfb320',
      name: detector.manifest.name,
      version: detector.manifest.version,
      graphSha256: detector.manifest.sha256,
      settings: { ...detector.settings, tiling: { ...detector.settings.tiling } },
    },
    runtime: { tfjs: teachers.tfjsVersion, backend: 'wasm' },
    teachers: {
      landmarks: teacher('faceLandmark68Net', ['landmarks'], landmarkInput, '68 points in iBUG (300W) order'),
      ageGender: teacher('ageGenderNet', ['ageYears', 'maleProbability', 'attributeProxies.Male', 'attributeProxies.Young'], attributeInput, 'age is a regression in years; gender a two-class probability'),
      expression: teacher('faceExpressionNet', ['expression', 'attributeProxies.Smiling'], attributeInput, "softmax over face-api's 7 classes, reordered into Faceptor's order (see expression.mapping)"),
      identity: teacher('faceRecognitionNet', ['identity'], attributeInput, "128-d descriptor, a port of dlib's ResNet face recognition model; Faceptor's 512-d head needs a projection or a relational loss"),
    },
    expression: { labels: [...expressionLabels], teacherLabels: [...faceApiExpressionLabels], mapping: { ...expressionMapping } },
    attributes: {
      proxies: {
        Male: { from: 'ageGenderNet', rule: 'probability that the face is male' },
        Smiling: { from: 'faceExpressionNet', rule: 'probability of the happy expression' },
        Young: { from: 'ageGenderNet', rule: `1 when the predicted age is below ${youngBelowYears} years, else 0` },
      },
      noTeacher: celebaAttributes.filter((name) => !(proxyAttributes as readonly string[]).includes(name)),
    },
    parsing: { teacher: null, notes: 'no redistributable face-parsing network runs in Node here, so no parsing labels were produced' },
    quality: { ...defaultQualityThresholds, stabilityCropScale },
    referenceCheck: {
      reference: "68 points of dlib's example XML files (test/fixtures/photos/dlib-examples/*_with_face_landmarks.xml), produced by dlib's own landmark model, not by people",
      normalization: 'mean point distance over the inter-ocular distance, points 36 and 45 of the reference',
      matchIou: referenceMatchIou,
      referenceFaces: referenceFaceCount,
      undetectedReferenceFaces: referenceFaceCount - labelledNmes.length - skippedNmes.length,
      labelled: nmeStatistics(labelledNmes),
      heldOut: nmeStatistics(faces.flatMap((face) => (face.split === 'heldout' && face.referenceNme !== undefined ? [face.referenceNme] : []))),
      allDetected: nmeStatistics([...labelledNmes, ...skippedNmes]),
    },
    summary: { train: countSplit('train'), heldout: countSplit('heldout'), skippedFaces: skipped.length },
    photos,
    faces,
    skipped,
  };
}

/** Serializes the labels as indented JSON with each number array, and each array of points, on one line. */
export function formatLabels(labels: TeacherLabels): string {
  return (
    JSON.stringify(labels, null, 2)
      .replace(/\[\s*(-?\d[\d.e+-]*(?:,\s*-?\d[\d.e+-]*)*)\s*\]/g, (_, items: string) => `[${items.split(/,\s*/).join(', ')}]`)
      .replace(/\[\s*(\[[^[\]]*\](?:,\s*\[[^[\]]*\])*)\s*\]/g, (_, items: string) => `[${items.split(/\],\s*\[/).join('], [')}]`) + '\n'
  );
}

function round(value: number, decimals: number): number {
  const factor = 10 ** decimals;
  return Math.round(value * factor) / factor + 0; // + 0 turns -0 into 0
}

function roundBox(box: Box): Box {
  return { x: round(box.x, 2), y: round(box.y, 2), width: round(box.width, 2), height: round(box.height, 2) };
}

/** Count, mean, median and maximum of per-face NMEs; the statistics are null for no faces. */
function nmeStatistics(values: readonly number[]): { faces: number; mean: number | null; median: number | null; max: number | null } {
  if (values.length === 0) return { faces: 0, mean: null, median: null, max: null };
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return {
    faces: values.length,
    mean: round(values.reduce((sum, v) => sum + v, 0) / values.length, 4),
    median: sorted.length % 2 === 1 ? sorted[middle]! : round((sorted[middle - 1]! + sorted[middle]!) / 2, 4),
    max: sorted[sorted.length - 1]!,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string' },
      photos: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help || !values.out) {
    console.log(
      'usage: npx tsx training/teachers/label-photos.ts --out DIR [--photos PATH,PATH,...]\n' +
        `  --out DIR      folder that receives ${labelsFileName} (created if missing)\n` +
        '  --photos LIST  comma-separated photo paths relative to test/fixtures/photos (default: every photo there)',
    );
    if (!values.help) process.exitCode = 2;
    return;
  }

  const started = performance.now();
  const photos = values.photos?.split(',').map((p) => p.trim()).filter((p) => p.length > 0);
  const labels = await labelPhotos({ photos, log: (line) => console.log(line) });
  const seconds = (performance.now() - started) / 1000;

  await mkdir(values.out, { recursive: true });
  const file = path.join(values.out, labelsFileName);
  await writeFile(file, formatLabels(labels));

  const { summary, referenceCheck } = labels;
  console.log(`train: ${summary.train.photos} photos, ${summary.train.faces} faces; held-out: ${summary.heldout.photos} photos, ${summary.heldout.faces} faces`);
  for (const face of labels.skipped) console.log(`skipped ${face.id}: ${face.reason}`);
  const { labelled, allDetected } = referenceCheck;
  console.log(
    `landmark teacher vs dlib reference points (inter-ocular NME): labelled faces mean ${labelled.mean ?? 'n/a'}, median ${labelled.median ?? 'n/a'}, ` +
      `max ${labelled.max ?? 'n/a'} over ${labelled.faces} faces (held-out: mean ${referenceCheck.heldOut.mean ?? 'n/a'} over ${referenceCheck.heldOut.faces}); with skipped faces mean ${allDetected.mean ?? 'n/a'} over ${allDetected.faces}; ` +
      `${referenceCheck.undetectedReferenceFaces} of ${referenceCheck.referenceFaces} reference faces not detected`,
  );
  console.log(`wrote ${file} (${labels.faces.length} faces) in ${seconds.toFixed(1)} s`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  });
}
