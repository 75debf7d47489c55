/**
 * Box overlap and greedy non-maximum suppression, shared by every detector.
 */
import type { Box } from './types.ts';

/** Intersection over union of two boxes; 0 when either has no area. */
export function intersectionOverUnion(a: Box, b: Box): number {
  const intersection = intersectionArea(a, b);
  const union = a.width * a.height + b.width * b.height - intersection;
  return union > 0 ? intersection / union : 0;
}

/** Area of the overlap of two boxes, 0 when they do not overlap. */
export function intersectionArea(a: Box, b: Box): number {
  const width = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const height = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return width > 0 && height > 0 ? width * height : 0;
}

/**
 * Greedy non-maximum suppression: visits items by descending score and keeps each one whose IoU with
 * every kept item is at most `iouThreshold`. Returns the kept items sorted by descending score; ties keep input order.
 */
export function nonMaxSuppression<T extends { box: Box; score: number }>(items: readonly T[], iouThreshold: number): T[] {
  if (!(iouThreshold >= 0 && iouThreshold <= 1)) {
    throw new RangeError(`nonMaxSuppression: iouThreshold must be in [0, 1], got ${iouThreshold}`);
  }
  const order = items.map((item, index) => ({ item, index })).sort((a, b) => b.item.score - a.item.score || a.index - b.index);

  const kept: T[] = [];
  for (const { item } of order) {
    if (kept.every((other) => intersectionOverUnion(item.box, other.box) <= iouThreshold)) kept.push(item);
  }
  return kept;
}
