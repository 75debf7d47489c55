import { describe, expect, it } from 'vitest';
import { applyAffine, type Affine } from './affine.ts';
import { imagePointToCrop, type CropSpec } from './crops.ts';
import { defaultParsingReach, parsingToImage, upsampleLogitsBilinear } from './parsing-to-image.ts';
import { tanhWarpReach } from './tanh-warp.ts';

const mapSize = 32;
const cropSize = 128;
const discRadius = 32; // crop pixels, about the crop center

/**
 * Three-class map logits (3, 32, 32): class 1 inside a disc of radius 8 map pixels (32 crop pixels) about
 * the map center, class 2 elsewhere, class 0 (background) never wins inside the crop.
 */
function discLogits(): Float32Array {
  const data = new Float32Array(3 * mapSize * mapSize);
  const center = (mapSize - 1) / 2;
  for (let y = 0; y < mapSize; y++) {
    for (let x = 0; x < mapSize; x++) {
      const d2 = (x - center) ** 2 + (y - center) ** 2;
      data[y * mapSize + x] = -1;
      data[mapSize * mapSize + y * mapSize + x] = (64 - d2) / 10;
      data[2 * mapSize * mapSize + y * mapSize + x] = 0;
    }
  }
  return data;
}

function similarityCrop(scale: number, angle: number, imageCenter: [number, number], size: number, factor: number): CropSpec {
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  const center = (size - 1) / 2;
  const [cx, cy] = imageCenter;
  const matrix: Affine = [cos, -sin, center - (cos * cx - sin * cy), sin, cos, center - (sin * cx + cos * cy)];
  return { size, matrix, tanhWarpFactor: factor };
}

/** Expected label for a crop point, or null where bilinear blending near a class boundary may go either way. */
function expectedLabel(cropX: number, cropY: number): number | null {
  const margin = 1.5;
  if (cropX < -0.5 - margin || cropY < -0.5 - margin || cropX > cropSize - 0.5 + margin || cropY > cropSize - 0.5 + margin) return 0;
  if (cropX < -0.5 + margin || cropY < -0.5 + margin || cropX > cropSize - 0.5 - margin || cropY > cropSize - 0.5 - margin) return null;
  const center = (cropSize - 1) / 2;
  const distance = Math.hypot(cropX - center, cropY - center);
  if (distance < discRadius - 5) return 1;
  if (distance > discRadius + 5) return 2;
  return null;
}

describe('upsampleLogitsBilinear', () => {
  it('matches align_corners=False bilinear with edge clamping', () => {
    // Channel 0 varies along x ([0, 1]), channel 1 along y ([0, 2]).
    const data = Float32Array.from([0, 1, 0, 1, 0, 0, 2, 2]);
    const out = upsampleLogitsBilinear({ data, dims: [2, 2, 2] }, 4, 4);
    const at = (x: number, y: number, c: number): number => out[(y * 4 + x) * 2 + c]!;
    expect([0, 1, 2, 3].map((x) => at(x, 1, 0))).toEqual([0, 0.25, 0.75, 1]);
    expect([0, 1, 2, 3].map((y) => at(2, y, 1))).toEqual([0, 0.5, 1.5, 2]);
  });

  it('rejects logits whose data does not match the dims', () => {
    expect(() => upsampleLogitsBilinear({ data: new Float32Array(7), dims: [2, 2, 2] }, 4, 4)).toThrow(/contain 7 values but dims \[2, 2, 2\] need 8/);
    expect(() => upsampleLogitsBilinear({ data: new Float32Array(8), dims: [8] }, 4, 4)).toThrow(/dims \(C, H, W\)/);
  });
});

