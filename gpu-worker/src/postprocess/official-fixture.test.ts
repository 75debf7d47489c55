/**
 * Parity of the post-processors with the official Faceptor decoders: the fixture contains raw head outputs
 * and what the official code decoded from them (for a batch of 2 crops), so each decoder here must
 * reproduce the decoded arrays within the fixture's stated tolerances.
 */
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readNpy, type NpyArray } from '../../../test/support/npy.ts';
import { officialFixtureDir, officialFixtureSkipReason } from '../../../test/support/requirements.ts';
import type { CropSpec } from '../geometry/crops.ts';
import { parsingToImage, upsampleLogitsBilinear } from '../geometry/parsing-to-image.ts';
import { flipTtaEmbedding, l2Normalize } from './identity.ts';
import { decodeLandmarks, normalizedToCropPixels, softArgmaxHeatmaps } from './landmarks.ts';
import { decodeAge, decodeAttributes, decodeExpression } from './values.ts';

const fixture = officialFixtureDir();
const batch = 2;

function load(name: string): NpyArray {
  return readNpy(path.join(fixture as string, `${name}.npy`));
}

/** Row `index` of an array whose first axis is the batch. */
function row(array: NpyArray, index: number): Float32Array {
  const size = array.data.length / (array.shape[0] ?? 1);
  return Float32Array.from(array.data.subarray(index * size, (index + 1) * size));
}

/** max|actual - reference|, and the tolerance 2e-5 * max|reference| that the fixture sets for float arrays. */
function compare(actual: ArrayLike<number>, reference: ArrayLike<number>): { error: number; tolerance: number } {
  expect(actual.length).toBe(reference.length);
  let error = 0;
  let scale = 0;
  for (let i = 0; i < reference.length; i++) {
    error = Math.max(error, Math.abs(actual[i]! - reference[i]!));
    scale = Math.max(scale, Math.abs(reference[i]!));
  }
  return { error, tolerance: 2e-5 * scale };
}

/** Placeholder class names: the fixture contains no label list, and only the order matters here. */
const classNames = (count: number): string[] => Array.from({ length: count }, (_, k) => `class_${k}`);

const identityCrop512: CropSpec = { size: 512, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };

