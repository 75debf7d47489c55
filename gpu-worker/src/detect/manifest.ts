/**
 * Reader of a face detector folder's `manifest.json` (format `faceptor.detector/v1`).
 *
 * The detector takes its input size, normalization, output names, box encoding and default thresholds
 * from this file and from nowhere else.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import path from 'node:path';

export const detectorManifestFormat = 'faceptor.detector/v1';

/** Box encodings a detector may declare for its box output. */
export const boxEncodings = ['xyxy-normalized'] as const;
export type BoxEncoding = (typeof boxEncodings)[number];

export interface DetectorManifest {
  format: typeof detectorManifestFormat;
  name: string;
  version: string;
  /** Graph file, relative to the manifest's folder. */
  file: string;
  sha256: string;
  input: {
    name: string;
    width: number;
    height: number;
    /** Fixed batch size of the graph, or `"dynamic"` when the batch axis is symbolic. */
    batch: number | 'dynamic';
    layout: 'NCHW';
    channel_order: 'RGB' | 'BGR';
    /** Per channel (in `channel_order`), applied to 0-255 samples as (sample - mean) / std. */
    mean: [number, number, number];
    std: [number, number, number];
  };
  outputs: {
    /** Class probabilities [batch, anchors, classes]. */
    scores: { name: string; face_class_index: number };
    /** Boxes [batch, anchors, 4]. `xyxy-normalized`: corners as fractions of the input width and height. */
    boxes: { name: string; encoding: BoxEncoding };
  };
  defaults: {
    score_threshold: number;
    nms_iou_threshold: number;
    min_face_size_px: number;
  };
  tiling: {
    reliable_face_px: number;
    target_face_size_px: number;
    overlap_px: number;
    edge_margin_px: number;
    max_extra_levels: number;
    max_windows: number;
  };
  /** Second run per face, with the face scaled to `face_px` (see UltraFaceOptions.verify). */
  verification: {
    face_px: number;
    score_threshold: number;
    min_iou: number;
  };
  source: Record<string, unknown>;
  license: { id: string; notes: string };
}

/** A manifest is missing a field or has a wrong value; the message lists every problem at once. */
export class DetectorManifestError extends Error {
  override readonly name = 'DetectorManifestError';
  constructor(
    readonly manifestPath: string,
    readonly problems: readonly string[],
  ) {
    super(`invalid detector manifest ${manifestPath}:\n  ${problems.join('\n  ')}`);
  }
}

/** A manifest together with the absolute path of its graph file. */
export interface DetectorFolder {
  dir: string;
  manifest: DetectorManifest;
  graphFile: string;
}

/**
 * Reads and checks `<dir>/manifest.json`. With `verifyChecksum` the graph file's SHA-256 is compared with
 * the manifest (the UltraFace graph is 1.2 MB, so this costs a few milliseconds).
 */
export async function openDetectorFolder(dir: string, options: { verifyChecksum?: boolean } = {}): Promise<DetectorFolder> {
  const manifestPath = path.join(dir, 'manifest.json');
  let json: unknown;
  try {
    json = JSON.parse(await readFile(manifestPath, 'utf8'));
  } catch (cause) {
    throw new DetectorManifestError(manifestPath, [`cannot read or parse the file: ${String(cause)}`]);
  }
  const manifest = parseDetectorManifest(json, manifestPath);
  const graphFile = path.resolve(dir, manifest.file);

  if (options.verifyChecksum ?? true) {
    let bytes: Buffer;
    try {
      bytes = await readFile(graphFile);
    } catch (cause) {
      throw new DetectorManifestError(manifestPath, [`file: cannot read the graph ${graphFile}: ${String(cause)}`]);
    }
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== manifest.sha256) {
      throw new DetectorManifestError(manifestPath, [
        `sha256: the graph ${graphFile} has SHA-256 ${actual}, the manifest expects ${manifest.sha256}; restore the file (see the folder's README)`,
      ]);
    }
  }
  return { dir, manifest, graphFile };
}

