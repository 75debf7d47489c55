import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import type { CropSpec } from '../geometry/crops.ts';
import type { ImageLabelMap } from '../geometry/parsing-to-image.ts';
import { encodeLabelMapPng } from './label-map-png.ts';
import { decodeParsing, parsingAreas } from './parsing.ts';

const labels = ['background', 'skin', 'hair'];

function labelMap(width: number, height: number, values: number[], footprint = { x: 0, y: 0, width, height }): ImageLabelMap {
  return { labels: Uint8Array.from(values), width, height, footprint };
}

describe('parsingAreas', () => {
  it('returns shares of the foreground pixels', () => {
    const map = labelMap(4, 2, [0, 1, 1, 2, 0, 1, 2, 2]);
    expect(parsingAreas(map, labels)).toEqual({ skin: 0.5, hair: 0.5 });
  });

  it('counts only pixels inside the footprint', () => {
    // The footprint is the right half; the 2 (hair) at column 0 lies outside it.
    const map = labelMap(4, 1, [2, 1, 1, 2], { x: 2, y: 0, width: 2, height: 1 });
    expect(parsingAreas(map, labels)).toEqual({ skin: 0.5, hair: 0.5 });
  });

  it('returns zeros when no pixel is foreground', () => {
    expect(parsingAreas(labelMap(2, 1, [0, 0]), labels)).toEqual({ skin: 0, hair: 0 });
  });

  it('rejects a label beyond the label list', () => {
    expect(() => parsingAreas(labelMap(2, 1, [0, 5]), labels)).toThrow(/label 5 at pixel \(1, 0\), but only 3 labels exist/);
  });
});

describe('decodeParsing', () => {
  it('returns the label map with its areas', () => {
    // Logits (3, 2, 2) that favour class 1 in the left column and class 2 in the right one.
    const data = Float32Array.from([0, 0, 0, 0, 5, 0, 5, 0, 0, 5, 0, 5]);
    const crop: CropSpec = { size: 4, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    const parsing = decodeParsing({ data, dims: [3, 2, 2] }, crop, 4, 4, labels);
    expect(Array.from(parsing.labels.subarray(0, 4))).toEqual([1, 1, 2, 2]);
    expect(parsing.areas).toEqual({ skin: 0.5, hair: 0.5 });
  });

  it('rejects a label list that does not match the logits', () => {
    const crop: CropSpec = { size: 4, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    expect(() => decodeParsing({ data: new Float32Array(8), dims: [2, 2, 2] }, crop, 4, 4, labels)).toThrow(
      /received 2 classes of logits but the manifest lists 3 labels/,
    );
  });
});

describe('encodeLabelMapPng', () => {
  it('round-trips class indices through a grayscale PNG', async () => {
    const values = Array.from({ length: 7 * 5 }, (_, i) => i % 19);
    const png = await encodeLabelMapPng(labelMap(7, 5, values));
    expect(png.subarray(1, 4).toString('latin1')).toBe('PNG');
    // IHDR: bit depth 8 at byte 24, colour type 0 (grayscale) at byte 25.
    expect(png[24]).toBe(8);
    expect(png[25]).toBe(0);
    expect((await sharp(png).metadata()).channels).toBe(1);

    const { data, info } = await sharp(png).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([7, 5]);
    expect(Array.from(data)).toEqual(values);
  });

  it('rejects labels that do not fill the map', async () => {
    await expect(encodeLabelMapPng(labelMap(3, 3, [0, 1]))).rejects.toThrow(/received 2 labels for a 3x3 map, which needs 9/);
  });
});
