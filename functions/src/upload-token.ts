import { createHmac, timingSafeEqual } from 'node:crypto';
import { ForbiddenError } from '@faceptor/core';

/** Grant of an upload token: one upload of at most `maxBytes` to job `jobId` until `expiresAt`. */
export interface UploadGrant {
  jobId: string;
  maxBytes: number;
  expiresAt: Date;
}

const tokenPattern = /^([0-9a-f]{32})\.(\d{1,15})\.(\d{1,12})\.([A-Za-z0-9_-]{43})$/;

/**
 * Signs and checks the embedded mode's upload tokens: `<jobId>.<maxBytes>.<expiry unix s>.<signature>`,
 * where the signature is HMAC-SHA256 over the first three fields with a server secret, in base64url.
 * The fields travel in the clear, so the token is URL-safe and needs no server-side lookup.
 */
export class UploadTokenSigner {
  private readonly secret: Uint8Array;

  constructor(secret: Uint8Array) {
    if (secret.byteLength < 32) throw new RangeError(`upload signing secret must have at least 32 bytes, got ${secret.byteLength}`);
    this.secret = secret;
  }

  private signature(payload: string): Buffer {
    return createHmac('sha256', this.secret).update(payload, 'utf8').digest();
  }

  /** Returns the token for `grant`. The expiry is rounded down to whole seconds. */
  sign(grant: UploadGrant): string {
    const payload = `${grant.jobId}.${grant.maxBytes}.${Math.floor(grant.expiresAt.getTime() / 1000)}`;
    return `${payload}.${this.signature(payload).toString('base64url')}`;
  }

  /**
   * Returns the grant of a valid token. Throws ForbiddenError with code `invalid_signature` for a
   * malformed or forged token, and `upload_url_expired` for a genuine one past its expiry.
   */
  verify(token: string, now: Date = new Date()): UploadGrant {
    const match = tokenPattern.exec(token);
    const invalid = () => new ForbiddenError('upload URL signature is invalid: request a new upload URL with POST /v1/jobs', { code: 'invalid_signature' });
    if (!match) throw invalid();

    const [, jobId, maxBytes, expiresAtSec, signature] = match as unknown as [string, string, string, string, string];
    // Compare the text, not decoded bytes: base64url decoding ignores the low bits of the last character,
    // so several spellings decode to the same bytes and only the canonical one may pass.
    const expected = Buffer.from(this.signature(`${jobId}.${maxBytes}.${expiresAtSec}`).toString('base64url'));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw invalid();

    const expiresAt = new Date(Number(expiresAtSec) * 1000);
    if (now.getTime() >= expiresAt.getTime()) {
      throw new ForbiddenError(`upload URL expired at ${expiresAt.toISOString()}: create a new job with POST /v1/jobs`, {
        code: 'upload_url_expired',
        context: { jobId },
      });
    }
    return { jobId, maxBytes: Number(maxBytes), expiresAt };
  }
}
