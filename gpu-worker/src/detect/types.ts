/**
 * The face detector port: what the pipeline calls to find faces, independent of the network behind it.
 */
import type { DecodedImage } from '../decode/decode-image.ts';

/**
 * An axis-aligned box in pixels of the decoded image (after EXIF orientation).
 *
 * Pixel centers are at integer coordinates, so the box covering a whole W x H image is
 * `{ x: -0.5, y: -0.5, width: W, height: H }`.
 */
export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** A point `[x, y]` in the same pixel coordinates as {@link Box}. */
export type Point = [number, number];

/** One detected face. */
export interface Detection {
  box: Box;
  /** Face probability in [0, 1]. */
  score: number;
  /**
   * Five points (image-left eye, image-right eye, nose tip, image-left mouth corner, image-right mouth corner),
   * present only when the detector predicts them. UltraFace does not.
   */
  landmarks5?: [Point, Point, Point, Point, Point];
}

/** A face detector. Implementations own their sessions and are safe to call one request at a time. */
export interface FaceDetector {
  /** Finds the faces in one image, sorted by descending score. */
  detect(image: DecodedImage): Promise<Detection[]>;
  /** Finds the faces in several images; returns one list per image, in input order. */
  detectBatch(images: readonly DecodedImage[]): Promise<Detection[][]>;
}
