import type { Task } from './tasks.ts';

/** One image for the analyzer, identified by the caller's id (the job id in the worker). */
export interface AnalyzeRequest {
  id: string;
  /** Encoded image bytes as uploaded (JPEG, PNG, WebP or AVIF). */
  image: Uint8Array;
  tasks: Task[];
}

/** Parsing label map of one face: a single-channel PNG in original image pixels, one class index per pixel. */
export interface ParsingMask {
  faceIndex: number;
  png: Uint8Array;
}

/**
 * Outcome of one request. A face-free image is `ok: true` with no faces. `ok: false` is only for
 * images that cannot be decoded or are rejected, such as corrupt files, unsupported formats or too many pixels.
 */
export type AnalyzeOutcome =
  | { ok: true; result: unknown /* faceptor.result/v1 JSON, validated by the pipeline */; masks: ParsingMask[] }
  | { ok: false; code: 'invalid_image'; message: string };

/**
 * The port the queue worker calls. `analyzeBatch` returns one outcome per request, in request order.
 * It rejects only for failures that are not the image's fault (a model graph failing to run, for example);
 * the worker retries those.
 */
export interface ImageAnalyzer {
  analyzeBatch(requests: AnalyzeRequest[]): Promise<AnalyzeOutcome[]>;
  close(): Promise<void>;
}
