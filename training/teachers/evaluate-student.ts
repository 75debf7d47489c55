/**
 * Measure how closely a Faceptor model folder agrees with the teacher labels, through the real serving
 * pipeline (`openPipeline`: UltraFace detection, landmark crop, face crop aligned on the model's own
 * landmarks, ONNX Runtime on the CPU).
 *
 * Each result face is matched to a teacher face of the same photo by box IoU. Per split it reports:
 * landmark NME against the teacher (mean point distance over the teacher's outer-eye-corner distance,
 * points 36 and 45), age MAE in years, expression agreement (same argmax), and for identity the Pearson
 * correlation between the student's and the teacher's pairwise cosine similarities over all face pairs of
 * the split. The held-out photos show no person twice, so verification AUC cannot be measured.
 *
 * Usage: npx tsx training/teachers/evaluate-student.ts [--model DIR] [--labels FILE] [--out FILE]
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { matchBoxes } from '../../gpu-worker/src/detect/reference-boxes.ts';
import { applyAffine, boxCrop, cropPointToImage } from '../../gpu-worker/src/geometry/index.ts';
import { openPipeline } from '../../gpu-worker/src/open-pipeline.ts';
import type { FaceOutputs } from '../../gpu-worker/src/pipeline/pipeline.ts';
import { teacherLabelsSchema, type LabelledFace, type TeacherLabels } from './labels-schema.ts';
import { interOcularNme } from './quality.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const photosDir = path.join(repoRoot, 'test', 'fixtures', 'photos');

/** Minimum IoU between a result box and a teacher box to compare the two faces. */
export const matchIou = 0.5;

export const evaluatedHeads = ['landmarks', 'age', 'expression', 'identity'] as const;
type EvaluatedHead = (typeof evaluatedHeads)[number];

export interface Summary {
  mean: number;
  median: number;
  max: number;
}

export interface SplitMetrics {
  teacherFaces: number;
  matchedFaces: number;
  landmarkNme: Summary | null;
  ageMaeYears: number | null;
  expressionAgreement: number | null;
  identityPairPearson: number | null;
  identityPairs: number;
}

export interface EvaluationReport {
  format: 'faceptor.student-evaluation/v1';
  model: { dir: string; name: string; version: string; trainedHeads: string[] };
  labels: string;
  matchIou: number;
  splits: { train: SplitMetrics; heldout: SplitMetrics };
  /** Agreement of label-only predictors fitted on the training split, for scale. */
  baselines: {
    heldoutAgeMaeOfTrainMean: number;
    heldoutExpressionAgreementOfTrainMajority: number;
    trainMajorityExpression: string;
    /** Agreement of always predicting the held-out split's own most frequent class, the best that any constant prediction scores there. */
    heldoutExpressionAgreementOfHeldoutMajority: number;
    heldoutMajorityExpression: string;
    /** NME of the training faces' mean landmark shape (in landmark-crop coordinates) placed in each held-out detector box. */
    heldoutMeanShapeNme: number;
  };
  notes: string[];
}

interface MatchedFace {
  teacher: LabelledFace;
  student: FaceOutputs;
}

/** Evaluate `modelDir` on every labelled photo; heads the manifest marks untrained are left out unless `includeUntrained`. */
export async function evaluateStudent(options: { modelDir: string; labelsPath: string; includeUntrained?: boolean }): Promise<EvaluationReport> {
  const labels = teacherLabelsSchema.parse(JSON.parse(await readFile(options.labelsPath, 'utf8'))) as TeacherLabels;
  const pipeline = await openPipeline({ modelDir: options.modelDir, runUntrainedHeads: options.includeUntrained ?? false });
  const manifest = pipeline.manifest;
  const trainedHeads = evaluatedHeads.filter((head) => manifest.heads[head]?.trained);
  const measured = new Set<EvaluatedHead>(options.includeUntrained ? evaluatedHeads.filter((head) => manifest.heads[head]) : trainedHeads);

  const matched: Record<'train' | 'heldout', MatchedFace[]> = { train: [], heldout: [] };
  try {
    for (const photo of labels.photos) {
      const teachers = labels.faces.filter((face) => face.photo === photo.path);
      if (teachers.length === 0) continue;
      const bytes = await readFile(path.join(photosDir, photo.path));
      const [outcome] = await pipeline.analyze([{ image: bytes, tasks: [...evaluatedHeads] }]);
      if (!outcome?.ok) throw new Error(`the pipeline rejected ${photo.path}: ${outcome?.error.message ?? 'no outcome'}`);
      const boxes = outcome.result.faces.map((face) => face.box);
      const match = matchBoxes(
        teachers.map((face) => face.box),
        boxes,
        matchIou,
      );
      teachers.forEach((teacher, index) => {
        const detection = match.referenceToDetection[index] ?? -1;
        const student = detection >= 0 ? outcome.faceOutputs[detection] : undefined;
        if (student) matched[teacher.split].push({ teacher, student });
      });
    }
  } finally {
    await pipeline.close();
  }

  const splits = {
    train: splitMetrics(matched.train, labels.faces.filter((face) => face.split === 'train').length, measured),
    heldout: splitMetrics(matched.heldout, labels.faces.filter((face) => face.split === 'heldout').length, measured),
  };
  return {
    format: 'faceptor.student-evaluation/v1',
    model: { dir: path.relative(repoRoot, path.resolve(options.modelDir)), name: manifest.name, version: manifest.version, trainedHeads },
    labels: path.relative(repoRoot, path.resolve(options.labelsPath)),
    matchIou,
    splits,
    baselines: labelBaselines(labels, manifest.crops.landmarks?.scale ?? 0.8),
    notes: [
      'NME: mean point distance over the distance between the teacher points 36 and 45 (outer eye corners).',
      'Identity: Pearson correlation of pairwise cosine similarities; no person appears twice among the held-out photos, so verification AUC cannot be measured.',
      ...(options.includeUntrained ? ['Untrained heads were run and measured (--include-untrained).'] : []),
    ],
  };
}

