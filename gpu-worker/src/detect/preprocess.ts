/**
 * Pixel steps before a detector run: resize the image to a pyramid level, cut a window, and write it as a
 * normalized NCHW float tensor.
 */
import sharp from 'sharp';
import type { DecodedImage } from '../decode/decode-image.ts';

/** 8-bit RGB pixels (HWC, row-major) of one pyramid level. */
export interface RgbPixels {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Normalization and channel order of the network input, as the detector manifest states them. */
export interface InputNormalization {
  channelOrder: 'RGB' | 'BGR';
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/**
 * Resizes `image` to exactly `width` x `height` with sharp's default Lanczos-3 kernel (area-correct when
 * shrinking). Returns the image itself when the size already matches.
 */
export async function resizeRgb(image: RgbPixels, width: number, height: number): Promise<RgbPixels> {
  if (width === image.width && height === image.height) return image;
  const { data, info } = await sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize(width, height, { fit: 'fill' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}

/** Views a decoded image as {@link RgbPixels} without copying. */
export function decodedAsRgb(image: DecodedImage): RgbPixels {
  return { width: image.width, height: image.height, data: image.data };
}

/**
 * Writes the window of `windowWidth` x `windowHeight` pixels at (`left`, `top`) of `pixels` into `target`
 * as one CHW item ([3, windowHeight, windowWidth], channels in `normalization.channelOrder`).
 * Window pixels outside the image are written as 0, which is the normalized value of the mean.
 */
export function writeWindowTensor(
  pixels: RgbPixels,
  left: number,
  top: number,
  windowWidth: number,
  windowHeight: number,
  normalization: InputNormalization,
  target: Float32Array,
  targetOffset = 0,
): void {
  const plane = windowWidth * windowHeight;
  if (target.length < targetOffset + 3 * plane) {
    throw new RangeError(`writeWindowTensor: target has ${target.length - targetOffset} values after offset ${targetOffset}, the window needs ${3 * plane}`);
  }
  target.fill(0, targetOffset, targetOffset + 3 * plane);

  // sourceChannel[c] is the RGB index that feeds tensor channel c.
  const sourceChannel = normalization.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  const scale = normalization.std.map((s) => 1 / s);
  const { mean } = normalization;

  const xStart = Math.max(0, -left);
  const xEnd = Math.min(windowWidth, pixels.width - left);
  const yStart = Math.max(0, -top);
  const yEnd = Math.min(windowHeight, pixels.height - top);
  for (let c = 0; c < 3; c++) {
    const source = sourceChannel[c]!;
    const channelMean = mean[c]!;
    const channelScale = scale[c]!;
    const planeOffset = targetOffset + c * plane;
    for (let y = yStart; y < yEnd; y++) {
      const rowIn = ((top + y) * pixels.width + left) * 3 + source;
      const rowOut = planeOffset + y * windowWidth;
      for (let x = xStart; x < xEnd; x++) {
        target[rowOut + x] = (pixels.data[rowIn + x * 3]! - channelMean) * channelScale;
      }
    }
  }
}
