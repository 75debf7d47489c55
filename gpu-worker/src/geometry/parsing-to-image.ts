import type { Float32Tensor } from '../inference/tensor.ts';
import { applyAffine, invertAffine } from './affine.ts';
import type { CropSpec } from './crops.ts';
import { tanhWarpForward, tanhWarpReach } from './tanh-warp.ts';

/** Rectangle of whole pixels: columns x..x+width-1 and rows y..y+height-1. */
export interface PixelRect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A per-pixel label map in original image pixels. */
export interface ImageLabelMap {
  /** width*height class indices, row-major; 0 outside `footprint` and where the crop saw nothing. */
  labels: Uint8Array;
  width: number;
  height: number;
  /** Bounding box of the original pixels that the crop covers, clipped to the image; may be empty. */
  footprint: PixelRect;
}

/**
 * Upsample channel-first logits (C, H, W) to (outHeight, outWidth) bilinearly, with the semantics of
 * PyTorch's `interpolate(mode='bilinear', align_corners=False)`: output pixel o reads the input at
 * (o + 0.5)*H/outHeight - 0.5, clamped at 0 below and to the last row above.
 *
 * @returns channel-last logits (outHeight, outWidth, C), so the C values of one pixel are contiguous.
 */
export function upsampleLogitsBilinear(logits: Float32Tensor, outHeight: number, outWidth: number): Float32Array {
  const [channels, height, width] = checkLogits(logits, 'upsampleLogitsBilinear');
  if (!(Number.isInteger(outHeight) && outHeight > 0 && Number.isInteger(outWidth) && outWidth > 0)) {
    throw new RangeError(`upsampleLogitsBilinear output size must be positive integers, got ${outHeight}x${outWidth}`);
  }

  const columns = interpolationTable(width, outWidth);
  const rows = interpolationTable(height, outHeight);
  const input = logits.data;
  const plane = height * width;
  const out = new Float32Array(outHeight * outWidth * channels);

  for (let oy = 0; oy < outHeight; oy++) {
    const rowLow = rows.low[oy]! * width;
    const rowHigh = rows.high[oy]! * width;
    const fy = rows.fraction[oy]!;
    for (let ox = 0; ox < outWidth; ox++) {
      const low = columns.low[ox]!;
      const high = columns.high[ox]!;
      const fx = columns.fraction[ox]!;
      let target = (oy * outWidth + ox) * channels;
      for (let c = 0, base = 0; c < channels; c++, base += plane, target++) {
        const top = (1 - fx) * input[base + rowLow + low]! + fx * input[base + rowLow + high]!;
        const bottom = (1 - fx) * input[base + rowHigh + low]! + fx * input[base + rowHigh + high]!;
        out[target] = (1 - fy) * top + fy * bottom;
      }
    }
  }
  return out;
}

/**
 * Default reach of parsing labels around a tanh-warped crop, in normalized half-widths of the pre-warp crop.
 * At f = 0.8 the pre-warp point 1.5 lands at 0.93 of the warped half-width: the region contains the face, its
 * hair and some background.
 */
export const defaultParsingReach = 1.5;

/**
 * Turn parsing map logits of one face into a label map over the original image.
 *
 * `logits` has dims (C, H, H), the parsing head's map before its upsample. Steps:
 * 1. upsample bilinearly to the crop size (`upsampleLogitsBilinear`);
 * 2. for every original pixel in the crop's footprint, map it into the crop (`crop.matrix`, then the
 *    forward tanh warp) and sample the upsampled logits bilinearly, with zero logits outside the crop;
 * 3. take the argmax over classes (the first class wins ties). Where every neighbour that the bilinear
 *    sample reads has the same argmax, that label is taken without summing the logits (it is the same).
 * This is the reference evaluation: logits are warped back, not labels. Pixels whose pre-warp crop point
 * lies outside the region the crop was sampled from get label 0. With a tanh warp that region reaches
 * `tanhWarpReach(factor)` (normalized) beyond the crop center, so it is larger than the crop itself.
 *
 * With a tanh warp the sampled region reaches tanhWarpReach(f) = 3.24 half-widths from the crop center for
 * f = 0.8, often the whole image, but everything past about 1.5 half-widths is squeezed into the crop's
 * outermost pixels. Labels are therefore produced only within `maxReach` half-widths (default
 * {@link defaultParsingReach}); that keeps the cost per face independent of the photo's size. Pass Infinity
 * for the reference behavior.
 *
 * @throws RangeError when the logits are not (C, H, H) with 1 <= C <= 256, or the image size is invalid.
 */
