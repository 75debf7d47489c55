import { readFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { photosDir } from '../../../test/support/requirements.ts';
import { decodeImage, type DecodedImage } from '../decode/decode-image.ts';
import { parsingColor, renderOverlay, type OverlayFace } from './render-overlay.ts';

let photo: DecodedImage;

beforeAll(async () => {
  photo = await decodeImage(await readFile(path.join(photosDir, 'astronaut.png')), { maxPixels: 10_000_000 });
});

async function decodePng(png: Uint8Array): Promise<{ width: number; height: number; format: string | undefined; data: Buffer }> {
  const metadata = await sharp(png).metadata();
  const data = await sharp(png).removeAlpha().raw().toBuffer();
  return { width: metadata.width!, height: metadata.height!, format: metadata.format, data };
}

function rgbAt(data: Uint8Array, width: number, x: number, y: number): number[] {
  const offset = (y * width + x) * 3;
  return [data[offset]!, data[offset + 1]!, data[offset + 2]!];
}

function squareLabels(image: DecodedImage, left: number, top: number, side: number, label: number): Uint8Array {
  const labels = new Uint8Array(image.width * image.height);
  for (let y = top; y < top + side; y++) labels.fill(label, y * image.width + left, y * image.width + left + side);
  return labels;
}

describe('renderOverlay', () => {
  it('draws box, landmarks and parsing and leaves far pixels untouched', async () => {
    const face: OverlayFace = {
      box: { x: 199.5, y: 99.5, width: 100, height: 120 },
      score: 0.97,
      landmarks: [
        [250, 150],
        [270, 150],
      ],
      parsing: { labels: squareLabels(photo, 400, 400, 20, 2), names: ['background', 'skin', 'hair'] },
    };
    const png = await renderOverlay(photo, [face]);

    const out = await decodePng(png);
    expect(out.format).toBe('png');
    expect([out.width, out.height]).toEqual([photo.width, photo.height]);

    // Left edge of the box at pixel-edge 200, halfway down; and the first landmark.
    expect(rgbAt(out.data, out.width, 200, 160)).not.toEqual(rgbAt(photo.data, photo.width, 200, 160));
    expect(rgbAt(out.data, out.width, 250, 150)).not.toEqual(rgbAt(photo.data, photo.width, 250, 150));
    // Inside the box but away from edges, dots and text, the photo shows through unchanged.
    expect(rgbAt(out.data, out.width, 230, 200)).toEqual(rgbAt(photo.data, photo.width, 230, 200));
    for (const [x, y] of [
      [480, 300],
      [10, 500],
      [450, 50],
    ] as const) {
      expect(rgbAt(out.data, out.width, x, y), `pixel ${x},${y}`).toEqual(rgbAt(photo.data, photo.width, x, y));
    }

    // Parsing pixels are the class colour blended over the photo at the default opacity.
    const alpha = Math.round(0.45 * 255) / 255;
    const original = rgbAt(photo.data, photo.width, 410, 410);
    const color = parsingColor(2);
    rgbAt(out.data, out.width, 410, 410).forEach((value, channel) => {
      const expected = original[channel]! * (1 - alpha) + color[channel]! * alpha;
      expect(Math.abs(value - expected), `channel ${channel}`).toBeLessThanOrEqual(2);
    });
    expect(rgbAt(out.data, out.width, 425, 410)).toEqual(rgbAt(photo.data, photo.width, 425, 410));
  });

  it('returns the photo unchanged when there are no faces', async () => {
    const out = await decodePng(await renderOverlay(photo, []));
    expect(Buffer.compare(out.data, Buffer.from(photo.data))).toBe(0);
  });

  it('rejects a parsing map of the wrong size', async () => {
    const face: OverlayFace = { box: { x: 0, y: 0, width: 10, height: 10 }, parsing: { labels: new Uint8Array(100), names: ['background', 'skin'] } };
    await expect(renderOverlay(photo, [face])).rejects.toThrow(RangeError);
    await expect(renderOverlay(photo, [face])).rejects.toThrow(/faces\[0\]\.parsing\.labels has 100 values, expected one per image pixel \(512x512 = 262144\)/);
  });

  it('rejects a label without a name', async () => {
    const face: OverlayFace = { box: { x: 0, y: 0, width: 10, height: 10 }, parsing: { labels: squareLabels(photo, 0, 0, 4, 5), names: ['background', 'skin'] } };
    await expect(renderOverlay(photo, [face])).rejects.toThrow(/contains label 5, but names has only 2 entries \(valid labels 0-1\)/);
  });

  it('rejects non-finite boxes and landmarks', async () => {
    await expect(renderOverlay(photo, [{ box: { x: Number.NaN, y: 0, width: 1, height: 1 } }])).rejects.toThrow(/faces\[0\]\.box must have finite/);
    await expect(renderOverlay(photo, [{ box: { x: 0, y: 0, width: 1, height: 1 }, landmarks: [[1, Number.POSITIVE_INFINITY]] }])).rejects.toThrow(
      /faces\[0\]\.landmarks\[0\] must be a finite \[x, y\] pair/,
    );
  });

  it('escapes class names in the legend', async () => {
    const face: OverlayFace = { box: { x: 0, y: 0, width: 10, height: 10 }, parsing: { labels: squareLabels(photo, 100, 100, 4, 1), names: ['background', '<eyes & "brows">'] } };
    const out = await decodePng(await renderOverlay(photo, [face]));
    expect([out.width, out.height]).toEqual([512, 512]);
  });
});
