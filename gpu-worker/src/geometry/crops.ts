/**
 * Crop builders: each returns the transform from ORIGINAL image pixels to the pixels of a square crop
 * that one encoder reads. Every constant (templates, scales, warp factors, sizes) is an argument, taken
 * by the caller from the model manifest.
 *
 * Frames follow the convention in affine.ts: pixel centers at integer coordinates, so a crop of side
 * `size` covers [-0.5, size - 0.5] on both axes and its center is ((size - 1)/2, (size - 1)/2).
 */
import { applyAffine, composeAffine, invertAffine, scaleAboutCenterAffine, type Affine, type FivePoints, type Point } from './affine.ts';
import { umeyamaSimilarity } from './similarity.ts';
import { tanhWarpForward, tanhWarpInverse } from './tanh-warp.ts';

/**
 * A square crop of the original image.
 *
 * The crop is sampled in two steps: `matrix` maps original pixels to the pre-warp crop frame, then the
 * RoI tanh warp of tanh-warp.ts (skipped when `tanhWarpFactor` is 0) maps the pre-warp frame to crop pixels.
 */
export interface CropSpec {
  /** Side of the crop in pixels. */
  size: number;
  /** Original image pixels -> pre-warp crop pixels. */
  matrix: Affine;
  /** RoI tanh-warp factor in [0, 1], where 0 means a plain affine crop. */
  tanhWarpFactor: number;
}

/**
 * A face box in original image pixels: left edge `x`, top edge `y`, so the box spans
 * [x, x + width] by [y, y + height] in the pixel-center-at-integer frame.
 */
export interface FaceBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** Manifest entry `crops.face`. */
export interface ArcfaceCropConfig {
  kind: 'arcface';
  template_size: number;
  template: FivePoints;
}

/** Manifest entry `crops.landmarks`. */
export interface BoxCropConfig {
  kind: 'box';
  scale: number;
}

/** Manifest entry `crops.parsing`. */
export type ParsingCropConfig = { kind: 'lapa-tanh'; warp_factor: number; template_unit: FivePoints } | { kind: 'celebamask-ffhq' };

/**
 * Build the landmark crop from a detector box.
 *
 * The box becomes a square of side max(width, height) about its center. The square maps to the crop with
 * x' = (x - x1)/(x2 - x1)*size - 0.5 (its edges land on the crop's edges), and the result is then scaled
 * by `scale` about the crop center, so the square fills `scale` of the crop's side.
 */
export function boxCrop(box: FaceBox, size: number, scale: number): CropSpec {
  checkCropSize(size);
  checkBox(box);
  if (!(Number.isFinite(scale) && scale > 0)) {
    throw new RangeError(`boxCrop scale must be a positive number, got ${scale}`);
  }

  const square = squareAboutBox(box);
  const pixelsPerUnit = size / square.side;
  const squareToCrop: Affine = [pixelsPerUnit, 0, -square.left * pixelsPerUnit - 0.5, 0, pixelsPerUnit, -square.top * pixelsPerUnit - 0.5];
  const matrix = composeAffine(scaleAboutCenterAffine(scale, (size - 1) / 2), squareToCrop);
  return { size, matrix, tanhWarpFactor: 0 };
}

/**
 * Build an ArcFace-style aligned crop: the least-squares similarity from `points` to `template`.
 *
 * `template` is given in pixels of a `templateSize` crop and is rescaled to `size` as a resize of that
 * crop would move it: t' = (t + 0.5)*size/templateSize - 0.5 (the identity when the sizes match).
 */
export function arcfaceCrop(points: FivePoints, template: FivePoints, templateSize: number, size: number): CropSpec {
  checkCropSize(size);
  if (!(Number.isFinite(templateSize) && templateSize > 0)) {
    throw new RangeError(`arcfaceCrop templateSize must be a positive number, got ${templateSize}`);
  }

  const ratio = size / templateSize;
  const destination = template.map(([x, y]): Point => [(x + 0.5) * ratio - 0.5, (y + 0.5) * ratio - 0.5]);
  return { size, matrix: umeyamaSimilarity(points, destination), tanhWarpFactor: 0 };
}

