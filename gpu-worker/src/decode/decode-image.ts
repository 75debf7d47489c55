/**
 * Decoding of uploaded image bytes into 8-bit sRGB RGB pixels with sharp (libvips).
 *
 * Every accepted upload ends up in the same form, whatever its encoding: EXIF orientation applied,
 * grayscale, CMYK and 16-bit input converted to 8-bit sRGB, alpha flattened onto {@link alphaBackground},
 * and only the first frame of an animation kept.
 *
 * NOTE: libvips 8.18 reads an animated PNG (APNG) as a still PNG, that is its default image. That image is
 * the first frame unless the file marks it as outside the animation, a case the tests do not cover.
 */
import { InvalidImageError } from '@faceptor/core';
import sharp, { type Metadata, type OutputInfo } from 'sharp';
import { acceptedImageFormats, sniffImageFormat, type AcceptedImageFormat } from './sniff.ts';

/** A decoded image: 8-bit RGB samples in row-major HWC order, `width * height * 3` bytes. */
export interface DecodedImage {
  width: number;
  height: number;
  data: Uint8Array;
  /** Format found in the bytes themselves (never taken from a file name or Content-Type). */
  format: AcceptedImageFormat;
  /** True when the header carried an EXIF orientation other than 1, so the pixels were rotated or mirrored. */
  orientationApplied: boolean;
}

export interface DecodeOptions {
  /** Maximum `width * height` of the image (the first frame for animations); checked from the header before decoding. */
  maxPixels: number;
}

/** Colour that transparent pixels are flattened onto: white, as an image viewer on a white page shows them. */
export const alphaBackground = { r: 255, g: 255, b: 255 } as const;

/**
 * Decodes JPEG, PNG, WebP or AVIF bytes to 8-bit sRGB RGB with EXIF orientation applied.
 *
 * Throws {@link InvalidImageError} (code `invalid_image`) for any other format (SVG, GIF, TIFF, HEIC, ...),
 * for an image over `options.maxPixels`, and for truncated or corrupt data. Throws `RangeError` when
 * `options.maxPixels` is not a positive integer.
 */
export async function decodeImage(bytes: Uint8Array, options: DecodeOptions): Promise<DecodedImage> {
  const { maxPixels } = options;
  if (!Number.isSafeInteger(maxPixels) || maxPixels <= 0) {
    throw new RangeError(`decodeImage: maxPixels must be a positive integer, got ${String(maxPixels)}`);
  }
  if (bytes.byteLength === 0) {
    throw new InvalidImageError('the image is empty (0 bytes): send a JPEG, PNG, WebP or AVIF file');
  }
  const input = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  const format = checkFormat(input);
  const header = await readHeader(input, format, maxPixels);

  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(input, { limitInputPixels: maxPixels, failOn: 'warning', pages: 1, page: 0 })
      .rotate()
      .flatten({ background: alphaBackground })
      .toColourspace('srgb')
      .raw({ depth: 'uchar' })
      .toBuffer({ resolveWithObject: true });
  } catch (cause) {
    throw new InvalidImageError(
      `the ${format.toUpperCase()} image could not be decoded (${errorText(cause)}): the file is truncated or corrupt; re-encode it and submit it again (as a new job)`,
      { cause },
    );
  }

  const { width, height, channels } = decoded.info;
  if (channels !== 3) {
    // flatten() and toColourspace('srgb') always give 3 bands for these formats; anything else is a sharp change.
    throw new Error(`decodeImage: sharp returned ${channels} channels for a ${format} image, expected 3 (RGB)`);
  }
  return {
    width,
    height,
    data: new Uint8Array(decoded.data.buffer, decoded.data.byteOffset, decoded.data.byteLength),
    format,
    orientationApplied: header.orientation !== undefined && header.orientation !== 1,
  };
}

/** Identifies the format from the magic bytes and rejects everything but the accepted formats. */
function checkFormat(input: Buffer): AcceptedImageFormat {
  const sniffed = sniffImageFormat(input);
  if ((acceptedImageFormats as readonly string[]).includes(sniffed)) return sniffed as AcceptedImageFormat;

  const what = sniffed === 'unknown' ? 'not a recognized image format' : `in ${sniffed.toUpperCase()} format`;
  throw new InvalidImageError(
    `the image is ${what}; accepted formats are ${acceptedImageFormats.map((f) => f.toUpperCase()).join(', ')}: convert the image to one of them`,
  );
}

/**
 * Reads the header only (no pixel decoding), checks that sharp reports the same format as the magic bytes,
 * and applies the pixel limit with the image's own dimensions in the message.
 */
async function readHeader(input: Buffer, format: AcceptedImageFormat, maxPixels: number): Promise<Metadata> {
  let metadata: Metadata;
  try {
    // The limit is checked below, with the dimensions in the message; the decode call sets limitInputPixels as well.
    metadata = await sharp(input, { limitInputPixels: false, pages: 1, page: 0 }).metadata();
  } catch (cause) {
    throw new InvalidImageError(
      `the ${format.toUpperCase()} header could not be read (${errorText(cause)}): the file is truncated or corrupt; re-encode it and submit it again (as a new job)`,
      { cause },
    );
  }

  const sharpFormat = metadata.format === 'heif' && metadata.compression === 'av1' ? 'avif' : metadata.format;
  if (sharpFormat !== format) {
    const found = metadata.format === 'heif' ? `HEIF with ${metadata.compression ?? 'unknown'} compression` : String(metadata.format);
    throw new InvalidImageError(
      `the file starts like ${format.toUpperCase()} but decodes as ${found}; accepted formats are ${acceptedImageFormats.map((f) => f.toUpperCase()).join(', ')}`,
    );
  }

  const { width, height } = metadata;
  if (!width || !height) {
    throw new InvalidImageError(`the ${format.toUpperCase()} header has no image size: the file is corrupt; re-encode it and submit it again (as a new job)`);
  }
  if (width * height > maxPixels) {
    throw new InvalidImageError(
      `the image is ${width}x${height} = ${width * height} pixels, over the limit of ${maxPixels} pixels: downscale it and submit it again (as a new job)`,
    );
  }
  return metadata;
}

/** Format the error's message on one line, giving each repeated libvips line once. */
function errorText(error: unknown): string {
  const lines = (error instanceof Error ? error.message : String(error))
    .split('\n')
    .map((line) => line.trim().replace(/\s+/g, ' '))
    .filter((line) => line.length > 0);
  return [...new Set(lines)].join('; ');
}
