import type { Affine, Point } from './affine.ts';

/**
 * Estimate the least-squares similarity (rotation, uniform scale, translation; no reflection) that maps
 * `source[i]` to `destination[i]`.
 *
 * This is the 2-D case of Umeyama's method, the estimator behind skimage's
 * `SimilarityTransform.estimate`. In 2-D every proper similarity has the linear part [[p, -q], [q, p]],
 * so the fit is linear in (p, q) and the closed form below is the same optimum that Umeyama's SVD reaches
 * with its determinant correction: with centered points s and d,
 * p = sum(s.x*d.x + s.y*d.y) / sum|s|^2 and q = sum(s.x*d.y - s.y*d.x) / sum|s|^2.
 *
 * @throws RangeError when the point lists differ in length, contain fewer than 2 points, contain non-finite
 *   values, or the source points all coincide.
 */
export function umeyamaSimilarity(source: readonly Point[], destination: readonly Point[]): Affine {
  if (source.length !== destination.length) {
    throw new RangeError(`umeyamaSimilarity needs as many destination points as source points, got ${destination.length} and ${source.length}`);
  }
  if (source.length < 2) {
    throw new RangeError(`umeyamaSimilarity needs at least 2 point pairs, got ${source.length}`);
  }
  for (const [name, points] of [['source', source], ['destination', destination]] as const) {
    const bad = points.findIndex((point) => !Number.isFinite(point[0]) || !Number.isFinite(point[1]));
    if (bad >= 0) {
      throw new RangeError(`umeyamaSimilarity ${name} point ${bad} is not finite: [${points[bad]?.join(', ')}]`);
    }
  }

  const count = source.length;
  let sourceMeanX = 0;
  let sourceMeanY = 0;
  let destinationMeanX = 0;
  let destinationMeanY = 0;
  for (let i = 0; i < count; i++) {
    const [sx, sy] = source[i]!;
    const [dx, dy] = destination[i]!;
    sourceMeanX += sx / count;
    sourceMeanY += sy / count;
    destinationMeanX += dx / count;
    destinationMeanY += dy / count;
  }

  let sourceSpread = 0;
  let dotSum = 0;
  let crossSum = 0;
  for (let i = 0; i < count; i++) {
    const sx = source[i]![0] - sourceMeanX;
    const sy = source[i]![1] - sourceMeanY;
    const dx = destination[i]![0] - destinationMeanX;
    const dy = destination[i]![1] - destinationMeanY;
    sourceSpread += sx * sx + sy * sy;
    dotSum += sx * dx + sy * dy;
    crossSum += sx * dy - sy * dx;
  }
  if (!(sourceSpread > 0)) {
    throw new RangeError('umeyamaSimilarity source points all coincide, so no similarity can be estimated; check the landmarks or the detector output');
  }

  const p = dotSum / sourceSpread;
  const q = crossSum / sourceSpread;
  return [
    p,
    -q,
    destinationMeanX - (p * sourceMeanX - q * sourceMeanY),
    q,
    p,
    destinationMeanY - (q * sourceMeanX + p * sourceMeanY),
  ];
}