export function parsingToImage(
  logits: Float32Tensor,
  crop: CropSpec,
  imageWidth: number,
  imageHeight: number,
  maxReach = defaultParsingReach,
): ImageLabelMap {
  const [channels] = checkLogits(logits, 'parsingToImage');
  if (channels > 256) {
    throw new RangeError(`parsingToImage labels are stored as bytes, so at most 256 classes fit; the logits have ${channels}`);
  }
  if (!(Number.isInteger(imageWidth) && imageWidth > 0 && Number.isInteger(imageHeight) && imageHeight > 0)) {
    throw new RangeError(`parsingToImage image width and height must be positive integers, got ${imageWidth}x${imageHeight}`);
  }

  const size = crop.size;
  const labels = new Uint8Array(imageWidth * imageHeight);
  const extent = sampledExtent(crop, maxReach);
  const footprint = footprintOf(crop, extent, imageWidth, imageHeight);
  if (footprint.width === 0 || footprint.height === 0) {
    return { labels, width: imageWidth, height: imageHeight, footprint };
  }

  const upsampled = upsampleLogitsBilinear(logits, size, size);
  const cropLabels = argmaxPerPixel(upsampled, channels, size);
  const [a, b, c, d, e, f] = crop.matrix;
  const warp = new WarpTable(extent.low, extent.high, size, crop.tanhWarpFactor);

  for (let py = footprint.y; py < footprint.y + footprint.height; py++) {
    for (let px = footprint.x; px < footprint.x + footprint.width; px++) {
      const ax = a * px + b * py + c;
      const ay = d * px + e * py + f;
      if (ax < extent.low || ax > extent.high || ay < extent.low || ay > extent.high) continue;
      const cx = warp.forward(ax);
      const cy = warp.forward(ay);
      const shared = sharedNeighbourLabel(cropLabels, size, cx, cy);
      labels[py * imageWidth + px] = shared >= 0 ? shared : argmaxAt(upsampled, channels, size, cx, cy);
    }
  }
  return { labels, width: imageWidth, height: imageHeight, footprint };
}

/**
 * The forward tanh warp of one axis, tabulated every 1/16 pre-warp pixel over [low, high] and read with
 * linear interpolation, because it runs twice for every labeled pixel. The interpolation error is below
 * 1e-4 crop pixels for crops of 64 pixels or more (the warp's second derivative is under 2/size).
 */
class WarpTable {
  private static readonly stepsPerPixel = 16;
  private readonly values: Float64Array;

  constructor(
    private readonly low: number,
    high: number,
    size: number,
    private readonly factor: number,
  ) {
    const count = Math.ceil((high - low) * WarpTable.stepsPerPixel) + 2;
    this.values = new Float64Array(factor > 0 ? count : 0);
    for (let i = 0; i < this.values.length; i++) this.values[i] = tanhWarpForward(low + i / WarpTable.stepsPerPixel, size, factor);
  }

  forward(coordinate: number): number {
    if (this.factor <= 0) return coordinate;
    const position = (coordinate - this.low) * WarpTable.stepsPerPixel;
    const index = Math.min(Math.max(Math.floor(position), 0), this.values.length - 2);
    const fraction = position - index;
    return this.values[index]! + fraction * (this.values[index + 1]! - this.values[index]!);
  }
}

/** Argmax over classes at every pixel of channel-last logits (size, size, C); the first class wins ties. */
function argmaxPerPixel(logits: Float32Array, channels: number, size: number): Uint8Array {
  const labels = new Uint8Array(size * size);
  for (let pixel = 0, base = 0; pixel < size * size; pixel++, base += channels) {
    let best = 0;
    let bestValue = logits[base]!;
    for (let k = 1; k < channels; k++) {
      const value = logits[base + k]!;
      if (value > bestValue) {
        bestValue = value;
        best = k;
      }
    }
    labels[pixel] = best;
  }
  return labels;
}

/**
 * Return the label at crop point (x, y) when every in-crop neighbour with a positive bilinear weight has the same
 * argmax, else -1. It is exact: a sum of logit vectors with non-negative weights, each of whose largest
 * entry is class k, also has its largest entry at k. With no such neighbour every logit is 0, so class 0.
 */
function sharedNeighbourLabel(cropLabels: Uint8Array, size: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  let shared = -1;
  for (let corner = 0; corner < 4; corner++) {
    const cx = corner & 1 ? x0 + 1 : x0;
    const cy = corner & 2 ? y0 + 1 : y0;
    const weight = (corner & 1 ? fx : 1 - fx) * (corner & 2 ? fy : 1 - fy);
    if (weight <= 0 || cx < 0 || cx >= size || cy < 0 || cy >= size) continue;
    const label = cropLabels[cy * size + cx]!;
    if (shared === -1) shared = label;
    else if (shared !== label) return -1;
  }
  return shared === -1 ? 0 : shared;
}