function splitMetrics(faces: readonly MatchedFace[], teacherFaces: number, measured: ReadonlySet<EvaluatedHead>): SplitMetrics {
  const nme: number[] = [];
  const ageErrors: number[] = [];
  const agreements: number[] = [];
  const studentEmbeddings: number[][] = [];
  const teacherDescriptors: number[][] = [];

  for (const { teacher, student } of faces) {
    if (measured.has('landmarks') && student.landmarks) {
      const points = student.landmarks.map(([x, y]): [number, number] => [x, y]);
      nme.push(interOcularNme(points, teacher.landmarks));
    }
    if (measured.has('age') && student.age !== undefined) ageErrors.push(Math.abs(student.age - teacher.ageYears));
    if (measured.has('expression') && student.expression) {
      const probabilities = Object.values(student.expression.probabilities);
      agreements.push(argmax(probabilities) === argmax(teacher.expression) ? 1 : 0);
    }
    if (measured.has('identity') && student.identity) {
      studentEmbeddings.push(student.identity);
      teacherDescriptors.push(teacher.identity);
    }
  }

  const studentPairs = pairwiseCosines(studentEmbeddings);
  const teacherPairs = pairwiseCosines(teacherDescriptors);
  return {
    teacherFaces,
    matchedFaces: faces.length,
    landmarkNme: nme.length > 0 ? summarize(nme) : null,
    ageMaeYears: ageErrors.length > 0 ? round(mean(ageErrors)) : null,
    expressionAgreement: agreements.length > 0 ? round(mean(agreements)) : null,
    identityPairPearson: studentPairs.length >= 3 ? round(pearson(studentPairs, teacherPairs)) : null,
    identityPairs: studentPairs.length,
  };
}

function labelBaselines(labels: TeacherLabels, landmarkCropScale: number): EvaluationReport['baselines'] {
  const train = labels.faces.filter((face) => face.split === 'train');
  const heldout = labels.faces.filter((face) => face.split === 'heldout');

  // The crop side only sets the units of the mean shape; any size gives the same baseline.
  const cropSize = 128;
  const meanShape = Array.from({ length: 68 }, (): [number, number] => [0, 0]);
  for (const face of train) {
    const crop = boxCrop(face.box, cropSize, landmarkCropScale);
    face.landmarks.forEach((point, index) => {
      const [x, y] = applyAffine(crop.matrix, point);
      meanShape[index]![0] += x / train.length;
      meanShape[index]![1] += y / train.length;
    });
  }
  const meanShapeNme = heldout.map((face) => {
    const crop = boxCrop(face.box, cropSize, landmarkCropScale);
    return interOcularNme(
      meanShape.map((point) => cropPointToImage(crop, point)),
      face.landmarks,
    );
  });

  const trainMeanAge = mean(train.map((face) => face.ageYears));
  const majorityClass = (faces: readonly LabelledFace[]): number => {
    const counts = new Array<number>(labels.expression.labels.length).fill(0);
    for (const face of faces) counts[argmax(face.expression)]! += 1;
    return argmax(counts);
  };
  const majority = majorityClass(train);
  const heldoutMajority = majorityClass(heldout);
  return {
    heldoutAgeMaeOfTrainMean: round(mean(heldout.map((face) => Math.abs(face.ageYears - trainMeanAge)))),
    heldoutExpressionAgreementOfTrainMajority: round(mean(heldout.map((face) => (argmax(face.expression) === majority ? 1 : 0)))),
    trainMajorityExpression: labels.expression.labels[majority] ?? String(majority),
    heldoutExpressionAgreementOfHeldoutMajority: round(mean(heldout.map((face) => (argmax(face.expression) === heldoutMajority ? 1 : 0)))),
    heldoutMajorityExpression: labels.expression.labels[heldoutMajority] ?? String(heldoutMajority),
    heldoutMeanShapeNme: round(mean(meanShapeNme)),
  };
}

