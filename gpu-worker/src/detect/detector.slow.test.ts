/**
 * Acceptance of the UltraFace detector on the real test photos, in ONNX Runtime on the CPU.
 * Prints per-photo counts, IoUs and times so that a reader sees the margins.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photosDir, repoRoot, requireAll, systemPython } from '../../../test/support/requirements.ts';
import { decodeImage, type DecodedImage } from '../decode/decode-image.ts';
import { SessionRegistry } from '../inference/sessions.ts';
import { matchBoxes, readDlibXml, readVispDetections } from './reference-boxes.ts';
import type { Detection } from './types.ts';
import { UltraFaceDetector } from './ultraface.ts';

const modelDir = path.join(repoRoot, 'models', 'ultraface-rfb320');
const dlibDir = path.join(photosDir, 'dlib-examples');
const registry = new SessionRegistry({ executionProviders: ['cpu'] });
let detector: UltraFaceDetector;

async function decodeFile(file: string): Promise<DecodedImage> {
  return decodeImage(await readFile(file), { maxPixels: 50_000_000 });
}

/** Detects once to warm up, then returns the detections and the time of a second run. */
async function timedDetect(image: DecodedImage): Promise<{ faces: Detection[]; ms: number }> {
  await detector.detect(image);
  const start = performance.now();
  const faces = await detector.detect(image);
  return { faces, ms: performance.now() - start };
}

function windowsText(image: DecodedImage): string {
  return detector
    .planFor(image.width, image.height)
    .map((level) => level.windows.length)
    .join('+');
}

beforeAll(async () => {
  detector = await UltraFaceDetector.load(modelDir, registry);
});

afterAll(async () => {
  await registry.close();
});

describe('UltraFace on the dlib example photos', () => {
  it('finds all 43 annotated faces with IoU >= 0.4 and few extra boxes', async () => {
    let annotated = 0;
    let found = 0;
    let extra = 0;
    for (const xml of ['training_with_face_landmarks.xml', 'testing_with_face_landmarks.xml']) {
      for (const reference of await readDlibXml(path.join(dlibDir, xml))) {
        const image = await decodeFile(reference.file);
        const { faces, ms } = await timedDetect(image);
        const match = matchBoxes(
          reference.boxes,
          faces.map((face) => face.box),
          0.4,
        );
        annotated += reference.boxes.length;
        found += match.matched;
        extra += match.unmatchedDetections.length;
        console.log(
          `${path.basename(reference.file)} ${image.width}x${image.height}: found ${match.matched}/${reference.boxes.length}, ` +
            `extra ${match.unmatchedDetections.length}, min IoU ${Math.min(...match.iou).toFixed(2)}, windows ${windowsText(image)}, ${ms.toFixed(0)} ms`,
        );
        expect(match.matched, path.basename(reference.file)).toBe(reference.boxes.length);
      }
    }
    console.log(`dlib examples: found ${found}/${annotated} annotated faces, ${extra} detections matching no annotation`);
    expect(annotated).toBe(43);
    expect(found).toBe(43);
    expect(extra).toBeLessThanOrEqual(2);
  });

  it('finds no face in dogs.jpg', async () => {
    const image = await decodeFile(path.join(dlibDir, 'dogs.jpg'));
    const { faces, ms } = await timedDetect(image);
    console.log(`dogs.jpg ${image.width}x${image.height}: ${faces.length} faces, windows ${windowsText(image)}, ${ms.toFixed(0)} ms`);
    expect(faces).toEqual([]);
  });

  it('needs verification to reject the dog faces', async () => {
    // Without the second run at the verification size, UltraFace scores two of the dogs above 0.97.
    const unverified = await UltraFaceDetector.load(modelDir, registry, { verify: false });
    const faces = await unverified.detect(await decodeFile(path.join(dlibDir, 'dogs.jpg')));
    console.log(`dogs.jpg without verification: ${faces.length} faces, scores ${faces.map((face) => face.score.toFixed(3)).join(', ')}`);
    expect(faces.length).toBeGreaterThanOrEqual(1);
  });

  it('finds the 24 faces of the bald_guys collage', async () => {
    // 24 faces counted by eye in this collage of portraits; none has a reference box.
    const image = await decodeFile(path.join(dlibDir, 'bald_guys.jpg'));
    const { faces, ms } = await timedDetect(image);
    console.log(`bald_guys.jpg ${image.width}x${image.height}: ${faces.length} faces, windows ${windowsText(image)}, ${ms.toFixed(0)} ms`);
    expect(faces.length).toBeGreaterThanOrEqual(24);
    expect(faces.length).toBeLessThanOrEqual(25);
  });

  it('finds one face in each portrait', async () => {
    for (const file of [path.join(dlibDir, 'Tom_Cruise_avp_2014_4.jpg'), path.join(photosDir, 'astronaut.png')]) {
      const image = await decodeFile(file);
      const { faces, ms } = await timedDetect(image);
      console.log(`${path.basename(file)} ${image.width}x${image.height}: ${faces.length} faces, windows ${windowsText(image)}, ${ms.toFixed(0)} ms`);
      expect(faces, path.basename(file)).toHaveLength(1);
      expect(faces[0]!.score).toBeGreaterThan(0.9);
    }
  });
});

