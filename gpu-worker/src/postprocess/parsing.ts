/**
 * Decoder of the parsing head: map logits -> a label map over the original image, plus class areas.
 */
import type { CropSpec } from '../geometry/crops.ts';
import { parsingToImage, type ImageLabelMap } from '../geometry/parsing-to-image.ts';
import type { Float32Tensor } from '../inference/tensor.ts';

/** Parsing of one face in original image pixels. */
export interface ParsingResult extends ImageLabelMap {
  /** Share of the face's foreground pixels per class, by label; see `parsingAreas`. */
  areas: Record<string, number>;
}

/**
 * Decode one face's parsing logits, dims (C, H, H) before the head's upsample, into a label map over
 * the original image (`parsingToImage`) and per-class areas (`parsingAreas`).
 *
 * `labels` is the manifest's label list for the head, in output order, with the background class first.
 */
export function decodeParsing(logits: Float32Tensor, crop: CropSpec, imageWidth: number, imageHeight: number, labels: readonly string[]): ParsingResult {
  const classes = logits.dims[0];
  if (classes !== labels.length) {
    throw new RangeError(`decodeParsing received ${classes} classes of logits but the manifest lists ${labels.length} labels; re-export the model`);
  }
  const labelMap = parsingToImage(logits, crop, imageWidth, imageHeight);
  return { ...labelMap, areas: parsingAreas(labelMap, labels) };
}

/**
 * Measure each foreground class as a share of the face's foreground pixels.
 *
 * Class 0 is the background: it is the first label of every parsing scheme the exporter writes, and it
 * is also the value of pixels outside the crop's footprint. For every other class k the area is
 * (pixels labeled k) / (pixels labeled anything but 0), so the areas sum to 1, or are all 0 when the face
 * has no foreground pixels. The background gets no entry.
 */
export function parsingAreas(labelMap: ImageLabelMap, labels: readonly string[]): Record<string, number> {
  const counts = new Float64Array(labels.length);
  const { labels: map, width, footprint } = labelMap;
  for (let y = footprint.y; y < footprint.y + footprint.height; y++) {
    for (let x = footprint.x, p = y * width + footprint.x; x < footprint.x + footprint.width; x++, p++) {
      const label = map[p]!;
      if (label >= labels.length) {
        throw new RangeError(`parsingAreas found label ${label} at pixel (${x}, ${y}), but only ${labels.length} labels exist`);
      }
      counts[label]!++;
    }
  }

  let foreground = 0;
  for (let k = 1; k < labels.length; k++) foreground += counts[k]!;
  const areas: Record<string, number> = {};
  for (let k = 1; k < labels.length; k++) {
    areas[labels[k]!] = foreground > 0 ? counts[k]! / foreground : 0;
  }
  return areas;
}
