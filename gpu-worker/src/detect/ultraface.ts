/**
 * Face detection with UltraFace (Ultra-Light-Fast-Generic-Face-Detector, RFB variant) in ONNX Runtime.
 *
 * The graph takes a fixed 320x240 input, so small faces in large photos are reached with a pyramid:
 * one pass over the whole image plus finer levels cut into overlapping windows (see tiling.ts), merged
 * with non-maximum suppression. Every constant comes from the detector folder's manifest.
 */
import type { DecodedImage } from '../decode/decode-image.ts';
import type { OnnxGraph, SessionRegistry } from '../inference/sessions.ts';
import { concatBatch, float32Tensor, sliceBatch, type Float32Tensor } from '../inference/tensor.ts';
import { openDetectorFolder, type DetectorManifest } from './manifest.ts';
import { intersectionOverUnion, nonMaxSuppression } from './nms.ts';
import { decodedAsRgb, resizeRgb, writeWindowTensor, type InputNormalization, type RgbPixels } from './preprocess.ts';
import { planPyramid, type PyramidLevel, type TilingPolicy, type Window } from './tiling.ts';
import type { Box, Detection, FaceDetector } from './types.ts';

/** Settings of {@link UltraFaceDetector}; every field defaults to the manifest's `defaults` and `tiling` sections. */
export interface UltraFaceOptions {
  /** Minimum face probability in [0, 1] (manifest `defaults.score_threshold`, 0.7 for RFB-320). */
  scoreThreshold?: number;
  /** Boxes overlapping a better one with a larger IoU are dropped, in [0, 1] (manifest `defaults.nms_iou_threshold`, 0.3). */
  nmsIouThreshold?: number;
  /** Faces whose box is smaller than this on both sides, in image pixels, are dropped (manifest `defaults.min_face_size_px`, 16). */
  minFaceSize?: number;
  /**
   * Face size in image pixels that the pyramid is planned for (manifest `tiling.target_face_size_px`, 32):
   * the finest level shows such a face at the network's reliable size, within a factor of 1.4.
   */
  targetFaceSize?: number;
  /** Maximum pyramid levels after the whole-image pass (manifest `tiling.max_extra_levels`, 3). */
  maxExtraLevels?: number;
  /** Maximum pyramid windows per image, one network run each; finer levels are dropped to fit (manifest `tiling.max_windows`, 64). */
  maxWindows?: number;
  /** Windows per run when the graph has a dynamic batch axis (ignored for a fixed batch of 1). Default 16. */
  maxBatchWindows?: number;
  /**
   * Re-run each face found with the face scaled to `verification.face_px` and centered in the window, and
   * keep it only when that run scores at least `verifyScoreThreshold`. Default true.
   */
  verify?: boolean;
  /** Minimum face probability of the verification run, in [0, 1] (manifest `verification.score_threshold`, 0.7). */
  verifyScoreThreshold?: number;
  /** Compare the graph's SHA-256 with the manifest when loading. Default true. */
  verifyChecksum?: boolean;
}

/** Options after defaults are applied. */
export interface UltraFaceSettings {
  scoreThreshold: number;
  nmsIouThreshold: number;
  minFaceSize: number;
  tiling: TilingPolicy;
  edgeMarginPx: number;
  maxBatchWindows: number;
  verify: boolean;
  verifyScoreThreshold: number;
}

/** A face candidate from one window, before merging. */
interface Candidate {
  box: Box;
  score: number;
}

export class UltraFaceDetector implements FaceDetector {
  private constructor(
    readonly manifest: DetectorManifest,
    readonly settings: UltraFaceSettings,
    private readonly graph: OnnxGraph,
  ) {}

  /**
   * Loads the detector folder `dir` (manifest.json plus the graph it names) through `registry`, which owns
   * the session. Throws when the manifest is invalid, the checksum differs, or the graph's ports differ
   * from the manifest.
   */
  static async load(dir: string, registry: SessionRegistry, options: UltraFaceOptions = {}): Promise<UltraFaceDetector> {
    const folder = await openDetectorFolder(dir, { verifyChecksum: options.verifyChecksum ?? true });
    const settings = resolveSettings(folder.manifest, options);
    const graph = await registry.load(`detector:${folder.manifest.name}`, folder.graphFile);
    checkGraphPorts(graph, folder.manifest);
    return new UltraFaceDetector(folder.manifest, settings, graph);
  }

  /** Returns the pyramid this detector runs for an image of the given size. */
  planFor(width: number, height: number): PyramidLevel[] {
    return planPyramid(width, height, this.settings.tiling);
  }

