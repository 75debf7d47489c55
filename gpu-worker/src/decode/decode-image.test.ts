import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { deflateSync } from 'node:zlib';
import { InvalidImageError } from '@faceptor/core';
import sharp, { type Sharp } from 'sharp';
import { describe, expect, it } from 'vitest';
import { photosDir } from '../../../test/support/requirements.ts';
import { alphaBackground, decodeImage, type DecodedImage } from './decode-image.ts';

const maxPixels = 40_000_000;

function pixel(image: DecodedImage, x: number, y: number): [number, number, number] {
  const offset = (y * image.width + x) * 3;
  return [image.data[offset]!, image.data[offset + 1]!, image.data[offset + 2]!];
}

function expectColorNear(actual: readonly number[], expected: readonly number[], tolerance: number): void {
  actual.forEach((value, channel) => {
    expect(Math.abs(value - expected[channel]!), `channel ${channel}: ${actual.join(',')} vs ${expected.join(',')}`).toBeLessThanOrEqual(tolerance);
  });
}

async function expectInvalidImage(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  const error = await promise.then(
    () => null,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(InvalidImageError);
  expect((error as InvalidImageError).code).toBe('invalid_image');
  expect((error as Error).message).toMatch(pattern);
}

/** Creates a blue `width` x `height` image with a red rectangle in its top-left quarter. */
function quadrantImage(width: number, height: number): Sharp {
  return sharp({ create: { width, height, channels: 3, background: { r: 0, g: 0, b: 255 } } }).composite([
    { input: { create: { width: width / 2, height: height / 2, channels: 3, background: { r: 255, g: 0, b: 0 } } }, left: 0, top: 0 },
  ]);
}

// Standard CRC-32 (polynomial 0xEDB88320), needed to write PNG chunks by hand.
function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0xedb88320 : crc >>> 1;
  }
  return (crc ^ 0xffffffff) >>> 0;
}

const pngSignature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

function pngChunk(type: string, body: Uint8Array): Buffer {
  const typeAndBody = Buffer.concat([Buffer.from(type, 'ascii'), body]);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(body.length);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(typeAndBody));
  return Buffer.concat([length, typeAndBody, crc]);
}

