/**
 * Readers of the reference face boxes that come with the test photos, and greedy box matching to score a
 * detector against them. Used by the detector's acceptance tests and benchmarks, not by the service.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { intersectionOverUnion } from './nms.ts';
import type { Box } from './types.ts';

/** Reference faces of one image. */
export interface ReferenceImage {
  /** Absolute path of the image. */
  file: string;
  boxes: Box[];
}

/**
 * Reads a dlib imglab XML file (`<image file=...><box top left width height>`). Image paths are resolved
 * relative to the XML file. dlib boxes cover pixels [left, left + width), so in pixel-center coordinates
 * the box starts at left - 0.5.
 */
export async function readDlibXml(xmlFile: string): Promise<ReferenceImage[]> {
  const xml = await readFile(xmlFile, 'latin1');
  const images: ReferenceImage[] = [];
  const imagePattern = /<image\s+file='([^']+)'[^>]*>([\s\S]*?)<\/image>/g;
  for (const [, file, body] of xml.matchAll(imagePattern)) {
    const boxes: Box[] = [];
    for (const [boxTag] of (body ?? '').matchAll(/<box\b[^>]*>/g)) {
      const attribute = (name: string): number => {
        const match = new RegExp(`\\b${name}='(-?\\d+)'`).exec(boxTag);
        if (!match) throw new Error(`${xmlFile}: box without ${name} in ${boxTag}`);
        return Number(match[1]);
      };
      boxes.push({ x: attribute('left') - 0.5, y: attribute('top') - 0.5, width: attribute('width'), height: attribute('height') });
    }
    images.push({ file: path.resolve(path.dirname(xmlFile), file!), boxes });
  }
  return images;
}

/**
 * Reads ViSP's `ground_truth_detection.txt`: blocks of a `detection_N` line followed by four `row col`
 * corner lines. Each box is the bounding rectangle of its corners, taken as pixel-center coordinates.
 */
export async function readVispDetections(file: string): Promise<Box[]> {
  const lines = (await readFile(file, 'utf8')).split(/\r?\n/).map((line) => line.trim()).filter((line) => line.length > 0);
  const boxes: Box[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!/^detection_\d+$/.test(lines[i]!)) continue;
    const corners = lines.slice(i + 1, i + 5).map((line) => line.split(/\s+/).map(Number));
    if (corners.length !== 4 || corners.some((c) => c.length !== 2 || c.some((v) => !Number.isFinite(v)))) {
      throw new Error(`${file}: block "${lines[i]}" needs four "row col" lines`);
    }
    const rows = corners.map((c) => c[0]!);
    const cols = corners.map((c) => c[1]!);
    boxes.push({ x: Math.min(...cols), y: Math.min(...rows), width: Math.max(...cols) - Math.min(...cols), height: Math.max(...rows) - Math.min(...rows) });
  }
  return boxes;
}

/** Result of {@link matchBoxes}. */
export interface MatchResult {
  /** For each reference box, the index of its matched detection, or -1. */
  referenceToDetection: number[];
  /** For each reference box, the IoU with its match (0 when unmatched). */
  iou: number[];
  matched: number;
  /** Detections that matched no reference box. */
  unmatchedDetections: number[];
}

/**
 * Matches detections to reference boxes one to one, greedily by descending IoU, keeping pairs with
 * IoU >= `minIou`.
 */
export function matchBoxes(references: readonly Box[], detections: readonly Box[], minIou: number): MatchResult {
  const pairs: { r: number; d: number; iou: number }[] = [];
  references.forEach((reference, r) =>
    detections.forEach((detection, d) => {
      const iou = intersectionOverUnion(reference, detection);
      if (iou >= minIou) pairs.push({ r, d, iou });
    }),
  );
  pairs.sort((a, b) => b.iou - a.iou);

  const referenceToDetection = references.map(() => -1);
  const iou = references.map(() => 0);
  const used = new Set<number>();
  for (const pair of pairs) {
    if (referenceToDetection[pair.r] !== -1 || used.has(pair.d)) continue;
    referenceToDetection[pair.r] = pair.d;
    iou[pair.r] = pair.iou;
    used.add(pair.d);
  }
  const unmatchedDetections = detections.map((_, d) => d).filter((d) => !used.has(d));
  return { referenceToDetection, iou, matched: used.size, unmatchedDetections };
}