/**
 * Build a LaPa-style parsing crop: the least-squares similarity from `points` to
 * `templateUnit * (size - 1)`, followed by RoI tanh-warping with `warpFactor`.
 */
export function lapaTanhCrop(points: FivePoints, templateUnit: FivePoints, size: number, warpFactor: number): CropSpec {
  checkCropSize(size);
  if (!(Number.isFinite(warpFactor) && warpFactor >= 0 && warpFactor <= 1)) {
    throw new RangeError(`lapaTanhCrop warpFactor must be in [0, 1], got ${warpFactor}`);
  }

  const destination = templateUnit.map(([u, v]): Point => [u * (size - 1), v * (size - 1)]);
  return { size, matrix: umeyamaSimilarity(points, destination), tanhWarpFactor: warpFactor };
}

/**
 * Build a CelebAMask-HQ-style parsing crop from the FFHQ alignment quad.
 *
 * From the eye centers and the mouth corners, eyeToEye = rightEye - leftEye and
 * eyeToMouth = mouthCenter - eyeCenter. The quad's half-axis x = eyeToEye - rot90(eyeToMouth), with
 * rot90(v) = (-v.y, v.x), is normalized and scaled to max(|eyeToEye|*2.0, |eyeToMouth|*1.8).
 * The other half-axis is y = rot90(x), and the quad's center is eyeCenter + 0.1*eyeToMouth.
 * The quad corners (center -+ x -+ y) map to the crop's corners (-0.5, -0.5) and (size - 0.5, size - 0.5).
 */
export function ffhqCrop(points: FivePoints, size: number): CropSpec {
  checkCropSize(size);
  checkPoints(points, 'ffhqCrop');

  const [leftEye, rightEye, , leftMouth, rightMouth] = points;
  const eyeCenter: Point = [(leftEye[0] + rightEye[0]) / 2, (leftEye[1] + rightEye[1]) / 2];
  const mouthCenter: Point = [(leftMouth[0] + rightMouth[0]) / 2, (leftMouth[1] + rightMouth[1]) / 2];
  const eyeToEye: Point = [rightEye[0] - leftEye[0], rightEye[1] - leftEye[1]];
  const eyeToMouth: Point = [mouthCenter[0] - eyeCenter[0], mouthCenter[1] - eyeCenter[1]];

  const axisX: Point = [eyeToEye[0] + eyeToMouth[1], eyeToEye[1] - eyeToMouth[0]];
  const axisLength = Math.hypot(axisX[0], axisX[1]);
  const halfSide = Math.max(Math.hypot(eyeToEye[0], eyeToEye[1]) * 2.0, Math.hypot(eyeToMouth[0], eyeToMouth[1]) * 1.8);
  if (!(axisLength > 0 && halfSide > 0)) {
    throw new RangeError(`ffhqCrop cannot build a quad from points ${JSON.stringify(points)}: the eyes and the mouth coincide`);
  }
  const center: Point = [eyeCenter[0] + 0.1 * eyeToMouth[0], eyeCenter[1] + 0.1 * eyeToMouth[1]];

  // Unit axes of the quad: x along the eyes, y = rot90(x) pointing from the eyes toward the mouth.
  const cos = axisX[0] / axisLength;
  const sin = axisX[1] / axisLength;
  const scale = size / (2 * halfSide);
  const offset = (size - 1) / 2;
  const matrix: Affine = [
    scale * cos,
    scale * sin,
    offset - scale * (cos * center[0] + sin * center[1]),
    -scale * sin,
    scale * cos,
    offset - scale * (-sin * center[0] + cos * center[1]),
  ];
  return { size, matrix, tanhWarpFactor: 0 };
}

/**
 * Place the five template points inside a detector box, for crops that need five points when no
 * landmarks are available.
 *
 * The box is made square as in `boxCrop`, and the template crop's extent [-0.5, templateSize - 0.5] is
 * stretched onto that square. This assumes the detector box frames the face the way the ArcFace
 * template crop does, so the points are only as good as that assumption: rotated, profile or loosely
 * boxed faces get points that miss the real eyes and mouth.
 */
