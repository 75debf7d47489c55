/**
 * Decoder of the landmark head: heatmap logits -> points in crop and original image pixels.
 */
import type { FivePoints, Point } from '../geometry/affine.ts';
import { cropPointToImage, type CropSpec } from '../geometry/crops.ts';
import type { Float32Tensor } from '../inference/tensor.ts';
import { sigmoid } from './values.ts';

/**
 * Soft-argmax of one face's heatmap logits, dims (P, H, W) or (1, P, H, W), as the official decoder
 * computes it.
 *
 * For each landmark, h = sigmoid(logits) over the whole map (no softmax, no window),
 * x̂ = sum(x*h) / max(sum(h), 1e-6) and ŷ likewise, with x, y the map pixel indices. The result is
 * normalized with the pixel-center convention: u = (x̂ + 0.5)/W, v = (ŷ + 0.5)/H.
 *
 * @returns (P, 2) interleaved (u, v) pairs in [0, 1].
 */
export function softArgmaxHeatmaps(heatmaps: Float32Tensor): Float64Array {
  const [points, height, width] = checkHeatmaps(heatmaps);
  const data = heatmaps.data;
  const plane = height * width;
  const normalized = new Float64Array(points * 2);

  for (let p = 0; p < points; p++) {
    let mass = 0;
    let sumX = 0;
    let sumY = 0;
    let index = p * plane;
    for (let y = 0; y < height; y++) {
      let rowMass = 0;
      for (let x = 0; x < width; x++, index++) {
        const h = sigmoid(data[index]!);
        rowMass += h;
        sumX += x * h;
      }
      mass += rowMass;
      sumY += y * rowMass;
    }
    const denominator = Math.max(mass, 1e-6);
    normalized[2 * p] = (sumX / denominator + 0.5) / width;
    normalized[2 * p + 1] = (sumY / denominator + 0.5) / height;
  }
  return normalized;
}

/** Scale normalized (u, v) pairs to pixels of a crop of side `cropSize`: p = u*cropSize - 0.5. */
export function normalizedToCropPixels(normalized: Float64Array, cropSize: number): Float64Array {
  if (!(Number.isInteger(cropSize) && cropSize > 0)) {
    throw new RangeError(`normalizedToCropPixels cropSize must be a positive integer, got ${cropSize}`);
  }
  return normalized.map((value) => value * cropSize - 0.5);
}

/**
 * Decode one face's heatmap logits, dims (P, H, W) or (1, P, H, W), into P points in original image pixels: soft-argmax, then
 * crop pixels (`crop.size`), then the crop's inverse (with the inverse tanh warp when the crop has one).
 */
export function decodeLandmarks(heatmaps: Float32Tensor, crop: CropSpec): Array<[number, number]> {
  const pixels = normalizedToCropPixels(softArgmaxHeatmaps(heatmaps), crop.size);
  const result: Array<[number, number]> = [];
  for (let p = 0; p < pixels.length; p += 2) {
    result.push(cropPointToImage(crop, [pixels[p]!, pixels[p + 1]!]));
  }
  return result;
}

/**
 * Average landmark groups into the five alignment points (manifest `five_point_indices`, one index
 * group each for the image-left eye, image-right eye, nose tip, image-left and image-right mouth corner).
 */
export function fivePointsFromLandmarks(points: readonly Point[], groups: readonly (readonly number[])[]): FivePoints {
  if (groups.length !== 5) {
    throw new RangeError(`fivePointsFromLandmarks needs 5 index groups, got ${groups.length}; check five_point_indices in the manifest`);
  }
  const averaged = groups.map((group, g): Point => {
    if (group.length === 0) {
      throw new RangeError(`fivePointsFromLandmarks group ${g} is empty; check five_point_indices in the manifest`);
    }
    let sumX = 0;
    let sumY = 0;
    for (const index of group) {
      const point = points[index];
      if (!Number.isInteger(index) || point === undefined) {
        throw new RangeError(`fivePointsFromLandmarks group ${g} names landmark ${index}, but there are ${points.length} landmarks (0..${points.length - 1})`);
      }
      sumX += point[0];
      sumY += point[1];
    }
    return [sumX / group.length, sumY / group.length];
  });
  const [a, b, c, d, e] = averaged as [Point, Point, Point, Point, Point];
  return [a, b, c, d, e];
}

function checkHeatmaps(heatmaps: Float32Tensor): [number, number, number] {
  const dims = heatmaps.dims.length === 4 && heatmaps.dims[0] === 1 ? heatmaps.dims.slice(1) : heatmaps.dims;
  if (dims.length !== 3 || !dims.every((size) => Number.isInteger(size) && size > 0)) {
    throw new RangeError(`landmark heatmaps of one face must have dims (P, H, W) or (1, P, H, W), got [${heatmaps.dims.join(', ')}]`);
  }
  const [points, height, width] = dims as [number, number, number];
  if (heatmaps.data.length !== points * height * width) {
    throw new RangeError(`landmark heatmaps contain ${heatmaps.data.length} values but dims [${dims.join(', ')}] need ${points * height * width}`);
  }
  return [points, height, width];
}
