import { describe, expect, it } from 'vitest';
import { sniffImageFormat } from './sniff.ts';

function bytes(...parts: (string | number[])[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((part) => (typeof part === 'string' ? [...Buffer.from(part, 'latin1')] : part)));
}

/** Builds an ISO-BMFF `ftyp` box with the given major and compatible brands, followed by padding. */
function ftyp(major: string, ...compatible: string[]): Uint8Array {
  const size = 16 + 4 * compatible.length;
  return bytes([0, 0, 0, size], 'ftyp', major, [0, 0, 0, 0], ...compatible, [0, 0, 0, 0]);
}

describe('sniffImageFormat', () => {
  it('identifies the accepted formats by magic bytes', () => {
    expect(sniffImageFormat(bytes([0xff, 0xd8, 0xff, 0xe0]))).toBe('jpeg');
    expect(sniffImageFormat(bytes([0x89], 'PNG', [0x0d, 0x0a, 0x1a, 0x0a]))).toBe('png');
    expect(sniffImageFormat(bytes('RIFF', [0, 0, 0, 0], 'WEBPVP8 '))).toBe('webp');
    expect(sniffImageFormat(ftyp('avif', 'mif1', 'miaf'))).toBe('avif');
    expect(sniffImageFormat(ftyp('mif1', 'avif'))).toBe('avif');
    expect(sniffImageFormat(ftyp('avis', 'msf1'))).toBe('avif');
  });

  it('names rejected formats', () => {
    expect(sniffImageFormat(bytes('GIF89a'))).toBe('gif');
    expect(sniffImageFormat(bytes([0x49, 0x49, 0x2a, 0x00]))).toBe('tiff');
    expect(sniffImageFormat(bytes([0x4d, 0x4d, 0x00, 0x2a]))).toBe('tiff');
    expect(sniffImageFormat(ftyp('heic', 'mif1', 'heic'))).toBe('heic');
    expect(sniffImageFormat(ftyp('mif1', 'heic'))).toBe('heic');
    expect(sniffImageFormat(bytes('BM6'))).toBe('bmp');
    expect(sniffImageFormat(bytes('%PDF-1.7'))).toBe('pdf');
    expect(sniffImageFormat(bytes('<svg xmlns="http://www.w3.org/2000/svg"/>'))).toBe('svg');
    expect(sniffImageFormat(bytes([0xef, 0xbb, 0xbf], '\n <?xml version="1.0"?><svg/>'))).toBe('svg');
  });

  it('returns unknown for short or unrelated bytes', () => {
    expect(sniffImageFormat(new Uint8Array(0))).toBe('unknown');
    expect(sniffImageFormat(bytes([0xff, 0xd8]))).toBe('unknown');
    expect(sniffImageFormat(bytes('plain text'))).toBe('unknown');
    expect(sniffImageFormat(ftyp('isom', 'mp41'))).toBe('unknown');
  });
});