  async detect(image: DecodedImage): Promise<Detection[]> {
    checkImage(image);
    const rgb = decodedAsRgb(image);
    const candidates: Candidate[] = [];

    for (const level of this.planFor(image.width, image.height)) {
      const pixels = await resizeRgb(rgb, level.width, level.height);
      for (const windows of this.windowGroups(level.windows)) {
        const outputs = await this.runWindows(pixels, windows);
        windows.forEach((window, item) => {
          candidates.push(...this.readCandidates(outputs, item, window, level, image));
        });
      }
    }

    const { nmsIouThreshold, minFaceSize } = this.settings;
    const faces = nonMaxSuppression(candidates, nmsIouThreshold).filter((face) => Math.max(face.box.width, face.box.height) >= minFaceSize);

    const detections: Detection[] = [];
    for (const face of faces) {
      if (this.settings.verify && (await this.verificationScore(rgb, face.box)) < this.settings.verifyScoreThreshold) continue;
      detections.push({ box: face.box, score: face.score });
    }
    return detections;
  }

  /** Runs the images one after another: the pyramid differs per image, and the RFB-320 graph has a fixed batch of 1. */
  async detectBatch(images: readonly DecodedImage[]): Promise<Detection[][]> {
    const results: Detection[][] = [];
    for (const image of images) results.push(await this.detect(image));
    return results;
  }

  /**
   * Scores `box` again with the face scaled to `verification.face_px` and centered in the window.
   *
   * UltraFace gives high scores to some dog faces and to face-like texture (a bare chest, a hand) when they
   * appear large. At the verification size those score far lower, while human faces keep scoring above 0.9.
   * On the photos in test/fixtures/photos, every human face scored at least 0.94 and every false detection at most 0.44.
   * Returns the best face probability among anchors whose box has IoU >= `verification.min_iou` with the expected box.
   */
  private async verificationScore(rgb: RgbPixels, box: Box): Promise<number> {
    const { input, verification } = this.manifest;
    const scale = verification.face_px / Math.max(box.width, box.height);

    // The window in image pixel-edge coordinates, and the part of it that lies inside the image.
    const centerX = box.x + 0.5 + box.width / 2;
    const centerY = box.y + 0.5 + box.height / 2;
    const left = centerX - input.width / 2 / scale;
    const top = centerY - input.height / 2 / scale;
    const cropLeft = Math.max(0, Math.floor(left));
    const cropTop = Math.max(0, Math.floor(top));
    const cropRight = Math.min(rgb.width, Math.ceil(left + input.width / scale));
    const cropBottom = Math.min(rgb.height, Math.ceil(top + input.height / scale));

    const crop = await cropAndResize(rgb, cropLeft, cropTop, cropRight - cropLeft, cropBottom - cropTop, scale);
    const scaleX = crop.width / (cropRight - cropLeft);
    const scaleY = crop.height / (cropBottom - cropTop);
    const offsetX = Math.round((cropLeft - left) * scale);
    const offsetY = Math.round((cropTop - top) * scale);

    const outputs = await this.runWindows(crop, [{ x: -offsetX, y: -offsetY }]);
    const expected: Box = {
      x: offsetX + (box.x + 0.5 - cropLeft) * scaleX,
      y: offsetY + (box.y + 0.5 - cropTop) * scaleY,
      width: box.width * scaleX,
      height: box.height * scaleY,
    };
    return bestOverlappingScore(outputs, this.manifest, expected, verification.min_iou);
  }

  private windowGroups(windows: readonly Window[]): Window[][] {
    const size = this.manifest.input.batch === 'dynamic' ? this.settings.maxBatchWindows : 1;
    const groups: Window[][] = [];
    for (let start = 0; start < windows.length; start += size) groups.push(windows.slice(start, start + size));
    return groups;
  }

  private async runWindows(pixels: RgbPixels, windows: readonly Window[]): Promise<Record<string, Float32Tensor>> {
    const { input } = this.manifest;
    const normalization: InputNormalization = { channelOrder: input.channel_order, mean: input.mean, std: input.std };
    const itemSize = 3 * input.height * input.width;

    const items = windows.map((window) => {
      const data = new Float32Array(itemSize);
      writeWindowTensor(pixels, window.x, window.y, input.width, input.height, normalization, data);
      return float32Tensor(data, [1, 3, input.height, input.width]);
    });
    const feed = items.length === 1 ? items[0]! : concatBatch(items);
    const { scores, boxes } = this.manifest.outputs;
    return this.graph.run({ [input.name]: feed }, [scores.name, boxes.name]);
  }

