import type { JobError, JobRecord, JobState, Task } from '@faceptor/core';

/** A job as the API returns it. */
export interface JobView {
  id: string;
  status: JobState;
  tasks: Task[];
  createdAt: string;
  updatedAt: string;
  finishedAt: string | null;
  /** Present while the job waits for its image. */
  upload?: { maxBytes: number; expiresAt: string };
  /** Present when the job failed. */
  error?: JobError;
  /** The faceptor.result/v1 document, present when the job succeeded. */
  result?: unknown;
}

/** Returns the URL path of a stored parsing mask. */
export function maskPath(jobId: string, faceIndex: number): string {
  return `/v1/jobs/${jobId}/parsing/${faceIndex}.png`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns a copy of `result` whose `faces[n].parsing.mask` is the absolute URL of face n's stored mask.
 * Faces without a stored mask and documents without a `faces` list are returned unchanged.
 */
export function withMaskUrls(result: unknown, record: JobRecord, baseUrl: string): unknown {
  if (!isRecord(result) || !Array.isArray(result.faces)) return result;

  const faces = result.faces.map((face: unknown, faceIndex) => {
    if (!isRecord(face) || !isRecord(face.parsing) || !record.parsingMasks.includes(faceIndex)) return face;
    return { ...face, parsing: { ...face.parsing, mask: `${baseUrl}${maskPath(record.id, faceIndex)}` } };
  });
  return { ...result, faces };
}

/** Builds the API view of a job; `result` is the stored result document of a succeeded job. */
export function toJobView(record: JobRecord, options: { result?: unknown; baseUrl: string }): JobView {
  const view: JobView = {
    id: record.id,
    status: record.state,
    tasks: record.tasks,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
    finishedAt: record.finishedAt,
  };
  if (record.state === 'awaiting_upload') view.upload = { maxBytes: record.upload.maxBytes, expiresAt: record.upload.expiresAt };
  if (record.error) view.error = record.error;
  if (record.state === 'succeeded' && options.result !== undefined) view.result = withMaskUrls(options.result, record, options.baseUrl);
  return view;
}