/** Writes a PNG whose IHDR declares `width` x `height` RGB pixels and whose IDAT is empty, so only the header is valid. */
function pngHeaderOnly(width: number, height: number): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; // bit depth
  ihdr[9] = 2; // colour type RGB
  return Buffer.concat([
    pngSignature,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', new Uint8Array(0)),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Writes a 16-bit PNG of colour type 2 (RGB) or 6 (RGBA) with `samples` in row-major order. */
function png16(width: number, height: number, colorType: 2 | 6, samples: Uint16Array): Buffer {
  const channels = colorType === 2 ? 3 : 4;
  const rowBytes = 1 + width * channels * 2;
  const scanlines = Buffer.alloc(rowBytes * height);
  for (let y = 0; y < height; y++) {
    scanlines[y * rowBytes] = 0; // filter type None
    for (let i = 0; i < width * channels; i++) scanlines.writeUInt16BE(samples[y * width * channels + i]!, y * rowBytes + 1 + i * 2);
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 16;
  ihdr[9] = colorType;
  return Buffer.concat([pngSignature, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(scanlines)), pngChunk('IEND', new Uint8Array(0))]);
}

describe('decodeImage on real photos', () => {
  it('decodes every fixture photo to 8-bit RGB of the header size', async () => {
    const files = [
      ...(await readdir(path.join(photosDir, 'dlib-examples'))).filter((f) => f.endsWith('.jpg')).map((f) => path.join(photosDir, 'dlib-examples', f)),
      path.join(photosDir, 'astronaut.png'),
      path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png'),
    ];
    expect(files.length).toBe(14);

    for (const file of files) {
      const bytes = await readFile(file);
      const metadata = await sharp(bytes).metadata();
      const image = await decodeImage(bytes, { maxPixels });
      expect(image.format, file).toBe(metadata.format);
      expect([image.width, image.height], file).toEqual([metadata.width, metadata.height]);
      expect(image.data.length, file).toBe(image.width * image.height * 3);
      expect(image.orientationApplied, file).toBe(false);
    }
  });

  it('expands the grayscale Solvay PNG to equal R, G and B', async () => {
    const bytes = await readFile(path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png'));
    expect((await sharp(bytes).metadata()).channels).toBe(1);

    const image = await decodeImage(bytes, { maxPixels });
    const [r, g, b] = pixel(image, 640, 463);
    expect(g).toBe(r);
    expect(b).toBe(r);
  });
});

describe('decodeImage conversions', () => {
  it('applies EXIF orientation 6 (rotate 90 degrees clockwise)', async () => {
    const bytes = await quadrantImage(60, 40).jpeg({ quality: 95 }).withMetadata({ orientation: 6 }).toBuffer();
    expect((await sharp(bytes).metadata()).orientation).toBe(6);

    const image = await decodeImage(bytes, { maxPixels });
    expect([image.width, image.height]).toEqual([40, 60]);
    expect(image.orientationApplied).toBe(true);
    // Rotating clockwise moves the stored top-left quarter to the displayed top-right quarter.
    expectColorNear(pixel(image, 30, 10), [255, 0, 0], 40);
    expectColorNear(pixel(image, 10, 10), [0, 0, 255], 40);
    expectColorNear(pixel(image, 30, 50), [0, 0, 255], 40);
  });

  it('leaves orientation 1 as stored', async () => {
    const bytes = await quadrantImage(60, 40).jpeg({ quality: 95 }).withMetadata({ orientation: 1 }).toBuffer();
    const image = await decodeImage(bytes, { maxPixels });
    expect([image.width, image.height]).toEqual([60, 40]);
    expect(image.orientationApplied).toBe(false);
    expectColorNear(pixel(image, 10, 10), [255, 0, 0], 40);
  });

  it('expands a grayscale JPEG to RGB', async () => {
    const bytes = await quadrantImage(64, 64).toColourspace('b-w').jpeg().toBuffer();
    expect((await sharp(bytes).metadata()).channels).toBe(1);

    const image = await decodeImage(bytes, { maxPixels });
    expect(image.format).toBe('jpeg');
    expect(image.data.length).toBe(64 * 64 * 3);
    const [r, g, b] = pixel(image, 48, 48);
    expect(g).toBe(r);
    expect(b).toBe(r);
  });

  it('converts a CMYK JPEG to sRGB', async () => {
    const bytes = await quadrantImage(64, 64).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(bytes).metadata()).space).toBe('cmyk');

    const image = await decodeImage(bytes, { maxPixels });
    expect(image.data.length).toBe(64 * 64 * 3);
    // A CMYK round trip is not exact because of gamut mapping through the ICC profiles, but the hues must survive.
    const red = pixel(image, 10, 10);
    const blue = pixel(image, 50, 50);
    expect(red[0]).toBeGreaterThan(180);
    expect(red[2]).toBeLessThan(90);
    expect(blue[2]).toBeGreaterThan(120);
    expect(blue[0]).toBeLessThan(90);
  });

  it('converts a 16-bit PNG to 8-bit', async () => {
    // 16-bit samples: white-ish red, 0x8080 (exactly 128 * 257) and 0x1234 (18.1 in 8 bits).
    const samples = new Uint16Array(8 * 8 * 3);
    for (let i = 0; i < 8 * 8; i++) samples.set([0xffff, 0x8080, 0x1234], i * 3);
    const bytes = png16(8, 8, 2, samples);
    const metadata = await sharp(bytes).metadata();
    expect([metadata.depth, metadata.channels]).toEqual(['ushort', 3]);

    const image = await decodeImage(bytes, { maxPixels });
    expect(image.data.length).toBe(8 * 8 * 3);
    expectColorNear(pixel(image, 3, 3), [255, 128, 18], 1);
  });

  it('flattens alpha of a 16-bit RGBA PNG', async () => {
    const samples = new Uint16Array(2 * 1 * 4);
    samples.set([0x0000, 0xffff, 0x0000, 0xffff], 0); // opaque green
    samples.set([0x0000, 0x0000, 0x0000, 0x0000], 4); // transparent black
    const bytes = png16(2, 1, 6, samples);
    expect((await sharp(bytes).metadata()).hasAlpha).toBe(true);

    const image = await decodeImage(bytes, { maxPixels });
    expect(pixel(image, 0, 0)).toEqual([0, 255, 0]);
    expect(pixel(image, 1, 0)).toEqual([alphaBackground.r, alphaBackground.g, alphaBackground.b]);
  });

  it('flattens alpha onto the documented background', async () => {
    const rgba = new Uint8Array(4 * 4 * 4);
    for (let i = 0; i < 16; i++) rgba.set(i < 8 ? [0, 200, 0, 255] : [0, 200, 0, 0], i * 4);
    rgba.set([0, 0, 0, 128], 15 * 4);
    const bytes = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } }).png().toBuffer();
    expect((await sharp(bytes).metadata()).hasAlpha).toBe(true);

    const image = await decodeImage(bytes, { maxPixels });
    expect(image.data.length).toBe(4 * 4 * 3);
    expect(pixel(image, 0, 0)).toEqual([0, 200, 0]);
    expect(pixel(image, 0, 2)).toEqual([alphaBackground.r, alphaBackground.g, alphaBackground.b]);
    // Half-transparent black over white is mid gray.
    expectColorNear(pixel(image, 3, 3), [127, 127, 127], 2);
  });

  it('keeps the first frame of an animated WebP', async () => {
    const frameColors = [
      [255, 0, 0],
      [0, 0, 255],
      [0, 255, 0],
    ];
    const strip = new Uint8Array(16 * 48 * 3);
    for (let i = 0; i < 16 * 48; i++) strip.set(frameColors[Math.floor(i / (16 * 16))]!, i * 3);
    const bytes = await sharp(strip, { raw: { width: 16, height: 48, channels: 3, pageHeight: 16 } })
      .webp({ lossless: true, loop: 0, delay: [100, 100, 100] })
      .toBuffer();
    expect((await sharp(bytes).metadata()).pages).toBe(3);

    const image = await decodeImage(bytes, { maxPixels });
    expect(image.format).toBe('webp');
    expect([image.width, image.height]).toEqual([16, 16]);
    expect(pixel(image, 8, 8)).toEqual([255, 0, 0]);
  });

  it('decodes AVIF', async () => {
    const bytes = await quadrantImage(64, 48).avif({ quality: 90 }).toBuffer();
    const image = await decodeImage(bytes, { maxPixels });
    expect(image.format).toBe('avif');
    expect([image.width, image.height]).toEqual([64, 48]);
    expectColorNear(pixel(image, 8, 8), [255, 0, 0], 40);
    expectColorNear(pixel(image, 56, 40), [0, 0, 255], 40);
  });

  it('decodes a WebP photo and returns a copy-free Uint8Array', async () => {
    const bytes = await sharp(path.join(photosDir, 'astronaut.png')).webp().toBuffer();
    const image = await decodeImage(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { maxPixels });
    expect(image.format).toBe('webp');
    expect([image.width, image.height]).toEqual([512, 512]);
    expect(image.data).toBeInstanceOf(Uint8Array);
  });
});

