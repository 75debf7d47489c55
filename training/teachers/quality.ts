/**
 * Checks that reject faces on which the landmark teacher clearly failed, and the landmark error measure (NME)
 * used against reference points.
 */
import type { Box, Point } from '../../gpu-worker/src/detect/types.ts';

/** Thresholds of {@link findQualityProblem}. */
export interface QualityThresholds {
  /** Minimum longer side of the detector box, in pixels. */
  minBoxSidePx: number;
  /** Allowed range of (longer side of the detector box) / (larger extent of the 68 points). */
  minBoxToLandmarkRatio: number;
  maxBoxToLandmarkRatio: number;
  /** Maximum distance between the centers of the detector box and of the points' bounding box, over the points' extent. */
  maxCenterOffset: number;
  /** Maximum mean point shift between the two landmark runs, over the points' own inter-ocular distance. */
  maxInstability: number;
}

/**
 * Default thresholds. On the photos in test/fixtures/photos, the longer side of an UltraFace box is 1.15 to 1.36
 * times the landmarks' extent (10th to 90th percentile), so the ratio range leaves wide margins. Between crops
 * of 1.1 and 1.3 times the box, the points of the faces labelled there move by at most 0.103 inter-ocular
 * distances, and those of the two faces rejected (a blurred face, a profile) by 0.47 and 0.18.
 */
export const defaultQualityThresholds: QualityThresholds = {
  minBoxSidePx: 24,
  minBoxToLandmarkRatio: 0.8,
  maxBoxToLandmarkRatio: 1.8,
  maxCenterOffset: 0.35,
  maxInstability: 0.15,
};

/** Extent and center of the points' bounding box. */
export function pointsExtent(points: readonly Point[]): { size: number; centerX: number; centerY: number } {
  const xs = points.map((p) => p[0]);
  const ys = points.map((p) => p[1]);
  const [minX, maxX, minY, maxY] = [Math.min(...xs), Math.max(...xs), Math.min(...ys), Math.max(...ys)];
  return { size: Math.max(maxX - minX, maxY - minY), centerX: (minX + maxX) / 2, centerY: (minY + maxY) / 2 };
}

/**
 * Returns the mean distance between corresponding points of `points` and `reference`, divided by the
 * reference's inter-ocular distance (outer eye corners, points 36 and 45 of the 68-point iBUG scheme).
 */
export function interOcularNme(points: readonly Point[], reference: readonly Point[]): number {
  if (points.length !== 68 || reference.length !== 68) {
    throw new RangeError(`interOcularNme needs 68 points in both sets, got ${points.length} and ${reference.length}`);
  }
  const [left, right] = [reference[36]!, reference[45]!];
  const interOcular = Math.hypot(left[0] - right[0], left[1] - right[1]);
  if (!(interOcular > 0)) throw new RangeError(`interOcularNme: the reference's points 36 and 45 coincide at ${JSON.stringify(left)}`);
  let total = 0;
  points.forEach((p, i) => {
    total += Math.hypot(p[0] - reference[i]![0], p[1] - reference[i]![1]);
  });
  return total / points.length / interOcular;
}

/**
 * Returns why the teacher's landmarks for this face cannot be trusted, or null when they pass every check.
 * `secondRun` is the landmark net's output on a crop of another size around the same box.
 */
export function findQualityProblem(box: Box, landmarks: readonly Point[], secondRun: readonly Point[], thresholds: QualityThresholds): string | null {
  const boxSide = Math.max(box.width, box.height);
  if (boxSide < thresholds.minBoxSidePx) {
    return `detector box is ${boxSide.toFixed(1)} px, below the ${thresholds.minBoxSidePx} px minimum`;
  }

  const extent = pointsExtent(landmarks);
  const ratio = boxSide / extent.size;
  if (!(ratio >= thresholds.minBoxToLandmarkRatio && ratio <= thresholds.maxBoxToLandmarkRatio)) {
    return `detector box side / landmark extent is ${ratio.toFixed(2)}, outside [${thresholds.minBoxToLandmarkRatio}, ${thresholds.maxBoxToLandmarkRatio}]`;
  }

  const offset = Math.hypot(box.x + box.width / 2 - extent.centerX, box.y + box.height / 2 - extent.centerY) / extent.size;
  if (offset > thresholds.maxCenterOffset) {
    return `landmark center is ${offset.toFixed(2)} landmark extents from the box center, above ${thresholds.maxCenterOffset}`;
  }

  const instability = interOcularNme(secondRun, landmarks);
  if (instability > thresholds.maxInstability) {
    return `landmarks moved by ${instability.toFixed(3)} inter-ocular distances when the crop size changed, above ${thresholds.maxInstability}`;
  }
  return null;
}