describe('UltraFace on the Solvay 1927 group photo', () => {
  it('matches at least 26 of the 30 reference boxes with IoU >= 0.3', async () => {
    const image = await decodeFile(path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png'));
    const references = await readVispDetections(path.join(photosDir, 'solvay-1927', 'ground_truth_detection.txt'));
    const { faces, ms } = await timedDetect(image);
    const match = matchBoxes(
      references,
      faces.map((face) => face.box),
      0.3,
    );
    const missed = references.map((box, i) => (match.referenceToDetection[i] === -1 ? `#${i} ${JSON.stringify(box)}` : null)).filter(Boolean);
    console.log(
      `Solvay ${image.width}x${image.height}: matched ${match.matched}/${references.length} reference boxes, ${faces.length} detections, ` +
        `${match.unmatchedDetections.length} unmatched detections, windows ${windowsText(image)}, ${ms.toFixed(0)} ms; missed ${missed.join(', ') || 'none'}`,
    );
    expect(references).toHaveLength(30);
    expect(match.matched).toBeGreaterThanOrEqual(26);
    expect(match.unmatchedDetections.length).toBeLessThanOrEqual(2);
  });

  it('finds fewer faces in one whole-image pass', async () => {
    // The tiled level is what reaches the 30-40 px faces, which the whole-image pass shows at 8-10 px.
    const onePass = await UltraFaceDetector.load(modelDir, registry, { maxExtraLevels: 0 });
    const image = await decodeFile(path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png'));
    const references = await readVispDetections(path.join(photosDir, 'solvay-1927', 'ground_truth_detection.txt'));
    const faces = await onePass.detect(image);
    const matched = matchBoxes(
      references,
      faces.map((face) => face.box),
      0.3,
    ).matched;
    console.log(`Solvay, whole-image pass only: matched ${matched}/30`);
    expect(matched).toBeLessThan(26);
  });
});

describe('UltraFace coordinates and batches', () => {
  it('reports boxes in the pixels of the EXIF-rotated image', async () => {
    const upright = await decodeFile(path.join(photosDir, 'astronaut.png'));
    // Store the portrait turned 90 degrees counter-clockwise with orientation 6, so decoding turns it upright.
    const stored = await sharp(upright.data, { raw: { width: 512, height: 512, channels: 3 } }).rotate(-90).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    const rotated = await decodeImage(stored, { maxPixels: 10_000_000 });
    expect(rotated.orientationApplied).toBe(true);

    const [expected] = await detector.detect(upright);
    const [actual] = await detector.detect(rotated);
    expect(actual).toBeDefined();
    for (const key of ['x', 'y', 'width', 'height'] as const) expect(Math.abs(actual!.box[key] - expected!.box[key]), key).toBeLessThan(4);
  });

  it('detectBatch returns the results of detect in input order', async () => {
    const images = await Promise.all([path.join(photosDir, 'astronaut.png'), path.join(dlibDir, '2008_002506.jpg'), path.join(dlibDir, 'dogs.jpg')].map(decodeFile));
    const batch = await detector.detectBatch(images);
    expect(batch.map((faces) => faces.length)).toEqual([1, 3, 0]);
    expect(batch[1]).toEqual(await detector.detect(images[1]!));
  });

  it('runs windows in one batch when the graph has a dynamic batch axis', async () => {
    if (!existsSync(systemPython)) {
      if (requireAll) throw new Error(`${systemPython} not found; it needs the onnx package to write a dynamic-batch copy of the graph`);
      console.log(`skipped: ${systemPython} not found`);
      return;
    }
    // The shipped graph declares batch 1, but its Reshape nodes read the batch size from the tensor, so
    // renaming the first axis of the input and outputs gives a graph that runs any batch size.
    const dir = await mkdtemp(path.join(tmpdir(), 'ultraface-dynamic-'));
    try {
      const graphFile = path.join(dir, 'dynamic.onnx');
      const script = [
        'import onnx, sys',
        'm = onnx.load(sys.argv[1])',
        'for v in list(m.graph.input) + list(m.graph.output): v.type.tensor_type.shape.dim[0].dim_param = "N"',
        'onnx.checker.check_model(m)',
        'onnx.save(m, sys.argv[2])',
      ].join('\n');
      await promisify(execFile)(systemPython, ['-c', script, path.join(modelDir, 'fr_detect.onnx'), graphFile]);
      const manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as Record<string, Record<string, unknown>>;
      manifest.input!.batch = 'dynamic';
      manifest.file = 'dynamic.onnx' as never;
      manifest.sha256 = createHash('sha256').update(await readFile(graphFile)).digest('hex') as never;
      await writeFile(path.join(dir, 'manifest.json'), JSON.stringify(manifest));

      const batched = await UltraFaceDetector.load(dir, registry, { maxBatchWindows: 5 });
      const image = await decodeFile(path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png'));
      const expected = await detector.detect(image);
      const actual = await batched.detect(image);
      expect(actual.length).toBe(expected.length);
      actual.forEach((face, i) => {
        expect(face.score).toBeCloseTo(expected[i]!.score, 4);
        expect(face.box.x).toBeCloseTo(expected[i]!.box.x, 2);
        expect(face.box.width).toBeCloseTo(expected[i]!.box.width, 2);
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('rejects invalid options, naming each one', async () => {
    await expect(UltraFaceDetector.load(modelDir, registry, { scoreThreshold: 2, maxWindows: 0 })).rejects.toThrow(
      /invalid UltraFace detector options: scoreThreshold must be in \[0, 1\], got 2; maxWindows must be a positive integer, got 0/,
    );
  });

  it('rejects an image whose data does not match its size', async () => {
    const image: DecodedImage = { width: 10, height: 10, data: new Uint8Array(10), format: 'png', orientationApplied: false };
    await expect(detector.detect(image)).rejects.toThrow(/image data has 10 bytes, expected 10x10x3 = 300/);
  });
});
