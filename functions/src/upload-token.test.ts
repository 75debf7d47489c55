import { randomBytes } from 'node:crypto';
import { ForbiddenError } from '@faceptor/core';
import { describe, expect, it } from 'vitest';
import { UploadTokenSigner } from './upload-token.ts';

const jobId = '0123456789abcdef0123456789abcdef';
const expiresAt = new Date('2030-01-01T00:15:00Z');

function forbiddenCode(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ForbiddenError);
    return (error as ForbiddenError).code;
  }
  throw new Error('verify accepted the token');
}

describe('UploadTokenSigner', () => {
  const signer = new UploadTokenSigner(randomBytes(32));

  it('round-trips a grant', () => {
    const token = signer.sign({ jobId, maxBytes: 1000, expiresAt });

    expect(token).toMatch(/^[0-9a-f]{32}\.1000\.1893456900\.[A-Za-z0-9_-]{43}$/);
    expect(signer.verify(token, new Date('2030-01-01T00:00:00Z'))).toEqual({ jobId, maxBytes: 1000, expiresAt });
  });

  it('rejects non-canonical signature spellings', () => {
    const token = signer.sign({ jobId, maxBytes: 1000, expiresAt });
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const last = alphabet.indexOf(token.at(-1) as string);
    // A 43-character signature carries 256 bits in 258, so the last character's low 2 bits are padding:
    // the three other characters of its group of four decode to the same bytes.
    const group = last - (last % 4);
    const variants = [0, 1, 2, 3].filter((offset) => group + offset !== last).map((offset) => `${token.slice(0, -1)}${alphabet[group + offset]}`);

    for (const variant of variants) expect(forbiddenCode(() => signer.verify(variant, new Date('2030-01-01T00:00:00Z')))).toBe('invalid_signature');
  });

  it('rejects a token at its expiry', () => {
    const token = signer.sign({ jobId, maxBytes: 1000, expiresAt });

    expect(forbiddenCode(() => signer.verify(token, expiresAt))).toBe('upload_url_expired');
  });

  it('rejects changed fields', () => {
    const token = signer.sign({ jobId, maxBytes: 1000, expiresAt });
    const [id, max, expiry, signature] = token.split('.') as [string, string, string, string];
    const now = new Date('2030-01-01T00:00:00Z');
    const tampered = [
      [`${'f'.repeat(32)}`, max, expiry, signature],
      [id, '1001', expiry, signature],
      [id, max, String(Number(expiry) + 3600), signature],
      [id, max, expiry, `${signature.slice(0, -2)}AA`],
    ];
    for (const parts of tampered) expect(forbiddenCode(() => signer.verify(parts.join('.'), now)), parts.join('.')).toBe('invalid_signature');
  });

  it('rejects another server secret', () => {
    const token = new UploadTokenSigner(randomBytes(32)).sign({ jobId, maxBytes: 1000, expiresAt });

    expect(forbiddenCode(() => signer.verify(token, new Date('2030-01-01T00:00:00Z')))).toBe('invalid_signature');
  });

  it('rejects malformed tokens', () => {
    for (const token of ['', 'abc', `${jobId}.1000.1893456900`, `${jobId}.-1.1893456900.${'A'.repeat(43)}`]) {
      expect(forbiddenCode(() => signer.verify(token)), token).toBe('invalid_signature');
    }
  });

  it('requires a 32-byte secret', () => {
    expect(() => new UploadTokenSigner(new Uint8Array(16))).toThrow(/at least 32 bytes, got 16/);
  });
});
