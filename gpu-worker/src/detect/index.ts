export type { Box, Detection, FaceDetector, Point } from './types.ts';
export { intersectionArea, intersectionOverUnion, nonMaxSuppression } from './nms.ts';
export { planPyramid, windowStarts, type PyramidLevel, type TilingPolicy, type Window } from './tiling.ts';
export {
  boxEncodings,
  detectorManifestFormat,
  DetectorManifestError,
  openDetectorFolder,
  parseDetectorManifest,
  type BoxEncoding,
  type DetectorFolder,
  type DetectorManifest,
} from './manifest.ts';
export { UltraFaceDetector, type UltraFaceOptions, type UltraFaceSettings } from './ultraface.ts';
