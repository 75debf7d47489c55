import { invertAffine } from './affine.ts';
import type { CropSpec } from './crops.ts';
import { tanhWarpInverse } from './tanh-warp.ts';

/** A decoded 8-bit RGB image, interleaved (HWC), rows top to bottom. */
export interface RgbImage {
  width: number;
  height: number;
  /** width*height*3 bytes: R, G, B of pixel (0, 0), then of pixel (1, 0), and so on. */
  data: Uint8Array;
}

export type RgbTriple = readonly [number, number, number];

/**
 * Sample a crop of `image` into `out` as a normalized CHW float32 tensor, the encoder's input layout.
 *
 * For every crop pixel (i, j), i and j in 0..size-1 (pixel centers, no half-pixel offset, as cv2.remap
 * is called in the reference), the source point is the inverse tanh warp of (i, j) followed by the
 * inverse of `crop.matrix`. The image is sampled there bilinearly. Neighbours outside the image count as
 * black (0), so the crop gets a black border that fades in over one pixel. Each channel c is then
 * written as (value/255 - mean[c]) / std[c] to out[outOffset + c*size*size + j*size + i].
 *
 * @throws RangeError when the image data, `out`, `mean` or `std` do not fit.
 */
export function sampleCrop(image: RgbImage, crop: CropSpec, mean: RgbTriple, std: RgbTriple, out: Float32Array, outOffset: number): void {
  checkArguments(image, crop, mean, std, out, outOffset);

  const { width, height, data } = image;
  const size = crop.size;
  const plane = size * size;
  const [ia, ib, ic, id, ie, iff] = invertAffine(crop.matrix);

  // The tanh warp acts on each axis separately, so the pre-warp coordinate of column i (and row j) is one table.
  const grid = new Float64Array(size);
  for (let k = 0; k < size; k++) grid[k] = tanhWarpInverse(k, size, crop.tanhWarpFactor);

  const scaleR = 1 / (255 * std[0]);
  const scaleG = 1 / (255 * std[1]);
  const scaleB = 1 / (255 * std[2]);
  const biasR = -mean[0] / std[0];
  const biasG = -mean[1] / std[1];
  const biasB = -mean[2] / std[2];
  const rowStride = width * 3;

  for (let j = 0; j < size; j++) {
    const gy = grid[j]!;
    const rowX = ib * gy + ic;
    const rowY = ie * gy + iff;
    let target = outOffset + j * size;

    for (let i = 0; i < size; i++, target++) {
      const gx = grid[i]!;
      const sx = ia * gx + rowX;
      const sy = id * gx + rowY;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      let r = 0;
      let g = 0;
      let b = 0;

      if (x0 >= 0 && y0 >= 0 && x0 + 1 < width && y0 + 1 < height) {
        const fx = sx - x0;
        const fy = sy - y0;
        const w00 = (1 - fx) * (1 - fy);
        const w10 = fx * (1 - fy);
        const w01 = (1 - fx) * fy;
        const w11 = fx * fy;
        const p00 = y0 * rowStride + x0 * 3;
        const p01 = p00 + rowStride;
        r = w00 * data[p00]! + w10 * data[p00 + 3]! + w01 * data[p01]! + w11 * data[p01 + 3]!;
        g = w00 * data[p00 + 1]! + w10 * data[p00 + 4]! + w01 * data[p01 + 1]! + w11 * data[p01 + 4]!;
        b = w00 * data[p00 + 2]! + w10 * data[p00 + 5]! + w01 * data[p01 + 2]! + w11 * data[p01 + 5]!;
      } else if (x0 >= -1 && y0 >= -1 && x0 < width && y0 < height) {
        // Near the border: only the neighbours inside the image contribute.
        const fx = sx - x0;
        const fy = sy - y0;
        for (let dy = 0; dy < 2; dy++) {
          const y = y0 + dy;
          if (y < 0 || y >= height) continue;
          const wy = dy === 0 ? 1 - fy : fy;
          for (let dx = 0; dx < 2; dx++) {
            const x = x0 + dx;
            if (x < 0 || x >= width) continue;
            const weight = wy * (dx === 0 ? 1 - fx : fx);
            const p = y * rowStride + x * 3;
            r += weight * data[p]!;
            g += weight * data[p + 1]!;
            b += weight * data[p + 2]!;
          }
        }
      }

      out[target] = r * scaleR + biasR;
      out[target + plane] = g * scaleG + biasG;
      out[target + 2 * plane] = b * scaleB + biasB;
    }
  }
}

function checkArguments(image: RgbImage, crop: CropSpec, mean: RgbTriple, std: RgbTriple, out: Float32Array, outOffset: number): void {
  if (!(Number.isInteger(image.width) && image.width > 0 && Number.isInteger(image.height) && image.height > 0)) {
    throw new RangeError(`sampleCrop image width and height must be positive integers, got ${image.width}x${image.height}`);
  }
  if (image.data.length !== image.width * image.height * 3) {
    throw new RangeError(
      `sampleCrop image data has ${image.data.length} bytes but a ${image.width}x${image.height} RGB image needs ${image.width * image.height * 3}`,
    );
  }
  if (!(Number.isInteger(crop.size) && crop.size > 0)) {
    throw new RangeError(`sampleCrop crop size must be a positive integer, got ${crop.size}`);
  }
  if (mean.length !== 3 || !mean.every(Number.isFinite)) {
    throw new RangeError(`sampleCrop mean must be 3 finite numbers, got [${mean.join(', ')}]`);
  }
  if (std.length !== 3 || !std.every((value) => Number.isFinite(value) && value > 0)) {
    throw new RangeError(`sampleCrop std must be 3 positive numbers, got [${std.join(', ')}]`);
  }
  const needed = 3 * crop.size * crop.size;
  if (!(Number.isInteger(outOffset) && outOffset >= 0 && outOffset + needed <= out.length)) {
    throw new RangeError(`sampleCrop output of ${out.length} floats cannot take ${needed} floats at offset ${outOffset}`);
  }
}