export function fivePointsFromBox(box: FaceBox, template: FivePoints, templateSize: number): FivePoints {
  checkBox(box);
  if (!(Number.isFinite(templateSize) && templateSize > 0)) {
    throw new RangeError(`fivePointsFromBox templateSize must be a positive number, got ${templateSize}`);
  }

  const square = squareAboutBox(box);
  const place = ([x, y]: Point): Point => [
    square.left + ((x + 0.5) / templateSize) * square.side,
    square.top + ((y + 0.5) / templateSize) * square.side,
  ];
  return [place(template[0]), place(template[1]), place(template[2]), place(template[3]), place(template[4])];
}

/** Build the crop that `crops.face` of the manifest describes, for an encoder input of side `size`. */
export function buildFaceCrop(config: ArcfaceCropConfig, points: FivePoints, size: number): CropSpec {
  return arcfaceCrop(points, config.template, config.template_size, size);
}

/** Build the crop that `crops.landmarks` of the manifest describes. */
export function buildLandmarkCrop(config: BoxCropConfig, box: FaceBox, size: number): CropSpec {
  return boxCrop(box, size, config.scale);
}

/** Build the crop that `crops.parsing` of the manifest describes. */
export function buildParsingCrop(config: ParsingCropConfig, points: FivePoints, size: number): CropSpec {
  switch (config.kind) {
    case 'lapa-tanh':
      return lapaTanhCrop(points, config.template_unit, size, config.warp_factor);
    case 'celebamask-ffhq':
      return ffhqCrop(points, size);
    default: {
      const kind: unknown = (config as { kind: unknown }).kind;
      throw new RangeError(`unknown parsing crop kind ${JSON.stringify(kind)}; expected "lapa-tanh" or "celebamask-ffhq"`);
    }
  }
}

/**
 * Map a crop pixel to original image pixels (inverse tanh warp, then the inverse matrix).
 *
 * With a tanh warp, crop points within about 0.2 px of the crop's outer edge saturate in the inverse
 * warp (see tanh-warp.ts) and do not round-trip.
 */
export function cropPointToImage(crop: CropSpec, point: Point): [number, number] {
  const unwarped: Point = [tanhWarpInverse(point[0], crop.size, crop.tanhWarpFactor), tanhWarpInverse(point[1], crop.size, crop.tanhWarpFactor)];
  return applyAffine(invertAffine(crop.matrix), unwarped);
}

/** Map an original image pixel to crop pixels (the matrix, then the forward tanh warp). */
export function imagePointToCrop(crop: CropSpec, point: Point): [number, number] {
  const [x, y] = applyAffine(crop.matrix, point);
  return [tanhWarpForward(x, crop.size, crop.tanhWarpFactor), tanhWarpForward(y, crop.size, crop.tanhWarpFactor)];
}

function squareAboutBox(box: FaceBox): { left: number; top: number; side: number } {
  const side = Math.max(box.width, box.height);
  return { left: box.x + box.width / 2 - side / 2, top: box.y + box.height / 2 - side / 2, side };
}

function checkCropSize(size: number): void {
  if (!(Number.isInteger(size) && size > 0)) {
    throw new RangeError(`crop size must be a positive integer, got ${size}`);
  }
}

function checkBox(box: FaceBox): void {
  const values = [box.x, box.y, box.width, box.height];
  if (!values.every(Number.isFinite) || !(box.width > 0) || !(box.height > 0)) {
    throw new RangeError(`face box must have finite x and y and positive width and height, got ${JSON.stringify(box)}`);
  }
}

function checkPoints(points: FivePoints, caller: string): void {
  const bad = points.findIndex((point) => !Number.isFinite(point[0]) || !Number.isFinite(point[1]));
  if (bad >= 0) {
    throw new RangeError(`${caller} point ${bad} is not finite: ${JSON.stringify(points[bad])}`);
  }
}
