/**
 * RoI tanh-warping, applied per axis to coordinates of a square crop of side `size`, as the official
 * Faceptor LaPa crop does it. The formulas match facer's `inverted_tanh_warp_transform`.
 *
 * A pre-warp crop coordinate a is normalized to n = a/size*2 - 1. The central band |n| <= 1 - f stays
 * linear. Outside it, the forward warp compresses n with tanh, so the whole plane lands inside the crop:
 * n_w = sign(n) * ((1 - f) + f * tanh((|n| - (1 - f)) / f)), then w = (n_w + 1)/2*size.
 * The inverse uses atanh with its argument clamped to +-0.999, as the reference does when it builds the
 * sampling grid, so it saturates at |n| = tanhWarpReach(f).
 */

/** Clamp on the atanh argument of the inverse warp, taken from the reference implementation. */
const atanhArgumentLimit = 0.999;

/** Map a pre-warp crop coordinate to the warped crop (forward warp). */
export function tanhWarpForward(coordinate: number, size: number, factor: number): number {
  if (factor <= 0) return coordinate;
  const n = (coordinate / size) * 2 - 1;
  const linearLimit = 1 - factor;
  const magnitude = Math.abs(n);
  if (magnitude <= linearLimit) return coordinate;
  const warped = Math.sign(n) * (linearLimit + factor * Math.tanh((magnitude - linearLimit) / factor));
  return ((warped + 1) / 2) * size;
}

/** Map a warped crop coordinate back to the pre-warp crop (inverse warp, saturating near the crop edge). */
export function tanhWarpInverse(coordinate: number, size: number, factor: number): number {
  if (factor <= 0) return coordinate;
  const n = (coordinate / size) * 2 - 1;
  const linearLimit = 1 - factor;
  const magnitude = Math.abs(n);
  if (magnitude <= linearLimit) return coordinate;
  const argument = Math.min((magnitude - linearLimit) / factor, atanhArgumentLimit);
  const unwarped = Math.sign(n) * (linearLimit + factor * Math.atanh(argument));
  return ((unwarped + 1) / 2) * size;
}

/**
 * Largest |n| (normalized pre-warp coordinate) that the inverse warp can return: 1 - f + f*atanh(0.999).
 * Pre-warp points beyond it are never sampled into the crop.
 */
export function tanhWarpReach(factor: number): number {
  if (factor <= 0) return 1;
  return 1 - factor + factor * Math.atanh(atanhArgumentLimit);
}