/** Cosine similarity of every pair i < j, in row order. */
export function pairwiseCosines(vectors: readonly (readonly number[])[]): number[] {
  const norms = vectors.map((v) => Math.hypot(...v));
  const out: number[] = [];
  for (let i = 0; i < vectors.length; i++) {
    for (let j = i + 1; j < vectors.length; j++) {
      let dot = 0;
      const a = vectors[i]!;
      const b = vectors[j]!;
      for (let k = 0; k < a.length; k++) dot += a[k]! * b[k]!;
      out.push(dot / Math.max(norms[i]! * norms[j]!, 1e-12));
    }
  }
  return out;
}

/** Pearson correlation of two equally long samples; NaN when either is constant. */
export function pearson(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) throw new RangeError(`pearson needs samples of equal length, got ${a.length} and ${b.length}`);
  const meanA = mean(a);
  const meanB = mean(b);
  let covariance = 0;
  let varianceA = 0;
  let varianceB = 0;
  for (let i = 0; i < a.length; i++) {
    const da = a[i]! - meanA;
    const db = b[i]! - meanB;
    covariance += da * db;
    varianceA += da * da;
    varianceB += db * db;
  }
  return covariance / Math.sqrt(varianceA * varianceB);
}

function argmax(values: readonly number[]): number {
  let best = 0;
  values.forEach((value, index) => {
    if (value > values[best]!) best = index;
  });
  return best;
}

function mean(values: readonly number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

function summarize(values: readonly number[]): Summary {
  const sorted = [...values].sort((x, y) => x - y);
  const middle = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { mean: round(mean(values)), median: round(median), max: round(sorted[sorted.length - 1]!) };
}

function round(value: number): number {
  return Math.round(value * 10_000) / 10_000;
}

function printReport(report: EvaluationReport): void {
  console.log(`model ${report.model.name} ${report.model.version} (${report.model.dir}); trained heads: ${report.model.trainedHeads.join(', ') || 'none'}`);
  for (const [name, split] of Object.entries(report.splits)) {
    const nme = split.landmarkNme ? `${split.landmarkNme.mean} (median ${split.landmarkNme.median}, max ${split.landmarkNme.max})` : 'n/a';
    console.log(
      `${name}: ${split.matchedFaces}/${split.teacherFaces} faces matched; landmark NME ${nme}; age MAE ${split.ageMaeYears ?? 'n/a'} years; ` +
        `expression agreement ${split.expressionAgreement ?? 'n/a'}; identity pair Pearson ${split.identityPairPearson ?? 'n/a'} over ${split.identityPairs} pairs`,
    );
  }
  const base = report.baselines;
  console.log(
    `label-only baselines on held-out: age MAE of the training mean ${base.heldoutAgeMaeOfTrainMean} years; ` +
      `agreement of always "${base.trainMajorityExpression}" (training majority) ${base.heldoutExpressionAgreementOfTrainMajority}, ` +
      `of always "${base.heldoutMajorityExpression}" (held-out majority) ${base.heldoutExpressionAgreementOfHeldoutMajority}; ` +
      `landmark NME of the training mean shape in the detector box ${base.heldoutMeanShapeNme}`,
  );
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      model: { type: 'string', default: path.join(repoRoot, 'models', 'faceptor-tiny') },
      labels: { type: 'string', default: path.join(repoRoot, 'training', 'data', 'teacher-labels.json') },
      out: { type: 'string', default: path.join(repoRoot, 'training', 'data', 'heldout-metrics.json') },
      'include-untrained': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(
      [
        'Usage: npx tsx training/teachers/evaluate-student.ts [options]',
        '  --model DIR           model folder to evaluate (default: models/faceptor-tiny)',
        '  --labels FILE         teacher-labels file (default: training/data/teacher-labels.json)',
        '  --out FILE            where to write the metrics JSON (default: training/data/heldout-metrics.json)',
        '  --include-untrained   also run and measure heads the manifest marks untrained (for baselines)',
      ].join('\n'),
    );
    return;
  }
  const report = await evaluateStudent({ modelDir: values.model, labelsPath: values.labels, includeUntrained: values['include-untrained'] });
  printReport(report);
  await writeFile(values.out, `${JSON.stringify(report, null, 2)}\n`);
  console.log(`wrote ${values.out}`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
}