  /** Face candidates of batch item `item`, mapped from window pixels to image pixels. */
  private readCandidates(outputs: Record<string, Float32Tensor>, item: number, window: Window, level: PyramidLevel, image: DecodedImage): Candidate[] {
    const { input, outputs: names } = this.manifest;
    const scores = sliceBatch(outputs[names.scores.name]!, item, 1);
    const boxes = sliceBatch(outputs[names.boxes.name]!, item, 1);
    const classCount = scores.dims[2] ?? 0;
    const faceClass = names.scores.face_class_index;
    const anchorCount = scores.dims[1] ?? 0;

    // Window edges inside the level cut faces in half. Such partial boxes are left to the neighbouring
    // window, which contains the whole face because windows overlap by more than the faces this level is for.
    // Level 0 is one window over the whole image, so it has no inner edges.
    const margin = this.settings.edgeMarginPx;
    const innerLeft = window.x > 0;
    const innerTop = window.y > 0;
    const innerRight = window.x + input.width < level.width;
    const innerBottom = window.y + input.height < level.height;
    const toImageX = image.width / level.width;
    const toImageY = image.height / level.height;

    const candidates: Candidate[] = [];
    for (let anchor = 0; anchor < anchorCount; anchor++) {
      const score = scores.data[anchor * classCount + faceClass]!;
      if (score < this.settings.scoreThreshold) continue;

      const x1 = boxes.data[anchor * 4]! * input.width;
      const y1 = boxes.data[anchor * 4 + 1]! * input.height;
      const x2 = boxes.data[anchor * 4 + 2]! * input.width;
      const y2 = boxes.data[anchor * 4 + 3]! * input.height;
      if ((innerLeft && x1 < margin) || (innerTop && y1 < margin)) continue;
      if ((innerRight && x2 > input.width - margin) || (innerBottom && y2 > input.height - margin)) continue;

      const box = toImageBox((window.x + x1) * toImageX, (window.y + y1) * toImageY, (window.x + x2) * toImageX, (window.y + y2) * toImageY, image);
      if (box) candidates.push({ box, score });
    }
    return candidates;
  }
}

/** Cuts the given rectangle of pixels and resizes it by `scale` (at least 1 pixel per side). */
async function cropAndResize(rgb: RgbPixels, left: number, top: number, width: number, height: number, scale: number): Promise<RgbPixels> {
  // Copying the rows here is cheaper than handing sharp the whole image for every face.
  const region = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const start = ((top + y) * rgb.width + left) * 3;
    region.set(rgb.data.subarray(start, start + width * 3), y * width * 3);
  }
  return resizeRgb({ width, height, data: region }, Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale)));
}

/** Highest face probability of a single-item run among anchors whose box (input pixels) has IoU >= `minIou` with `expected`. */
function bestOverlappingScore(outputs: Record<string, Float32Tensor>, manifest: DetectorManifest, expected: Box, minIou: number): number {
  const { input, outputs: names } = manifest;
  const scores = outputs[names.scores.name]!;
  const boxes = outputs[names.boxes.name]!;
  const classCount = scores.dims[2] ?? 0;
  const anchorCount = scores.dims[1] ?? 0;
  let best = 0;
  for (let anchor = 0; anchor < anchorCount; anchor++) {
    const score = scores.data[anchor * classCount + names.scores.face_class_index]!;
    if (score <= best) continue;
    const x1 = boxes.data[anchor * 4]! * input.width;
    const y1 = boxes.data[anchor * 4 + 1]! * input.height;
    const anchorBox = { x: x1, y: y1, width: boxes.data[anchor * 4 + 2]! * input.width - x1, height: boxes.data[anchor * 4 + 3]! * input.height - y1 };
    if (intersectionOverUnion(anchorBox, expected) >= minIou) best = score;
  }
  return best;
}

/**
 * Converts corners in pixel-edge coordinates (0 = left edge of the image) to a box in pixel-center
 * coordinates, clipped to the image. Returns null for a box whose center lies outside the image (it came
 * from the padding of a window) or that has no area left.
 */
function toImageBox(left: number, top: number, right: number, bottom: number, image: DecodedImage): Box | null {
  const centerX = (left + right) / 2;
  const centerY = (top + bottom) / 2;
  if (centerX < 0 || centerY < 0 || centerX > image.width || centerY > image.height) return null;

  const x1 = Math.max(0, left);
  const y1 = Math.max(0, top);
  const x2 = Math.min(image.width, right);
  const y2 = Math.min(image.height, bottom);
  if (x2 <= x1 || y2 <= y1) return null;
  return { x: x1 - 0.5, y: y1 - 0.5, width: x2 - x1, height: y2 - y1 };
}