describe('decodeImage rejections', () => {
  it('rejects SVG before any rendering', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    await expectInvalidImage(decodeImage(Buffer.from(svg), { maxPixels }), /in SVG format; accepted formats are JPEG, PNG, WEBP, AVIF/);
    await expectInvalidImage(decodeImage(Buffer.from(`\uFEFF  <?xml version="1.0"?>\n${svg}`), { maxPixels }), /SVG/);
  });

  it('rejects GIF and TIFF', async () => {
    const base = sharp({ create: { width: 8, height: 8, channels: 3, background: 'red' } });
    await expectInvalidImage(decodeImage(await base.clone().gif().toBuffer(), { maxPixels }), /in GIF format/);
    await expectInvalidImage(decodeImage(await base.clone().tiff().toBuffer(), { maxPixels }), /in TIFF format/);
  });

  it('rejects a HEIC container', async () => {
    // ftyp box: size 24, major brand heic, minor version 0, compatible brands mif1 and heic.
    const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 24]), Buffer.from('ftypheic\0\0\0\0mif1heic', 'latin1')]);
    await expectInvalidImage(decodeImage(Buffer.concat([ftyp, Buffer.alloc(64)]), { maxPixels }), /in HEIC format/);
  });

  it('rejects bytes that are no image', async () => {
    await expectInvalidImage(decodeImage(Buffer.from('hello, this is text'), { maxPixels }), /not a recognized image format/);
    await expectInvalidImage(decodeImage(new Uint8Array(0), { maxPixels }), /empty \(0 bytes\)/);
  });

  it('rejects truncated JPEG and PNG', async () => {
    const noise = sharp({ create: { width: 128, height: 128, channels: 3, background: 'black', noise: { type: 'gaussian', mean: 128, sigma: 40 } } });
    const jpeg = await noise.clone().jpeg().toBuffer();
    const png = await noise.clone().png().toBuffer();
    await expectInvalidImage(decodeImage(jpeg.subarray(0, jpeg.length >> 1), { maxPixels }), /JPEG image could not be decoded .*truncated or corrupt/);
    await expectInvalidImage(decodeImage(png.subarray(0, png.length >> 1), { maxPixels }), /PNG image could not be decoded/);
    await expectInvalidImage(decodeImage(jpeg.subarray(0, 40), { maxPixels }), /JPEG (header|image) could not be (read|decoded)/);
  });

  it('rejects a JPEG with corrupt entropy-coded data', async () => {
    const jpeg = Buffer.from(await sharp(path.join(photosDir, 'astronaut.png')).jpeg().toBuffer());
    // Overwrite a run in the middle of the scan with bytes that are invalid Huffman codes and stray markers.
    for (let i = jpeg.length >> 1; i < (jpeg.length >> 1) + 2000; i++) jpeg[i] = i % 2 === 0 ? 0xff : 0xd0 + (i % 8);
    await expectInvalidImage(decodeImage(jpeg, { maxPixels }), /could not be decoded/);
  });

  it('rejects an oversized image from its header alone', async () => {
    // Only the header is valid, so a decode attempt would fail on the empty IDAT with a different message.
    const bytes = pngHeaderOnly(40_000, 30_000);
    await expectInvalidImage(decodeImage(bytes, { maxPixels }), /40000x30000 = 1200000000 pixels, over the limit of 40000000 pixels/);
  });

  it('rejects a real photo over a small limit', async () => {
    const bytes = await readFile(path.join(photosDir, 'astronaut.png'));
    await expectInvalidImage(decodeImage(bytes, { maxPixels: 512 * 511 }), /512x512 = 262144 pixels, over the limit of 261632/);
    await expect(decodeImage(bytes, { maxPixels: 512 * 512 })).resolves.toMatchObject({ width: 512, height: 512 });
  });

  it('rejects an invalid maxPixels option', async () => {
    const bytes = await readFile(path.join(photosDir, 'astronaut.png'));
    for (const bad of [0, -1, 1.5, Number.NaN]) {
      await expect(decodeImage(bytes, { maxPixels: bad })).rejects.toThrow(RangeError);
    }
    await expect(decodeImage(bytes, { maxPixels: 0 })).rejects.toThrow(/maxPixels must be a positive integer, got 0/);
  });
});
