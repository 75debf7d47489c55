/**
 * The teacher labeling end to end: the real detector and the real face-api networks in tfjs-wasm, run as the
 * command line runs them, on two photos (one per split). Also checks the committed labels file.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photosDir, repoRoot } from '../../test/support/requirements.ts';
import { toFaceptorExpressionOrder } from './face-api-teachers.ts';
import { expressionLabels, teacherLabelsSchema, type TeacherLabels } from './labels-schema.ts';
import { labelsFileName } from './label-photos.ts';
import { heldOutPhotos, listPhotos } from './photos.ts';

const run = promisify(execFile);
const tsx = path.join(repoRoot, 'node_modules', '.bin', 'tsx');
const script = path.join(repoRoot, 'training', 'teachers', 'label-photos.ts');
const trainPhoto = 'dlib-examples/2008_001322.jpg';
const heldOutPhoto = 'dlib-examples/2009_004587.jpg';

let workDir: string;
let firstBytes: Buffer;
let secondBytes: Buffer;
let labels: TeacherLabels;

async function labelInto(dir: string, photos: string): Promise<{ stdout: string; stderr: string }> {
  return run(tsx, [script, '--out', dir, '--photos', photos], { cwd: repoRoot, timeout: 300_000 });
}

beforeAll(async () => {
  workDir = await mkdtemp(path.join(tmpdir(), 'teacher-labels-'));
  const photos = `${trainPhoto},${heldOutPhoto}`;
  const first = await labelInto(path.join(workDir, 'first'), photos);
  console.log(first.stdout.trim());
  await labelInto(path.join(workDir, 'second'), photos);
  firstBytes = await readFile(path.join(workDir, 'first', labelsFileName));
  secondBytes = await readFile(path.join(workDir, 'second', labelsFileName));
  labels = teacherLabelsSchema.parse(JSON.parse(firstBytes.toString('utf8')));
});

afterAll(async () => {
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

/** Fails when a photo lies in both splits, or a face's split differs from its photo's. */
function expectSplitsApart(result: TeacherLabels): void {
  const photoSplit = new Map(result.photos.map((photo) => [photo.path, photo.split]));
  for (const photo of result.photos) {
    expect(photo.split, photo.path).toBe(heldOutPhotos.includes(photo.path) ? 'heldout' : 'train');
  }
  for (const face of [...result.faces, ...result.skipped]) {
    expect(face.split, face.id).toBe(photoSplit.get(face.photo));
  }
  const trainFacePhotos = new Set(result.faces.filter((face) => face.split === 'train').map((face) => face.photo));
  const heldOutFacePhotos = result.faces.filter((face) => face.split === 'heldout').map((face) => face.photo);
  expect(heldOutFacePhotos.filter((photo) => trainFacePhotos.has(photo))).toEqual([]);
}

describe('label-photos on two photos', () => {
  it('lists exactly the requested photos with their SHA-256', async () => {
    const expected = await Promise.all(
      [trainPhoto, heldOutPhoto].map(async (photo) => createHash('sha256').update(await readFile(path.join(photosDir, photo))).digest('hex')),
    );
    expect(labels.photos.map((photo) => photo.path)).toEqual([trainPhoto, heldOutPhoto]);
    expect(labels.photos.map((photo) => photo.sha256)).toEqual(expected);
    expect(labels.photos.map((photo) => photo.split)).toEqual(['train', 'heldout']);
  });

  it('labels faces in both photos', () => {
    expect(labels.summary.train.faces).toBeGreaterThanOrEqual(1);
    expect(labels.summary.heldout.faces).toBeGreaterThanOrEqual(1);
    expect(labels.faces.length + labels.skipped.length).toBe(labels.photos.reduce((sum, photo) => sum + photo.detections, 0));
  });

  it('puts 68 points inside the image for every face', () => {
    const sizes = new Map(labels.photos.map((photo) => [photo.path, photo]));
    for (const face of labels.faces) {
      const { width, height } = sizes.get(face.photo)!;
      expect(face.landmarks, face.id).toHaveLength(68);
      for (const [x, y] of face.landmarks) {
        expect(x, face.id).toBeGreaterThanOrEqual(-0.5);
        expect(x, face.id).toBeLessThanOrEqual(width - 0.5);
        expect(y, face.id).toBeGreaterThanOrEqual(-0.5);
        expect(y, face.id).toBeLessThanOrEqual(height - 0.5);
      }
    }
  });

  it('places the points near dlib reference points', () => {
    // A wrong crop offset or scale moves every point by a large share of the face. On these photos, dlib's
    // own points differ from this teacher's by about 0.08 inter-ocular distances.
    const withReference = labels.faces.filter((face) => face.referenceNme !== undefined);
    expect(withReference.length).toBeGreaterThanOrEqual(4);
    for (const face of withReference) expect(face.referenceNme!, face.id).toBeLessThan(0.2);
    expect(labels.referenceCheck.labelled.faces).toBe(withReference.length);
  });

  it('stores expression probabilities in Faceptor order that sum to 1', () => {
    expect(labels.expression.labels).toEqual([...expressionLabels]);
    for (const face of labels.faces) {
      const sum = face.expression.reduce((total, p) => total + p, 0);
      expect(Math.abs(sum - 1), face.id).toBeLessThan(1e-3);
      expect(face.attributeProxies.Smiling, face.id).toBe(face.expression[expressionLabels.indexOf('happy')]);
    }
  });

  it('keeps held-out and train photos apart', () => {
    expectSplitsApart(labels);
  });

  it('writes byte-identical labels on a second run', () => {
    expect(secondBytes.length).toBe(firstBytes.length);
    expect(secondBytes.equals(firstBytes)).toBe(true);
  });

  it('rejects an unknown photo naming it', async () => {
    const failure = labelInto(path.join(workDir, 'bad'), 'no-such-photo.jpg');
    await expect(failure).rejects.toThrow(/photos not found under .*: no-such-photo\.jpg; valid photos are/);
  });
});

describe('expression mapping', () => {
  it('reorders face-api classes into Faceptor order', () => {
    const faceApi = { neutral: 0.1, happy: 0.2, sad: 0.3, angry: 0.05, fearful: 0.15, disgusted: 0.12, surprised: 0.08 };
    // Faceptor order: neutral, happy, sad, surprise, fear, disgust, anger.
    expect(toFaceptorExpressionOrder(faceApi)).toEqual([0.1, 0.2, 0.3, 0.08, 0.15, 0.12, 0.05]);
  });

  it('rejects a missing class naming it', () => {
    expect(() => toFaceptorExpressionOrder({ neutral: 1 })).toThrow(/no finite "happy" value/);
  });
});

describe('committed training/data/teacher-labels.json', () => {
  let committed: TeacherLabels;

  beforeAll(async () => {
    committed = teacherLabelsSchema.parse(JSON.parse(await readFile(path.join(repoRoot, 'training', 'data', labelsFileName), 'utf8')));
  });

  it('covers every photo of test/fixtures/photos at its current SHA-256', async () => {
    const current = await listPhotos(photosDir);
    expect(committed.photos.map(({ path: file, sha256, split }) => ({ path: file, sha256, split }))).toEqual(current);
  });

  it('keeps held-out and train photos apart', () => {
    expectSplitsApart(committed);
  });

  it('holds at least 20 held-out faces', () => {
    expect(committed.summary.heldout.faces).toBeGreaterThanOrEqual(20);
    expect(committed.faces.filter((face) => face.split === 'heldout')).toHaveLength(committed.summary.heldout.faces);
  });
});
