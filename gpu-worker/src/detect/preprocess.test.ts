import { describe, expect, it } from 'vitest';
import { resizeRgb, writeWindowTensor, type RgbPixels } from './preprocess.ts';

/** Creates a 3x2 image whose pixel (x, y) has R = 10x + y, G = 100, B = 200. */
function tinyImage(): RgbPixels {
  const data = new Uint8Array(3 * 2 * 3);
  for (let y = 0; y < 2; y++) for (let x = 0; x < 3; x++) data.set([10 * x + y, 100, 200], (y * 3 + x) * 3);
  return { width: 3, height: 2, data };
}

const ultraface = { channelOrder: 'RGB' as const, mean: [127, 127, 127] as const, std: [128, 128, 128] as const };

describe('writeWindowTensor', () => {
  it('normalizes into CHW planes', () => {
    const target = new Float32Array(3 * 2 * 3);
    writeWindowTensor(tinyImage(), 0, 0, 3, 2, ultraface, target);
    // R plane, row 1, column 2: R = 21.
    expect(target[0 * 6 + 1 * 3 + 2]).toBeCloseTo((21 - 127) / 128, 6);
    expect(target[1 * 6 + 0]).toBeCloseTo((100 - 127) / 128, 6);
    expect(target[2 * 6 + 5]).toBeCloseTo((200 - 127) / 128, 6);
  });

  it('pads outside the image with the normalized mean (0)', () => {
    const target = new Float32Array(3 * 4 * 4).fill(9);
    writeWindowTensor(tinyImage(), -1, 1, 4, 4, ultraface, target);
    // Window (1, 0) is image (0, 1): R = 1. Window (0, 0) lies left of the image; row 1 lies below it.
    expect(target[0 * 16 + 0 * 4 + 1]).toBeCloseTo((1 - 127) / 128, 6);
    expect(target[0 * 16 + 0]).toBe(0);
    expect(target[0 * 16 + 1 * 4 + 1]).toBe(0);
    expect(target[2 * 16 + 3 * 4 + 3]).toBe(0);
  });

  it('swaps channels for BGR and writes at an offset', () => {
    const target = new Float32Array(5 + 3 * 6);
    writeWindowTensor(tinyImage(), 0, 0, 3, 2, { channelOrder: 'BGR', mean: [0, 0, 0], std: [1, 1, 1] }, target, 5);
    expect(target[5]).toBe(200);
    expect(target[5 + 12 + 4]).toBe(11);
  });

  it('rejects a target that is too small', () => {
    expect(() => writeWindowTensor(tinyImage(), 0, 0, 3, 2, ultraface, new Float32Array(10))).toThrow(/needs 18/);
  });
});

describe('resizeRgb', () => {
  it('returns the same pixels for the same size and resizes otherwise', async () => {
    const image = tinyImage();
    expect(await resizeRgb(image, 3, 2)).toBe(image);
    const larger = await resizeRgb(image, 6, 4);
    expect([larger.width, larger.height, larger.data.length]).toEqual([6, 4, 6 * 4 * 3]);
    expect(larger.data[1]).toBe(100);
  });
});
