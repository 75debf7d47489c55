import { describe, expect, it } from 'vitest';
import type { Affine, FivePoints } from './affine.ts';
import { boxCrop, cropPointToImage, lapaTanhCrop, type CropSpec } from './crops.ts';
import { sampleCrop, type RgbImage, type RgbTriple } from './sample-crop.ts';

// R = 2x + y and G = 3y are linear, so bilinear sampling reproduces them exactly inside the image.
const width = 80;
const height = 60;
const red = (x: number, y: number): number => 2 * x + y;
const green = (_x: number, y: number): number => 3 * y;
const blue = 100;

function gradientImage(): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = red(x, y);
      data[p + 1] = green(x, y);
      data[p + 2] = blue;
    }
  }
  return { width, height, data };
}

const mean: RgbTriple = [0.48145466, 0.4578275, 0.40821073];
const std: RgbTriple = [0.26862954, 0.26130258, 0.27577711];
const normalize = (value: number, channel: number): number => (value / 255 - mean[channel]!) / std[channel]!;

function readPixel(out: Float32Array, size: number, x: number, y: number, offset = 0): [number, number, number] {
  const plane = size * size;
  const p = offset + y * size + x;
  return [out[p]!, out[p + plane]!, out[p + 2 * plane]!];
}

function rotatedCrop(size: number): CropSpec {
  // Image -> crop: rotate by 0.4 rad about the image center and scale by 1.5.
  const angle = 0.4;
  const scale = 1.5;
  const cos = scale * Math.cos(angle);
  const sin = scale * Math.sin(angle);
  const [cx, cy] = [(width - 1) / 2, (height - 1) / 2];
  const center = (size - 1) / 2;
  const matrix: Affine = [cos, -sin, center - (cos * cx - sin * cy), sin, cos, center - (sin * cx + cos * cy)];
  return { size, matrix, tanhWarpFactor: 0 };
}

describe('sampleCrop', () => {
  it('reproduces the image under an identity crop', () => {
    const image = gradientImage();
    const crop: CropSpec = { size: 60, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    const out = new Float32Array(3 * 60 * 60);
    sampleCrop(image, crop, mean, std, out, 0);
    for (const [x, y] of [[0, 0], [59, 59], [31, 7], [12, 44]] as const) {
      const [r, g, b] = readPixel(out, 60, x, y);
      expect(r).toBeCloseTo(normalize(red(x, y), 0), 5);
      expect(g).toBeCloseTo(normalize(green(x, y), 1), 5);
      expect(b).toBeCloseTo(normalize(blue, 2), 5);
    }
  });

  it('samples a rotated crop at the analytic source points', () => {
    const image = gradientImage();
    const crop = rotatedCrop(64);
    const out = new Float32Array(3 * 64 * 64);
    sampleCrop(image, crop, mean, std, out, 0);

    let checked = 0;
    for (let y = 0; y < 64; y += 3) {
      for (let x = 0; x < 64; x += 3) {
        const [sx, sy] = cropPointToImage(crop, [x, y]);
        if (sx < 0 || sy < 0 || sx > width - 1 || sy > height - 1) continue;
        const [r, g, b] = readPixel(out, 64, x, y);
        expect(r).toBeCloseTo(normalize(red(sx, sy), 0), 4);
        expect(g).toBeCloseTo(normalize(green(sx, sy), 1), 4);
        expect(b).toBeCloseTo(normalize(blue, 2), 4);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('samples a tanh-warped crop through the inverse warp', () => {
    const image = gradientImage();
    const points: FivePoints = [
      [32, 26],
      [48, 26],
      [40, 34],
      [34, 42],
      [46, 42],
    ];
    const unit: FivePoints = [
      [0.3828125, 0.44140625],
      [0.6171875, 0.44140625],
      [0.5, 0.55859375],
      [0.4296875, 0.70390625],
      [0.5703125, 0.70390625],
    ];
    const crop = lapaTanhCrop(points, unit, 96, 0.8);
    const out = new Float32Array(3 * 96 * 96);
    sampleCrop(image, crop, mean, std, out, 0);

    let checked = 0;
    for (let y = 0; y < 96; y += 5) {
      for (let x = 0; x < 96; x += 5) {
        const [sx, sy] = cropPointToImage(crop, [x, y]);
        if (sx < 0 || sy < 0 || sx > width - 1 || sy > height - 1) continue;
        const [r, g] = readPixel(out, 96, x, y);
        expect(r).toBeCloseTo(normalize(red(sx, sy), 0), 4);
        expect(g).toBeCloseTo(normalize(green(sx, sy), 1), 4);
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('fills the area outside the image with black', () => {
    const image = gradientImage();
    // The box lies far right of the image, so every crop pixel maps outside it.
    const crop = boxCrop({ x: 500, y: 0, width: 40, height: 40 }, 32, 1);
    const out = new Float32Array(3 * 32 * 32);
    sampleCrop(image, crop, mean, std, out, 0);
    for (let channel = 0; channel < 3; channel++) {
      const plane = out.subarray(channel * 1024, (channel + 1) * 1024);
      expect(plane.every((value) => Math.abs(value - normalize(0, channel)) < 1e-6)).toBe(true);
    }
  });

  it('blends the border with black over one pixel', () => {
    const image = gradientImage();
    // Shift by half a pixel: crop column 0 reads image x = -0.5, half pixel 0 and half black.
    const crop: CropSpec = { size: 16, matrix: [1, 0, 0.5, 0, 1, 0], tanhWarpFactor: 0 };
    const out = new Float32Array(3 * 16 * 16);
    sampleCrop(image, crop, mean, std, out, 0);
    const [r, , b] = readPixel(out, 16, 0, 5);
    expect(r).toBeCloseTo(normalize(0.5 * red(0, 5), 0), 5);
    expect(b).toBeCloseTo(normalize(0.5 * blue, 2), 5);
    const [inside] = readPixel(out, 16, 4, 5);
    expect(inside).toBeCloseTo(normalize(red(3.5, 5), 0), 5);
  });

  it('writes at the offset and nowhere else', () => {
    const image = gradientImage();
    const crop: CropSpec = { size: 8, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    const out = new Float32Array(3 * 64 * 2).fill(-99);
    sampleCrop(image, crop, mean, std, out, 192);
    expect(out.subarray(0, 192).every((value) => value === -99)).toBe(true);
    expect(readPixel(out, 8, 3, 2, 192)[0]).toBeCloseTo(normalize(red(3, 2), 0), 5);
  });

  it('rejects mismatched image data, output, mean and std', () => {
    const image = gradientImage();
    const crop: CropSpec = { size: 8, matrix: [1, 0, 0, 0, 1, 0], tanhWarpFactor: 0 };
    const out = new Float32Array(3 * 64);
    expect(() => sampleCrop({ ...image, data: image.data.subarray(1) }, crop, mean, std, out, 0)).toThrow(/needs 14400/);
    expect(() => sampleCrop(image, crop, mean, std, out, 1)).toThrow(/cannot take 192 floats at offset 1/);
    expect(() => sampleCrop(image, crop, mean, [0.5, 0, 0.5], out, 0)).toThrow(/std must be 3 positive numbers/);
    expect(() => sampleCrop(image, { ...crop, size: 0 }, mean, std, out, 0)).toThrow(/crop size must be a positive integer/);
  });
});
