import { describe, expect, it } from 'vitest';
import { planPyramid, windowStarts, type TilingPolicy } from './tiling.ts';

const policy: TilingPolicy = {
  inputWidth: 320,
  inputHeight: 240,
  reliableFacePx: 20,
  targetFaceSize: 32,
  overlapPx: 64,
  maxExtraLevels: 3,
  maxWindows: 64,
};

function windowCounts(width: number, height: number, overrides: Partial<TilingPolicy> = {}): number[] {
  return planPyramid(width, height, { ...policy, ...overrides }).map((level) => level.windows.length);
}

describe('planPyramid', () => {
  it('keeps portraits and small photos to one pass', () => {
    expect(windowCounts(512, 512)).toEqual([1]);
    expect(windowCounts(500, 375)).toEqual([1]);
    expect(windowCounts(360, 480)).toEqual([1]);
    expect(windowCounts(320, 240)).toEqual([1]);
    expect(windowCounts(40, 30)).toEqual([1]);
  });

  it('adds tiled levels for group photos', () => {
    // Solvay 1927: whole-image scale 0.25, planned scale 20/32 = 0.625, nearest level 0.5.
    const solvay = planPyramid(1280, 926, policy);
    expect(solvay.map((level) => [level.width, level.height])).toEqual([
      [320, 232],
      [640, 463],
    ]);
    expect(solvay.map((level) => level.windows.length)).toEqual([1, 9]);
    expect(windowCounts(1986, 1545)).toEqual([1, 9, 30]);
  });

  it('fits level 0 inside one window with the aspect ratio kept', () => {
    const [tall] = planPyramid(400, 1600, policy);
    expect(tall).toMatchObject({ width: 60, height: 240, windows: [{ x: 0, y: 0 }] });
  });

  it('covers every level with overlapping windows', () => {
    for (const level of planPyramid(1986, 1545, policy)) {
      const xs = [...new Set(level.windows.map((w) => w.x))];
      const ys = [...new Set(level.windows.map((w) => w.y))];
      for (const [starts, length, size] of [
        [xs, level.width, 320],
        [ys, level.height, 240],
      ] as const) {
        expect(starts[0]).toBe(0);
        expect(starts.at(-1)! + size).toBeGreaterThanOrEqual(length);
        for (let i = 1; i < starts.length; i++) expect(starts[i - 1]! + size - starts[i]!).toBeGreaterThanOrEqual(64);
      }
    }
  });

  it('drops fine levels to stay within maxWindows', () => {
    expect(windowCounts(1986, 1545, { maxWindows: 20 })).toEqual([1, 9]);
    expect(windowCounts(1986, 1545, { maxWindows: 1 })).toEqual([1]);
    expect(windowCounts(1986, 1545, { maxExtraLevels: 1 })).toEqual([1, 9]);
  });

  it('goes deeper for a smaller target face size', () => {
    expect(windowCounts(512, 512, { targetFaceSize: 16 })).toEqual([1, 6]);
  });

  it('rejects invalid sizes and policies', () => {
    expect(() => planPyramid(0, 10, policy)).toThrow(/imageWidth must be a positive integer, got 0/);
    expect(() => planPyramid(10, 10, { ...policy, overlapPx: 240 })).toThrow(/overlapPx must be an integer in \[0, 239\]/);
    expect(() => planPyramid(10, 10, { ...policy, targetFaceSize: 0 })).toThrow(/targetFaceSize must be a positive number, got 0/);
    expect(() => planPyramid(10, 10, { ...policy, maxExtraLevels: -1 })).toThrow(RangeError);
  });
});

describe('windowStarts', () => {
  it('spreads windows evenly from edge to edge', () => {
    expect(windowStarts(300, 320, 64)).toEqual([0]);
    expect(windowStarts(640, 320, 64)).toEqual([0, 160, 320]);
    expect(windowStarts(576, 320, 64)).toEqual([0, 256]);
  });
});
