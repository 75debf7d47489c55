/**
 * The window plan of a detector with a fixed input size: one pass over the whole image, then finer
 * pyramid levels cut into overlapping windows, as deep as the smallest requested face size needs.
 *
 * Pure geometry: sizes in pixels, no pixel data.
 */

export interface TilingPolicy {
  /** Network input size in pixels. */
  inputWidth: number;
  inputHeight: number;
  /** Smallest face side, in network input pixels, that the network finds reliably. */
  reliableFacePx: number;
  /** Face side in image pixels that the finest level should show at `reliableFacePx` (rounded to the nearest level). */
  targetFaceSize: number;
  /** Overlap of neighbouring windows in network input pixels; faces up to this size lie whole inside some window. */
  overlapPx: number;
  /** Maximum number of levels after the whole-image level. */
  maxExtraLevels: number;
  /** Maximum number of windows over all levels; finer levels are dropped until the plan fits. */
  maxWindows: number;
}

/** One network input: the window's top-left corner in the pixels of its level. Its size is the input size. */
export interface Window {
  x: number;
  y: number;
}

/** The image resized to `width` x `height` and cut into windows of the input size. */
export interface PyramidLevel {
  index: number;
  width: number;
  height: number;
  windows: Window[];
}

/**
 * Plans the pyramid for an image of `imageWidth` x `imageHeight` pixels.
 *
 * Level 0 fits the whole image into one window with its aspect ratio kept (the rest is padding), at
 * scale s0 = min(inputWidth / imageWidth, inputHeight / imageHeight). Level k has scale s0 * 2^k. The
 * finest level is the one closest (in log scale) to reliableFacePx / targetFaceSize, so a 512 px portrait
 * stays one pass while a 1280 px group photo gets one or two tiled levels.
 */
export function planPyramid(imageWidth: number, imageHeight: number, policy: TilingPolicy): PyramidLevel[] {
  checkPositiveInteger('imageWidth', imageWidth);
  checkPositiveInteger('imageHeight', imageHeight);
  checkPolicy(policy);
  const { inputWidth, inputHeight } = policy;

  const baseScale = Math.min(inputWidth / imageWidth, inputHeight / imageHeight);
  const targetScale = policy.reliableFacePx / policy.targetFaceSize;
  let extraLevels = Math.min(policy.maxExtraLevels, Math.max(0, Math.round(Math.log2(targetScale / baseScale))));

  for (;;) {
    const levels = Array.from({ length: extraLevels + 1 }, (_, index) => planLevel(index, imageWidth, imageHeight, baseScale * 2 ** index, policy));
    const windowCount = levels.reduce((sum, level) => sum + level.windows.length, 0);
    if (windowCount <= policy.maxWindows || extraLevels === 0) return levels;
    extraLevels -= 1;
  }
}

function planLevel(index: number, imageWidth: number, imageHeight: number, scale: number, policy: TilingPolicy): PyramidLevel {
  const width = Math.max(1, Math.round(imageWidth * scale));
  const height = Math.max(1, Math.round(imageHeight * scale));
  const xs = windowStarts(width, policy.inputWidth, policy.overlapPx);
  const ys = windowStarts(height, policy.inputHeight, policy.overlapPx);
  return { index, width, height, windows: ys.flatMap((y) => xs.map((x) => ({ x, y }))) };
}

/** Start offsets of windows of `windowSize` covering `length` pixels with at least `overlap` pixels shared by neighbours. */
export function windowStarts(length: number, windowSize: number, overlap: number): number[] {
  if (length <= windowSize) return [0];
  const count = Math.ceil((length - overlap) / (windowSize - overlap));
  const span = length - windowSize;
  return Array.from({ length: count }, (_, i) => Math.round((i * span) / (count - 1)));
}

function checkPolicy(policy: TilingPolicy): void {
  checkPositiveInteger('inputWidth', policy.inputWidth);
  checkPositiveInteger('inputHeight', policy.inputHeight);
  checkPositiveInteger('maxWindows', policy.maxWindows);
  for (const key of ['reliableFacePx', 'targetFaceSize'] as const) {
    if (!(Number.isFinite(policy[key]) && policy[key] > 0)) throw new RangeError(`tiling policy: ${key} must be a positive number, got ${policy[key]}`);
  }
  if (!Number.isInteger(policy.maxExtraLevels) || policy.maxExtraLevels < 0) {
    throw new RangeError(`tiling policy: maxExtraLevels must be a non-negative integer, got ${policy.maxExtraLevels}`);
  }
  const smallerSide = Math.min(policy.inputWidth, policy.inputHeight);
  if (!Number.isInteger(policy.overlapPx) || policy.overlapPx < 0 || policy.overlapPx >= smallerSide) {
    throw new RangeError(`tiling policy: overlapPx must be an integer in [0, ${smallerSide - 1}] (below the smaller input side), got ${policy.overlapPx}`);
  }
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value <= 0) throw new RangeError(`tiling policy: ${name} must be a positive integer, got ${value}`);
}
