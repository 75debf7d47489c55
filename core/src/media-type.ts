/** Image formats accepted for upload, by media type. */
export const IMAGE_MEDIA_TYPES = ['image/jpeg', 'image/png', 'image/webp', 'image/avif'] as const;
export type ImageMediaType = (typeof IMAGE_MEDIA_TYPES)[number];

/** Bytes {@link sniffImageType} needs to tell the formats apart. */
export const SNIFF_BYTES = 64;

const ascii = (bytes: Uint8Array, start: number, end: number) => String.fromCharCode(...bytes.subarray(start, end));

function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

function isPng(bytes: Uint8Array): boolean {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  return bytes.length >= signature.length && signature.every((byte, i) => bytes[i] === byte);
}

function isWebp(bytes: Uint8Array): boolean {
  return bytes.length >= 12 && ascii(bytes, 0, 4) === 'RIFF' && ascii(bytes, 8, 12) === 'WEBP';
}

/**
 * An ISO-BMFF file starts with an `ftyp` box: size (4 bytes), `ftyp`, major brand, minor version,
 * then compatible brands. AVIF files carry brand `avif` (still) or `avis` (sequence) as major or compatible brand.
 */
function isAvif(bytes: Uint8Array): boolean {
  if (bytes.length < 16 || ascii(bytes, 4, 8) !== 'ftyp') return false;

  const boxSize = ((bytes[0]! << 24) >>> 0) + (bytes[1]! << 16) + (bytes[2]! << 8) + bytes[3]!;
  const end = Math.min(bytes.length, boxSize);
  const brands = [ascii(bytes, 8, 12)];
  for (let offset = 16; offset + 4 <= end; offset += 4) brands.push(ascii(bytes, offset, offset + 4));
  return brands.includes('avif') || brands.includes('avis');
}

/**
 * Returns the image format that the leading bytes (magic numbers) show, or null for anything else.
 * Reads at most the first {@link SNIFF_BYTES} bytes. It checks the signature only: a file with a valid
 * signature can still be truncated or corrupt, which the decoder finds later.
 */
export function sniffImageType(bytes: Uint8Array): ImageMediaType | null {
  const head = bytes.subarray(0, SNIFF_BYTES);
  if (isJpeg(head)) return 'image/jpeg';
  if (isPng(head)) return 'image/png';
  if (isWebp(head)) return 'image/webp';
  if (isAvif(head)) return 'image/avif';
  return null;
}
