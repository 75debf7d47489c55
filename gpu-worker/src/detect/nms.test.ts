import { describe, expect, it } from 'vitest';
import { intersectionArea, intersectionOverUnion, nonMaxSuppression } from './nms.ts';

describe('intersectionOverUnion', () => {
  it('computes overlap of partly overlapping boxes', () => {
    const a = { x: 0, y: 0, width: 10, height: 10 };
    const b = { x: 5, y: 0, width: 10, height: 10 };
    expect(intersectionArea(a, b)).toBe(50);
    expect(intersectionOverUnion(a, b)).toBeCloseTo(50 / 150, 12);
  });

  it('returns 1 for equal boxes and 0 for disjoint or empty ones', () => {
    const a = { x: 3, y: 4, width: 5, height: 6 };
    expect(intersectionOverUnion(a, { ...a })).toBe(1);
    expect(intersectionOverUnion(a, { x: 8, y: 4, width: 5, height: 6 })).toBe(0);
    expect(intersectionOverUnion({ x: 0, y: 0, width: 0, height: 0 }, { x: 0, y: 0, width: 0, height: 0 })).toBe(0);
  });
});

describe('nonMaxSuppression', () => {
  const box = (x: number) => ({ x, y: 0, width: 10, height: 10 });

  it('keeps the best of overlapping boxes and all separate ones', () => {
    const items = [
      { box: box(0), score: 0.8, id: 'a' },
      { box: box(1), score: 0.9, id: 'b' },
      { box: box(30), score: 0.7, id: 'c' },
      { box: box(8), score: 0.75, id: 'd' },
    ];
    const kept = nonMaxSuppression(items, 0.3);
    expect(kept.map((item) => item.id)).toEqual(['b', 'd', 'c']);
  });

  it('keeps a box whose IoU equals the threshold', () => {
    // IoU of box(0) and box(5) is 50 / 150 = 1/3.
    expect(nonMaxSuppression([{ box: box(0), score: 1 }, { box: box(5), score: 0.5 }], 1 / 3)).toHaveLength(2);
    expect(nonMaxSuppression([{ box: box(0), score: 1 }, { box: box(5), score: 0.5 }], 0.3)).toHaveLength(1);
  });

  it('rejects a threshold outside [0, 1]', () => {
    expect(() => nonMaxSuppression([], 1.5)).toThrow(/iouThreshold must be in \[0, 1\], got 1.5/);
    expect(() => nonMaxSuppression([], Number.NaN)).toThrow(RangeError);
  });
});