describe.skipIf(fixture === null)(`official fixture decoders${fixture === null ? ` (skipped: ${officialFixtureSkipReason})` : ''}`, () => {
  it('decodeAge matches age_morph2 probabilities and ages', () => {
    const logits = load('age_morph2__logits');
    const probabilities: number[] = [];
    const years: number[] = [];
    for (let b = 0; b < batch; b++) {
      const age = decodeAge(row(logits, b), 0);
      probabilities.push(...age.probabilities);
      years.push(age.years);
    }
    const probabilityCheck = compare(probabilities, load('age_morph2__prob').data);
    expect(probabilityCheck.error).toBeLessThanOrEqual(probabilityCheck.tolerance);
    const ageCheck = compare(years, load('age_morph2__age').data);
    expect(ageCheck.error).toBeLessThanOrEqual(ageCheck.tolerance);
  });

  for (const task of ['affect_affectnet', 'affect_rafdb']) {
    it(`decodeExpression matches ${task}`, () => {
      const logits = load(`${task}__logits`);
      const labels = classNames(logits.shape[1]!);
      const probabilities: number[] = [];
      const argmax: number[] = [];
      for (let b = 0; b < batch; b++) {
        const expression = decodeExpression(row(logits, b), labels);
        probabilities.push(...labels.map((label) => expression.probabilities[label]!));
        argmax.push(labels.indexOf(expression.label));
      }
      const check = compare(probabilities, load(`${task}__prob`).data);
      expect(check.error).toBeLessThanOrEqual(check.tolerance);
      expect(argmax).toEqual(Array.from(load(`${task}__argmax`).data));
    });
  }

  it('decodeAttributes matches biattr_celeba probabilities and predictions', () => {
    const logits = load('biattr_celeba__logits');
    const labels = classNames(logits.shape[1]!);
    const probabilities: number[] = [];
    for (let b = 0; b < batch; b++) {
      const attributes = decodeAttributes(row(logits, b), labels);
      probabilities.push(...labels.map((label) => attributes[label]!));
    }
    const check = compare(probabilities, load('biattr_celeba__prob').data);
    expect(check.error).toBeLessThanOrEqual(check.tolerance);
    expect(probabilities.map((p) => (p > 0.5 ? 1 : 0))).toEqual(Array.from(load('biattr_celeba__pred').data));
  });

  it('softArgmaxHeatmaps matches align_300w landmarks', () => {
    const heatmaps = load('align_300w__heatmap_logits');
    const [, points, height, width] = heatmaps.shape as [number, number, number, number];
    const normalized: number[] = [];
    const pixels: number[] = [];
    const decoded: number[] = [];
    for (let b = 0; b < batch; b++) {
      const tensor = { data: row(heatmaps, b), dims: [points, height, width] };
      const face = softArgmaxHeatmaps(tensor);
      normalized.push(...face);
      pixels.push(...normalizedToCropPixels(face, 512));
      decoded.push(...decodeLandmarks(tensor, identityCrop512).flat());
    }
    expect(compare(normalized, load('align_300w__landmark_norm').data).error).toBeLessThanOrEqual(2e-6);
    expect(compare(pixels, load('align_300w__landmark_px512').data).error).toBeLessThanOrEqual(1e-3);
    expect(compare(decoded, load('align_300w__landmark_px512').data).error).toBeLessThanOrEqual(1e-3);
  });

  it('upsampleLogitsBilinear matches the parsing head upsample', () => {
    const logits = load('parsing_celebam__logits_128');
    const reference = load('parsing_celebam__logits_512_nhwc');
    const [, classes, height, width] = logits.shape as [number, number, number, number];
    for (let b = 0; b < batch; b++) {
      const upsampled = upsampleLogitsBilinear({ data: row(logits, b), dims: [classes, height, width] }, 512, 512);
      // The reference is stored in float16, hence an absolute tolerance.
      expect(compare(upsampled, row(reference, b)).error, `batch item ${b}`).toBeLessThanOrEqual(1e-4);
    }
  });

  it('parsingToImage matches parsing_celebam labels under an identity crop', () => {
    const logits = load('parsing_celebam__logits_128');
    const reference = load('parsing_celebam__label_512');
    const [, classes, height, width] = logits.shape as [number, number, number, number];
    let differing = 0;
    for (let b = 0; b < batch; b++) {
      const result = parsingToImage({ data: row(logits, b), dims: [classes, height, width] }, identityCrop512, 512, 512);
      const expected = row(reference, b);
      for (let p = 0; p < expected.length; p++) if (result.labels[p] !== expected[p]) differing++;
    }
    // The fixture allows 0.01% of the label file's pixels to differ (near-ties).
    expect(differing).toBeLessThanOrEqual(Math.floor(reference.data.length * 1e-4));
  });

  it('l2Normalize and flipTtaEmbedding match recog_ms1mv3 embeddings', () => {
    const raw = load('recog_ms1mv3__embedding_raw');
    const flipped = load('recog_ms1mv3__embedding_raw_hflip_input');
    const normalized: number[] = [];
    const tta: number[] = [];
    for (let b = 0; b < batch; b++) {
      normalized.push(...l2Normalize(row(raw, b)));
      tta.push(...flipTtaEmbedding(row(raw, b), row(flipped, b)));
    }
    const normalizedCheck = compare(normalized, load('recog_ms1mv3__embedding_l2norm').data);
    expect(normalizedCheck.error).toBeLessThanOrEqual(normalizedCheck.tolerance);
    const ttaCheck = compare(tta, load('recog_ms1mv3__embedding_fliptta_l2norm').data);
    expect(ttaCheck.error).toBeLessThanOrEqual(ttaCheck.tolerance);
  });
});
