import { describe, expect, it } from 'vitest';
import { applyAffine, composeAffine, identityAffine, invertAffine, scaleAboutCenterAffine, type Affine, type Point } from './affine.ts';
import { umeyamaSimilarity } from './similarity.ts';

function similarity(scale: number, angle: number, tx: number, ty: number): Affine {
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  return [cos, -sin, tx, sin, cos, ty];
}

function expectAffineClose(actual: Affine, expected: Affine, tolerance: number): void {
  for (let k = 0; k < 6; k++) {
    expect(Math.abs(actual[k]! - expected[k]!), `element ${k}: ${actual[k]} vs ${expected[k]}`).toBeLessThanOrEqual(tolerance);
  }
}

const samplePoints: Point[] = [
  [30.2, 51.7],
  [73.5, 51.5],
  [56.0, 71.7],
  [41.5, 92.4],
  [70.7, 92.2],
];

describe('affine helpers', () => {
  it('composeAffine applies the inner transform first', () => {
    const first = similarity(2, 0.3, 5, -7);
    const second: Affine = [1, 0.5, 3, -0.25, 1.5, 2];
    const composed = composeAffine(second, first);
    for (const point of samplePoints) {
      const expected = applyAffine(second, applyAffine(first, point));
      const actual = applyAffine(composed, point);
      expect(actual[0]).toBeCloseTo(expected[0], 12);
      expect(actual[1]).toBeCloseTo(expected[1], 12);
    }
  });

  it('invertAffine round-trips points', () => {
    const matrix: Affine = [1.7, -0.4, 12, 0.3, 0.9, -40];
    const inverse = invertAffine(matrix);
    expectAffineClose(composeAffine(inverse, matrix), identityAffine, 1e-12);
    for (const point of samplePoints) {
      const back = applyAffine(inverse, applyAffine(matrix, point));
      expect(back[0]).toBeCloseTo(point[0], 10);
      expect(back[1]).toBeCloseTo(point[1], 10);
    }
  });

  it('invertAffine rejects a singular matrix', () => {
    expect(() => invertAffine([1, 2, 0, 2, 4, 0])).toThrow(RangeError);
    expect(() => invertAffine([0, 0, 1, 0, 0, 1])).toThrow(/singular/);
    expect(() => invertAffine([Number.NaN, 0, 0, 0, 1, 0])).toThrow(/not finite/);
  });

  it('scaleAboutCenterAffine keeps the center fixed', () => {
    const matrix = scaleAboutCenterAffine(0.8, 255.5);
    expect(applyAffine(matrix, [255.5, 255.5])).toEqual([255.5, 255.5]);
    const corner = applyAffine(matrix, [-0.5, -0.5]);
    expect(corner[0]).toBeCloseTo(255.5 - 0.8 * 256, 12);
  });
});

describe('umeyamaSimilarity', () => {
  it('recovers a known similarity exactly', () => {
    for (const truth of [similarity(1, 0, 0, 0), similarity(0.37, -0.8, 120.5, -33), similarity(3.2, 2.9, -500, 812.25)]) {
      const destination = samplePoints.map((point) => applyAffine(truth, point));
      expectAffineClose(umeyamaSimilarity(samplePoints, destination), truth, 1e-9);
    }
  });

  it('returns the least-squares optimum for noisy points', () => {
    const truth = similarity(1.4, 0.5, 20, 10);
    const noise: Point[] = [
      [0.8, -0.3],
      [-1.1, 0.6],
      [0.2, 0.9],
      [-0.4, -1.2],
      [0.5, 0.1],
    ];
    const destination = samplePoints.map((point, i): Point => {
      const [x, y] = applyAffine(truth, point);
      return [x + noise[i]![0], y + noise[i]![1]];
    });
    const estimate = umeyamaSimilarity(samplePoints, destination);
    const residual = (matrix: Affine): number =>
      samplePoints.reduce((sum, point, i) => {
        const [x, y] = applyAffine(matrix, point);
        return sum + (x - destination[i]![0]) ** 2 + (y - destination[i]![1]) ** 2;
      }, 0);

    // Any small change of the four similarity parameters (p, q, tx, ty) must increase the residual.
    const [p, , tx, q, , ty] = estimate;
    const best = residual(estimate);
    for (const [dp, dq, dtx, dty] of [
      [1e-4, 0, 0, 0],
      [-1e-4, 0, 0, 0],
      [0, 1e-4, 0, 0],
      [0, -1e-4, 0, 0],
      [0, 0, 1e-3, 0],
      [0, 0, -1e-3, 0],
      [0, 0, 0, 1e-3],
      [0, 0, 0, -1e-3],
    ] as const) {
      const moved: Affine = [p + dp, -(q + dq), tx + dtx, q + dq, p + dp, ty + dty];
      expect(residual(moved)).toBeGreaterThan(best);
    }
    expect(estimate[0]).toBeCloseTo(estimate[4], 12);
    expect(estimate[1]).toBeCloseTo(-estimate[3], 12);
  });

  it('never returns a reflection', () => {
    const mirrored = samplePoints.map(([x, y]): Point => [-x, y]);
    const estimate = umeyamaSimilarity(samplePoints, mirrored);
    expect(estimate[0] * estimate[4] - estimate[1] * estimate[3]).toBeGreaterThanOrEqual(0);
  });

  it('rejects mismatched, short, non-finite or coincident point lists', () => {
    expect(() => umeyamaSimilarity(samplePoints, samplePoints.slice(1))).toThrow(/as many destination points/);
    expect(() => umeyamaSimilarity([[1, 2]], [[3, 4]])).toThrow(/at least 2/);
    expect(() => umeyamaSimilarity([[1, 2], [Number.NaN, 1]], [[0, 0], [1, 1]])).toThrow(/source point 1 is not finite/);
    expect(() => umeyamaSimilarity([[1, 2], [1, 2]], [[0, 0], [1, 1]])).toThrow(/all coincide/);
  });
});
