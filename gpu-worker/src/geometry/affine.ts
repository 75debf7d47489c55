/**
 * 2x3 affine transforms of the image plane.
 *
 * Coordinate convention in every frame (original image, crop, heatmap): x grows to the right, y grows
 * downward, and the center of pixel (column i, row j) sits at (i, j). So an image of width W spans
 * [-0.5, W - 0.5] horizontally.
 */

/** A point (x, y) in pixels. */
export type Point = readonly [number, number];

/** Five alignment points, in order: image-left eye, image-right eye, nose tip, image-left and image-right mouth corners. */
export type FivePoints = readonly [Point, Point, Point, Point, Point];

/**
 * Row-major 2x3 matrix [a, b, c, d, e, f] for the map x' = a*x + b*y + c, y' = d*x + e*y + f.
 */
export type Affine = readonly [number, number, number, number, number, number];

/** The identity transform. */
export const identityAffine: Affine = [1, 0, 0, 0, 1, 0];

/** Return the transform that applies `first`, then `second` (the matrix product second * first). */
export function composeAffine(second: Affine, first: Affine): Affine {
  const [a2, b2, c2, d2, e2, f2] = second;
  const [a1, b1, c1, d1, e1, f1] = first;
  return [
    a2 * a1 + b2 * d1,
    a2 * b1 + b2 * e1,
    a2 * c1 + b2 * f1 + c2,
    d2 * a1 + e2 * d1,
    d2 * b1 + e2 * e1,
    d2 * c1 + e2 * f1 + f2,
  ];
}

/**
 * Invert a transform.
 *
 * @throws RangeError when the matrix is singular or not finite (for example a crop built from
 *   five identical points).
 */
export function invertAffine(matrix: Affine): Affine {
  const [a, b, c, d, e, f] = matrix;
  const determinant = a * e - b * d;
  const scale = Math.max(Math.abs(a), Math.abs(b), Math.abs(d), Math.abs(e));
  if (!Number.isFinite(determinant) || Math.abs(determinant) <= 1e-12 * scale * scale || scale === 0) {
    throw new RangeError(`affine matrix [${matrix.join(', ')}] is singular or not finite, so it cannot be inverted`);
  }
  const ia = e / determinant;
  const ib = -b / determinant;
  const id = -d / determinant;
  const ie = a / determinant;
  return [ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)];
}

/** Map one point through a transform. */
export function applyAffine(matrix: Affine, point: Point): [number, number] {
  const [a, b, c, d, e, f] = matrix;
  const [x, y] = point;
  return [a * x + b * y + c, d * x + e * y + f];
}

/** Transform that scales by `scale` about the point (center, center). */
export function scaleAboutCenterAffine(scale: number, center: number): Affine {
  return [scale, 0, center - scale * center, 0, scale, center - scale * center];
}