/** Checks the shape of a parsed manifest and returns it typed; throws {@link DetectorManifestError} listing every problem. */
export function parseDetectorManifest(json: unknown, manifestPath = 'manifest.json'): DetectorManifest {
  const problems: string[] = [];
  const check = new FieldChecker(json, problems);

  check.literal('format', detectorManifestFormat);
  check.text('name');
  check.text('version');
  check.text('file');
  check.matches('sha256', /^[0-9a-f]{64}$/, 'a 64-digit lowercase hex SHA-256');

  check.text('input.name');
  check.positiveInteger('input.width');
  check.positiveInteger('input.height');
  const batch = check.value('input.batch');
  if (batch !== 'dynamic' && !(Number.isInteger(batch) && (batch as number) > 0)) problems.push(`input.batch: expected a positive integer or "dynamic", got ${JSON.stringify(batch)}`);
  check.literal('input.layout', 'NCHW');
  check.oneOf('input.channel_order', ['RGB', 'BGR']);
  check.numberTriple('input.mean', false);
  check.numberTriple('input.std', true);

  check.text('outputs.scores.name');
  check.nonNegativeInteger('outputs.scores.face_class_index');
  check.text('outputs.boxes.name');
  check.oneOf('outputs.boxes.encoding', boxEncodings);

  check.fraction('defaults.score_threshold');
  check.fraction('defaults.nms_iou_threshold');
  check.nonNegativeNumber('defaults.min_face_size_px');

  check.positiveNumber('tiling.reliable_face_px');
  check.positiveNumber('tiling.target_face_size_px');
  check.nonNegativeInteger('tiling.overlap_px');
  check.nonNegativeNumber('tiling.edge_margin_px');
  check.nonNegativeInteger('tiling.max_extra_levels');
  check.positiveInteger('tiling.max_windows');

  check.positiveNumber('verification.face_px');
  check.fraction('verification.score_threshold');
  check.fraction('verification.min_iou');

  check.object('source');
  check.text('license.id');
  check.text('license.notes');

  if (problems.length > 0) throw new DetectorManifestError(manifestPath, problems);
  return json as DetectorManifest;
}

/** Collects problems for dotted field paths of one JSON value. */
class FieldChecker {
  constructor(
    private readonly root: unknown,
    private readonly problems: string[],
  ) {}

  value(fieldPath: string): unknown {
    let current: unknown = this.root;
    for (const key of fieldPath.split('.')) {
      if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
      current = (current as Record<string, unknown>)[key];
    }
    return current;
  }

  private expect(fieldPath: string, ok: (value: unknown) => boolean, expected: string): void {
    const value = this.value(fieldPath);
    if (value === undefined) this.problems.push(`${fieldPath}: missing, expected ${expected}`);
    else if (!ok(value)) this.problems.push(`${fieldPath}: expected ${expected}, got ${JSON.stringify(value)}`);
  }

  literal(fieldPath: string, expected: string): void {
    this.expect(fieldPath, (v) => v === expected, JSON.stringify(expected));
  }

  oneOf(fieldPath: string, allowed: readonly string[]): void {
    this.expect(fieldPath, (v) => allowed.includes(v as string), `one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }

  text(fieldPath: string): void {
    this.expect(fieldPath, (v) => typeof v === 'string' && v.length > 0, 'a non-empty string');
  }

  matches(fieldPath: string, pattern: RegExp, expected: string): void {
    this.expect(fieldPath, (v) => typeof v === 'string' && pattern.test(v), expected);
  }

  object(fieldPath: string): void {
    this.expect(fieldPath, (v) => typeof v === 'object' && v !== null && !Array.isArray(v), 'an object');
  }

  positiveInteger(fieldPath: string): void {
    this.expect(fieldPath, (v) => Number.isInteger(v) && (v as number) > 0, 'a positive integer');
  }

  nonNegativeInteger(fieldPath: string): void {
    this.expect(fieldPath, (v) => Number.isInteger(v) && (v as number) >= 0, 'a non-negative integer');
  }

  positiveNumber(fieldPath: string): void {
    this.expect(fieldPath, (v) => typeof v === 'number' && Number.isFinite(v) && v > 0, 'a positive number');
  }

  nonNegativeNumber(fieldPath: string): void {
    this.expect(fieldPath, (v) => typeof v === 'number' && Number.isFinite(v) && v >= 0, 'a non-negative number');
  }

  fraction(fieldPath: string): void {
    this.expect(fieldPath, (v) => typeof v === 'number' && v >= 0 && v <= 1, 'a number in [0, 1]');
  }

  numberTriple(fieldPath: string, positive: boolean): void {
    this.expect(
      fieldPath,
      (v) => Array.isArray(v) && v.length === 3 && v.every((n) => typeof n === 'number' && Number.isFinite(n) && (!positive || n > 0)),
      positive ? 'three positive numbers' : 'three numbers',
    );
  }
}
