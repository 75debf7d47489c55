/**
 * PNG encoding of parsing label maps (the only post-processing file with I/O: it calls sharp).
 */
import sharp from 'sharp';

/** A label map to encode: one class index per pixel, row-major. */
export interface LabelMapImage {
  labels: Uint8Array;
  width: number;
  height: number;
}

/**
 * Encode a label map as an 8-bit grayscale PNG whose pixel values are the class indices, in the same
 * order as the result's `parsing.labels`.
 *
 * @throws RangeError when `labels` does not contain width*height values.
 */
export async function encodeLabelMapPng(labelMap: LabelMapImage): Promise<Buffer> {
  const { labels, width, height } = labelMap;
  if (!(Number.isInteger(width) && width > 0 && Number.isInteger(height) && height > 0)) {
    throw new RangeError(`encodeLabelMapPng width and height must be positive integers, got ${width}x${height}`);
  }
  if (labels.length !== width * height) {
    throw new RangeError(`encodeLabelMapPng received ${labels.length} labels for a ${width}x${height} map, which needs ${width * height}`);
  }

  // Without toColourspace('b-w') sharp 0.35 writes a one-channel raw input as an RGB PNG.
  return sharp(labels, { raw: { width, height, channels: 1 } })
    .toColourspace('b-w')
    .png()
    .toBuffer();
}