describe('parsingToImage', () => {
  it('returns the argmax of the upsampled map under an identity crop', () => {
    const logits = { data: discLogits(), dims: [3, mapSize, mapSize] };
    const crop: CropSpec = { size: cropSize, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    const result = parsingToImage(logits, crop, cropSize, cropSize);
    const upsampled = upsampleLogitsBilinear(logits, cropSize, cropSize);
    expect(result.footprint).toEqual({ x: 0, y: 0, width: cropSize, height: cropSize });
    const expected = new Uint8Array(cropSize * cropSize);
    for (let p = 0; p < cropSize * cropSize; p++) {
      const values = [upsampled[p * 3]!, upsampled[p * 3 + 1]!, upsampled[p * 3 + 2]!];
      expected[p] = values.indexOf(Math.max(...values));
    }
    expect(result.labels).toEqual(expected);
    expect(new Set(expected)).toEqual(new Set([1, 2]));
  });

  it('recovers a known region through a rotated crop', () => {
    const [width, height] = [200, 150];
    const crop = similarityCrop(1.25, 0.35, [90, 70], cropSize, 0);
    const result = parsingToImage({ data: discLogits(), dims: [3, mapSize, mapSize] }, crop, width, height);

    const counts = [0, 0, 0];
    const mismatches: string[] = [];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const [cx, cy] = applyAffine(crop.matrix, [x, y]);
        const expected = expectedLabel(cx, cy);
        if (expected === null) continue;
        const label = result.labels[y * width + x];
        if (label !== expected) mismatches.push(`pixel (${x}, ${y}) at crop (${cx.toFixed(2)}, ${cy.toFixed(2)}) has label ${label}, expected ${expected}`);
        counts[expected]!++;
      }
    }
    expect(mismatches).toEqual([]);
    expect(counts.every((count) => count > 500)).toBe(true);
  });

  it('reports the footprint as the bounding box of the covered pixels', () => {
    const [width, height] = [200, 150];
    const crop = similarityCrop(1.25, 0.35, [170, 40], cropSize, 0);
    const result = parsingToImage({ data: discLogits(), dims: [3, mapSize, mapSize] }, crop, width, height);

    let [left, top, right, bottom] = [Infinity, Infinity, -Infinity, -Infinity];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const [cx, cy] = applyAffine(crop.matrix, [x, y]);
        if (cx < -0.5 || cy < -0.5 || cx > cropSize - 0.5 || cy > cropSize - 0.5) continue;
        [left, top, right, bottom] = [Math.min(left, x), Math.min(top, y), Math.max(right, x), Math.max(bottom, y)];
      }
    }
    expect(result.footprint).toEqual({ x: left, y: top, width: right - left + 1, height: bottom - top + 1 });

    const { footprint, labels } = result;
    const labeledOutside: string[] = [];
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const inside = x >= footprint.x && x < footprint.x + footprint.width && y >= footprint.y && y < footprint.y + footprint.height;
        if (!inside && labels[y * width + x] !== 0) labeledOutside.push(`(${x}, ${y})`);
      }
    }
    expect(labeledOutside).toEqual([]);
  });

  it.each([
    ['the full reach', Number.POSITIVE_INFINITY],
    ['the default reach', defaultParsingReach],
  ])('follows the tanh warp up to %s', (_, maxReach) => {
    const [width, height] = [400, 300];
    const crop = similarityCrop(2, -0.2, [150, 140], cropSize, 0.8);
    const result = parsingToImage({ data: discLogits(), dims: [3, mapSize, mapSize] }, crop, width, height, maxReach);

    const reach = Math.min(tanhWarpReach(0.8), maxReach);
    const [low, high] = [((1 - reach) / 2) * cropSize, ((1 + reach) / 2) * cropSize];
    const counts = [0, 0, 0];
    const mismatches: string[] = [];
    for (let y = 0; y < height; y += 2) {
      for (let x = 0; x < width; x += 2) {
        const [ax, ay] = applyAffine(crop.matrix, [x, y]);
        const label = result.labels[y * width + x];
        if (ax < low - 1 || ax > high + 1 || ay < low - 1 || ay > high + 1) {
          if (label !== 0) mismatches.push(`pixel (${x}, ${y}) beyond the reach has label ${label}`);
          counts[0]!++;
          continue;
        }
        if (ax < low + 1 || ax > high - 1 || ay < low + 1 || ay > high - 1) continue;
        const [cx, cy] = imagePointToCrop(crop, [x, y]);
        const expected = expectedLabel(cx, cy);
        if (expected === null || expected === 0) continue;
        if (label !== expected) mismatches.push(`pixel (${x}, ${y}) at crop (${cx.toFixed(2)}, ${cy.toFixed(2)}) has label ${label}, expected ${expected}`);
        counts[expected]!++;
      }
    }
    expect(mismatches).toEqual([]);
    expect(counts.every((count) => count > 100)).toBe(true);
  });

  it('returns an empty footprint for a crop outside the image', () => {
    const crop = similarityCrop(1, 0, [-500, -500], cropSize, 0);
    const result = parsingToImage({ data: discLogits(), dims: [3, mapSize, mapSize] }, crop, 50, 40);
    expect(result.footprint).toEqual({ x: 0, y: 0, width: 0, height: 0 });
    expect(result.labels.every((label) => label === 0)).toBe(true);
  });

  it('rejects more than 256 classes and bad image sizes', () => {
    const crop: CropSpec = { size: 8, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    expect(() => parsingToImage({ data: new Float32Array(257 * 4), dims: [257, 2, 2] }, crop, 8, 8)).toThrow(/at most 256 classes/);
    expect(() => parsingToImage({ data: new Float32Array(12), dims: [3, 2, 2] }, crop, 0, 8)).toThrow(/positive integers, got 0x8/);
  });
});