/** Argmax over classes of channel-last logits (size, size, C) sampled bilinearly at (x, y), zero outside. */
function argmaxAt(logits: Float32Array, channels: number, size: number, x: number, y: number): number {
  const x0 = Math.floor(x);
  const y0 = Math.floor(y);
  const fx = x - x0;
  const fy = y - y0;
  const left = x0 >= 0 && x0 < size;
  const right = x0 + 1 >= 0 && x0 + 1 < size;
  const top = y0 >= 0 && y0 < size;
  const bottom = y0 + 1 >= 0 && y0 + 1 < size;

  // A neighbour outside the crop gets weight 0 and a valid dummy index, so one loop serves every case.
  const w00 = left && top ? (1 - fx) * (1 - fy) : 0;
  const w10 = right && top ? fx * (1 - fy) : 0;
  const w01 = left && bottom ? (1 - fx) * fy : 0;
  const w11 = right && bottom ? fx * fy : 0;
  const p00 = w00 === 0 ? 0 : (y0 * size + x0) * channels;
  const p10 = w10 === 0 ? 0 : (y0 * size + x0 + 1) * channels;
  const p01 = w01 === 0 ? 0 : ((y0 + 1) * size + x0) * channels;
  const p11 = w11 === 0 ? 0 : ((y0 + 1) * size + x0 + 1) * channels;

  let best = 0;
  let bestValue = -Infinity;
  for (let k = 0; k < channels; k++) {
    const value = w00 * logits[p00 + k]! + w10 * logits[p10 + k]! + w01 * logits[p01 + k]! + w11 * logits[p11 + k]!;
    if (value > bestValue) {
      bestValue = value;
      best = k;
    }
  }
  return best;
}

/**
 * Range of pre-warp crop coordinates (both axes) that get labels: what the crop's pixels were sampled from,
 * cut at `maxReach` normalized half-widths from the crop center.
 */
function sampledExtent(crop: CropSpec, maxReach: number): { low: number; high: number } {
  if (crop.tanhWarpFactor <= 0) return { low: -0.5, high: crop.size - 0.5 };
  const reach = Math.min(tanhWarpReach(crop.tanhWarpFactor), maxReach);
  return { low: ((1 - reach) / 2) * crop.size, high: ((1 + reach) / 2) * crop.size };
}

function footprintOf(crop: CropSpec, extent: { low: number; high: number }, imageWidth: number, imageHeight: number): PixelRect {
  const inverse = invertAffine(crop.matrix);
  const corners = [
    applyAffine(inverse, [extent.low, extent.low]),
    applyAffine(inverse, [extent.high, extent.low]),
    applyAffine(inverse, [extent.low, extent.high]),
    applyAffine(inverse, [extent.high, extent.high]),
  ];
  const xs = corners.map((corner) => corner[0]);
  const ys = corners.map((corner) => corner[1]);
  const left = Math.max(0, Math.ceil(Math.min(...xs)));
  const top = Math.max(0, Math.ceil(Math.min(...ys)));
  const right = Math.min(imageWidth - 1, Math.floor(Math.max(...xs)));
  const bottom = Math.min(imageHeight - 1, Math.floor(Math.max(...ys)));
  if (right < left || bottom < top) return { x: 0, y: 0, width: 0, height: 0 };
  return { x: left, y: top, width: right - left + 1, height: bottom - top + 1 };
}

interface InterpolationTable {
  low: Int32Array;
  high: Int32Array;
  fraction: Float64Array;
}

function interpolationTable(inputSize: number, outputSize: number): InterpolationTable {
  const low = new Int32Array(outputSize);
  const high = new Int32Array(outputSize);
  const fraction = new Float64Array(outputSize);
  const ratio = inputSize / outputSize;
  for (let o = 0; o < outputSize; o++) {
    const source = Math.max(0, (o + 0.5) * ratio - 0.5);
    const index = Math.min(Math.floor(source), inputSize - 1);
    low[o] = index;
    high[o] = Math.min(index + 1, inputSize - 1);
    fraction[o] = source - index;
  }
  return { low, high, fraction };
}

function checkLogits(logits: Float32Tensor, caller: string): [number, number, number] {
  const dims = logits.dims;
  if (dims.length !== 3 || !dims.every((size) => Number.isInteger(size) && size > 0)) {
    throw new RangeError(`${caller} expects logits of dims (C, H, W), got [${dims.join(', ')}]`);
  }
  const [channels, height, width] = dims as [number, number, number];
  if (logits.data.length !== channels * height * width) {
    throw new RangeError(`${caller} logits contain ${logits.data.length} values but dims [${dims.join(', ')}] need ${channels * height * width}`);
  }
  return [channels, height, width];
}
