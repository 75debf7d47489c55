/**
 * Image format detection from the first bytes of a file (magic numbers), so that only the accepted
 * formats ever reach a decoder. Uploads carry a name and a Content-Type, but neither is trusted here.
 */

/** Formats the worker decodes. */
export const acceptedImageFormats = ['jpeg', 'png', 'webp', 'avif'] as const;
export type AcceptedImageFormat = (typeof acceptedImageFormats)[number];

/** Result of {@link sniffImageFormat}: an accepted format, a known format that is rejected, or `unknown`. */
export type SniffedFormat = AcceptedImageFormat | 'gif' | 'tiff' | 'heic' | 'svg' | 'bmp' | 'jpeg2000' | 'jxl' | 'pdf' | 'unknown';

const isoBmffAvifBrands = new Set(['avif', 'avis']);
const isoBmffHeicBrands = new Set(['heic', 'heix', 'heim', 'heis', 'hevc', 'hevx', 'mif1', 'msf1']);

/**
 * Returns the format that the magic bytes at the start of `bytes` identify.
 *
 * AVIF and HEIC share the ISO-BMFF container: a file is AVIF when `avif` or `avis` appears among the
 * `ftyp` box's major and compatible brands, and HEIC when only HEIF brands such as `heic` or `mif1` do.
 */
export function sniffImageFormat(bytes: Uint8Array): SniffedFormat {
  if (startsWith(bytes, [0xff, 0xd8, 0xff])) return 'jpeg';
  if (startsWith(bytes, [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) return 'png';
  if (ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 4) === 'WEBP') return 'webp';
  if (ascii(bytes, 0, 4) === 'GIF8') return 'gif';
  if (startsWith(bytes, [0x49, 0x49, 0x2a, 0x00]) || startsWith(bytes, [0x4d, 0x4d, 0x00, 0x2a])) return 'tiff';
  if (ascii(bytes, 0, 2) === 'BM') return 'bmp';
  if (ascii(bytes, 0, 5) === '%PDF-') return 'pdf';
  if (startsWith(bytes, [0xff, 0x0a]) || startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x4a, 0x58, 0x4c, 0x20])) return 'jxl';
  if (startsWith(bytes, [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20]) || startsWith(bytes, [0xff, 0x4f, 0xff, 0x51])) return 'jpeg2000';

  const brands = isoBmffBrands(bytes);
  if (brands.some((brand) => isoBmffAvifBrands.has(brand))) return 'avif';
  if (brands.some((brand) => isoBmffHeicBrands.has(brand))) return 'heic';

  if (looksLikeSvg(bytes)) return 'svg';
  return 'unknown';
}

function startsWith(bytes: Uint8Array, prefix: readonly number[]): boolean {
  return bytes.length >= prefix.length && prefix.every((value, index) => bytes[index] === value);
}

function ascii(bytes: Uint8Array, start: number, length: number): string {
  if (bytes.length < start + length) return '';
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/** Major and compatible brands of a leading ISO-BMFF `ftyp` box, or none when the file does not start with one. */
function isoBmffBrands(bytes: Uint8Array): string[] {
  if (bytes.length < 16 || ascii(bytes, 4, 4) !== 'ftyp') return [];
  const boxSize = ((bytes[0] ?? 0) * 2 ** 24) + ((bytes[1] ?? 0) << 16) + ((bytes[2] ?? 0) << 8) + (bytes[3] ?? 0);
  const end = Math.min(bytes.length, boxSize);
  const brands = [ascii(bytes, 8, 4)];
  // Bytes 12-15 are the minor version; compatible brands follow in 4-byte steps up to the box end.
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, 4));
  return brands;
}

/** True for XML or SVG text: an optional byte order mark and whitespace, then `<?xml` or `<svg`. */
function looksLikeSvg(bytes: Uint8Array): boolean {
  const head = new TextDecoder('utf-8', { fatal: false }).decode(bytes.subarray(0, 1024)).replace(/^\uFEFF/, '').trimStart();
  return /^<(\?xml|svg|!DOCTYPE svg|!--)/i.test(head);
}