function resolveSettings(manifest: DetectorManifest, options: UltraFaceOptions): UltraFaceSettings {
  const { defaults, tiling, input } = manifest;
  const settings: UltraFaceSettings = {
    scoreThreshold: options.scoreThreshold ?? defaults.score_threshold,
    nmsIouThreshold: options.nmsIouThreshold ?? defaults.nms_iou_threshold,
    minFaceSize: options.minFaceSize ?? defaults.min_face_size_px,
    edgeMarginPx: tiling.edge_margin_px,
    maxBatchWindows: options.maxBatchWindows ?? 16,
    verify: options.verify ?? true,
    verifyScoreThreshold: options.verifyScoreThreshold ?? manifest.verification.score_threshold,
    tiling: {
      inputWidth: input.width,
      inputHeight: input.height,
      reliableFacePx: tiling.reliable_face_px,
      targetFaceSize: options.targetFaceSize ?? tiling.target_face_size_px,
      overlapPx: tiling.overlap_px,
      maxExtraLevels: options.maxExtraLevels ?? tiling.max_extra_levels,
      maxWindows: options.maxWindows ?? tiling.max_windows,
    },
  };

  const problems: string[] = [];
  const inRange = (name: string, value: number, ok: boolean, range: string): void => {
    if (!ok) problems.push(`${name} must be ${range}, got ${value}`);
  };
  inRange('scoreThreshold', settings.scoreThreshold, settings.scoreThreshold >= 0 && settings.scoreThreshold <= 1, 'in [0, 1]');
  inRange('nmsIouThreshold', settings.nmsIouThreshold, settings.nmsIouThreshold >= 0 && settings.nmsIouThreshold <= 1, 'in [0, 1]');
  inRange('minFaceSize', settings.minFaceSize, Number.isFinite(settings.minFaceSize) && settings.minFaceSize >= 0, 'a non-negative number of pixels');
  const { targetFaceSize, maxExtraLevels, maxWindows } = settings.tiling;
  inRange('targetFaceSize', targetFaceSize, Number.isFinite(targetFaceSize) && targetFaceSize > 0, 'a positive number of pixels');
  inRange('maxExtraLevels', maxExtraLevels, Number.isInteger(maxExtraLevels) && maxExtraLevels >= 0 && maxExtraLevels <= 8, 'an integer in [0, 8]');
  inRange('maxWindows', maxWindows, Number.isInteger(maxWindows) && maxWindows >= 1, 'a positive integer');
  inRange('verifyScoreThreshold', settings.verifyScoreThreshold, settings.verifyScoreThreshold >= 0 && settings.verifyScoreThreshold <= 1, 'in [0, 1]');
  inRange('maxBatchWindows', settings.maxBatchWindows, Number.isInteger(settings.maxBatchWindows) && settings.maxBatchWindows >= 1, 'a positive integer');
  if (problems.length > 0) throw new RangeError(`invalid UltraFace detector options: ${problems.join('; ')}`);
  return settings;
}

/** Checks that the loaded graph has the input and outputs the manifest names, with the declared input size. */
function checkGraphPorts(graph: OnnxGraph, manifest: DetectorManifest): void {
  const { input, outputs } = manifest;
  const port = graph.inputs.find((p) => p.name === input.name);
  const expectedDims = [input.batch === 'dynamic' ? 'symbolic' : input.batch, 3, input.height, input.width];
  const problems: string[] = [];
  if (!port) {
    problems.push(`no input named "${input.name}" (inputs: ${graph.inputs.map((p) => p.name).join(', ')})`);
  } else if (port.dims.length > 0) {
    const matches = port.dims.length === 4 && port.dims.every((size, axis) => (axis === 0 && input.batch === 'dynamic' ? typeof size === 'string' : size === expectedDims[axis]));
    if (!matches) problems.push(`input "${input.name}" has dims [${port.dims.join(', ')}], the manifest declares [${expectedDims.join(', ')}]`);
  }
  for (const name of [outputs.scores.name, outputs.boxes.name]) {
    if (!graph.outputs.some((p) => p.name === name)) problems.push(`no output named "${name}" (outputs: ${graph.outputs.map((p) => p.name).join(', ')})`);
  }
  if (problems.length > 0) throw new Error(`detector graph ${graph.file} does not match its manifest: ${problems.join('; ')}`);
}

function checkImage(image: DecodedImage): void {
  const { width, height, data } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new RangeError(`detect: image width and height must be positive integers, got ${width}x${height}`);
  }
  if (data.length !== width * height * 3) {
    throw new RangeError(`detect: image data has ${data.length} bytes, expected ${width}x${height}x3 = ${width * height * 3} (8-bit RGB)`);
  }
}
