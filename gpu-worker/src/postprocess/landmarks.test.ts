import { describe, expect, it } from 'vitest';
import type { Point } from '../geometry/affine.ts';
import { boxCrop, imagePointToCrop } from '../geometry/crops.ts';
import { decodeLandmarks, fivePointsFromLandmarks, normalizedToCropPixels, softArgmaxHeatmaps } from './landmarks.ts';

/** Heatmap logits (P, H, W) that are very negative except +40 at one pixel per landmark. */
function peakedHeatmaps(peaks: readonly Point[], height: number, width: number): Float32Array {
  const data = new Float32Array(peaks.length * height * width).fill(-60);
  peaks.forEach(([x, y], p) => {
    data[p * height * width + y * width + x] = 40;
  });
  return data;
}

describe('softArgmaxHeatmaps', () => {
  it('finds single peaks with the half-pixel convention', () => {
    const peaks: Point[] = [
      [0, 0],
      [5, 2],
      [7, 7],
    ];
    const normalized = softArgmaxHeatmaps({ data: peakedHeatmaps(peaks, 8, 8), dims: [3, 8, 8] });
    expect(Array.from(normalized)).toEqual([0.5 / 8, 0.5 / 8, 5.5 / 8, 2.5 / 8, 7.5 / 8, 7.5 / 8].map((value) => expect.closeTo(value, 12)));
  });

  it('averages over the whole map, with no window', () => {
    // Two equal peaks: the soft-argmax lands between them.
    const data = new Float32Array(16 * 16).fill(-60);
    data[3 * 16 + 2] = 40;
    data[11 * 16 + 12] = 40;
    const [u, v] = softArgmaxHeatmaps({ data, dims: [1, 16, 16] });
    expect(u! * 16 - 0.5).toBeCloseTo(7, 9);
    expect(v! * 16 - 0.5).toBeCloseTo(7, 9);
  });

  it('accepts a leading batch axis of 1', () => {
    const data = peakedHeatmaps([[3, 1]], 4, 6);
    expect(Array.from(softArgmaxHeatmaps({ data, dims: [1, 1, 4, 6] }))).toEqual(Array.from(softArgmaxHeatmaps({ data, dims: [1, 4, 6] })));
  });

  it('rejects other dims', () => {
    expect(() => softArgmaxHeatmaps({ data: new Float32Array(8), dims: [2, 2, 2, 1] })).toThrow(/dims \(P, H, W\) or \(1, P, H, W\)/);
    expect(() => softArgmaxHeatmaps({ data: new Float32Array(7), dims: [2, 2, 2] })).toThrow(/contain 7 values/);
  });
});

describe('decodeLandmarks', () => {
  it('maps heatmap peaks back to image pixels', () => {
    const crop = boxCrop({ x: 300, y: 200, width: 180, height: 200 }, 512, 0.8);
    const imagePoints: Point[] = [
      [350, 260],
      [420.3, 300.7],
    ];
    // Place each peak at the heatmap pixel nearest to the point's crop position (128 map pixels for 512 crop pixels).
    const peaks = imagePoints.map((point): Point => {
      const [cx, cy] = imagePointToCrop(crop, point);
      return [Math.round((cx + 0.5) / 4 - 0.5), Math.round((cy + 0.5) / 4 - 0.5)];
    });
    const decoded = decodeLandmarks({ data: peakedHeatmaps(peaks, 128, 128), dims: [2, 128, 128] }, crop);

    decoded.forEach((point, i) => {
      const [hx, hy] = peaks[i]!;
      const expected = imagePointToCrop(crop, point);
      expect(expected[0]).toBeCloseTo((hx + 0.5) * 4 - 0.5, 6);
      expect(expected[1]).toBeCloseTo((hy + 0.5) * 4 - 0.5, 6);
      // The heatmap grid rounds a point by at most half a map pixel: 2 crop pixels, here under 2 image pixels.
      expect(Math.hypot(point[0] - imagePoints[i]![0], point[1] - imagePoints[i]![1])).toBeLessThan(2);
    });
  });

  it('normalizedToCropPixels applies u*size - 0.5', () => {
    expect(Array.from(normalizedToCropPixels(Float64Array.from([0, 0.5, 1]), 512))).toEqual([-0.5, 255.5, 511.5]);
  });
});

describe('fivePointsFromLandmarks', () => {
  it('averages each index group', () => {
    const points: Point[] = [
      [0, 0],
      [2, 0],
      [10, 10],
      [12, 14],
      [5, 5],
      [1, 9],
      [9, 9],
    ];
    const five = fivePointsFromLandmarks(points, [[0, 1], [2, 3], [4], [5], [6]]);
    expect(five).toEqual([
      [1, 0],
      [11, 12],
      [5, 5],
      [1, 9],
      [9, 9],
    ]);
  });

  it('rejects wrong group counts and out-of-range indices', () => {
    const points: Point[] = [[0, 0]];
    expect(() => fivePointsFromLandmarks(points, [[0]])).toThrow(/needs 5 index groups, got 1/);
    expect(() => fivePointsFromLandmarks(points, [[0], [0], [0], [0], [68]])).toThrow(/group 4 names landmark 68, but there are 1 landmarks/);
    expect(() => fivePointsFromLandmarks(points, [[0], [], [0], [0], [0]])).toThrow(/group 1 is empty/);
  });
});
