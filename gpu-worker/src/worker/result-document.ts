import { jobKeys, type ParsingMask } from '@faceptor/core';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Returns a copy of a result document whose `faces[n].parsing.mask` is the object key of face n's
 * stored mask (`jobs/<jobId>/parsing-<n>.png`). The API turns keys into URLs when it serves the result.
 * Faces without a mask, and documents without a `faces` list, are returned unchanged.
 */
export function attachMaskKeys(result: unknown, jobId: string, masks: readonly ParsingMask[]): unknown {
  if (!isRecord(result) || !Array.isArray(result.faces) || masks.length === 0) return result;

  const masked = new Set(masks.map((mask) => mask.faceIndex));
  const faces = result.faces.map((face: unknown, faceIndex) => {
    if (!masked.has(faceIndex) || !isRecord(face) || !isRecord(face.parsing)) return face;
    return { ...face, parsing: { ...face.parsing, mask: jobKeys.parsingMask(jobId, faceIndex) } };
  });
  return { ...result, faces };
}
