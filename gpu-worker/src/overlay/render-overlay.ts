/**
 * A picture of the analysis for people: the photo with face boxes, scores, landmark dots and a
 * semi-transparent coloured parsing map, encoded as PNG.
 *
 * The parsing colours are composited from a raw RGBA buffer. Boxes, dots and text come from an SVG that
 * this module writes itself, so no user input reaches librsvg (the decoder rejects uploaded SVG files).
 */
import sharp, { type OverlayOptions as SharpOverlayOptions } from 'sharp';
import type { DecodedImage } from '../decode/decode-image.ts';
import type { Box, Point } from '../detect/types.ts';

/** One face to draw. Coordinates are image pixels with pixel centers at integers, as in detections. */
export interface OverlayFace {
  box: Box;
  score?: number;
  landmarks?: Point[];
  parsing?: {
    /** One class index per image pixel, row-major, `width * height` values. Label 0 is background and is not drawn. */
    labels: Uint8Array;
    /** Class names by index; every label value must be below `names.length`. */
    names: string[];
  };
}

export interface OverlayOptions {
  /** Opacity of the parsing colours in [0, 1]. Default 0.45. */
  parsingOpacity?: number;
  /** Draw the score above each box and a legend of the parsing classes present. Default true. */
  text?: boolean;
}

/** Box and landmark colours, cycled by face index. */
const faceColors = ['#00e676', '#ffea00', '#00b0ff', '#ff3d00', '#d500f9', '#76ff03'];

/**
 * Class colours, cycled by label (label 1 takes the first). Chosen to be far apart in hue so that
 * neighbouring classes such as skin, brows and eyes differ.
 */
const parsingPalette: readonly [number, number, number][] = [
  [230, 25, 75], [60, 180, 75], [255, 225, 25], [0, 130, 200], [245, 130, 48], [145, 30, 180],
  [70, 240, 240], [240, 50, 230], [210, 245, 60], [250, 190, 212], [0, 128, 128], [220, 190, 255],
  [170, 110, 40], [255, 250, 200], [128, 0, 0], [170, 255, 195], [128, 128, 0], [255, 215, 180], [0, 0, 128],
];

/** Returns the RGB colour drawn for parsing label `label` (> 0). */
export function parsingColor(label: number): readonly [number, number, number] {
  return parsingPalette[(label - 1) % parsingPalette.length]!;
}

/**
 * Draws `faces` on `image` and returns the picture as PNG bytes of the image's size.
 * Throws `RangeError` when the image data or a face's box, landmarks or parsing map do not fit the image.
 */
export async function renderOverlay(image: DecodedImage, faces: readonly OverlayFace[], options: OverlayOptions = {}): Promise<Uint8Array> {
  const { width, height } = image;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0 || image.data.length !== width * height * 3) {
    throw new RangeError(`renderOverlay: image must be 8-bit RGB with width * height * 3 bytes, got ${width}x${height} and ${image.data.length} bytes`);
  }
  const opacity = options.parsingOpacity ?? 0.45;
  if (!(opacity >= 0 && opacity <= 1)) throw new RangeError(`renderOverlay: parsingOpacity must be in [0, 1], got ${opacity}`);
  faces.forEach((face, index) => checkFace(face, index, width, height));

  const layers: SharpOverlayOptions[] = [];
  const parsingLayer = paintParsing(faces, width, height, opacity);
  if (parsingLayer) layers.push({ input: parsingLayer, raw: { width, height, channels: 4 } });
  layers.push({ input: Buffer.from(overlaySvg(faces, width, height, options.text ?? true)), limitInputPixels: false });

  const png = await sharp(image.data, { raw: { width, height, channels: 3 } }).composite(layers).png().toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.byteLength);
}

function checkFace(face: OverlayFace, index: number, width: number, height: number): void {
  const { box } = face;
  if (![box.x, box.y, box.width, box.height].every(Number.isFinite) || box.width < 0 || box.height < 0) {
    throw new RangeError(`renderOverlay: faces[${index}].box must have finite x, y and non-negative width, height, got ${JSON.stringify(box)}`);
  }
  face.landmarks?.forEach((point, p) => {
    if (point.length !== 2 || !point.every(Number.isFinite)) {
      throw new RangeError(`renderOverlay: faces[${index}].landmarks[${p}] must be a finite [x, y] pair, got ${JSON.stringify(point)}`);
    }
  });
  if (face.parsing) {
    const { labels, names } = face.parsing;
    if (labels.length !== width * height) {
      throw new RangeError(`renderOverlay: faces[${index}].parsing.labels has ${labels.length} values, expected one per image pixel (${width}x${height} = ${width * height})`);
    }
    let maxLabel = 0;
    for (const label of labels) if (label > maxLabel) maxLabel = label;
    if (maxLabel >= names.length) {
      throw new RangeError(`renderOverlay: faces[${index}].parsing.labels contains label ${maxLabel}, but names has only ${names.length} entries (valid labels 0-${names.length - 1})`);
    }
  }
}

/** Paints every non-background parsing pixel into an RGBA layer, later faces over earlier ones. Returns null when no face has parsing. */
function paintParsing(faces: readonly OverlayFace[], width: number, height: number, opacity: number): Buffer | null {
  const withParsing = faces.filter((face) => face.parsing);
  if (withParsing.length === 0) return null;

  const alpha = Math.round(opacity * 255);
  const layer = Buffer.alloc(width * height * 4);
  for (const face of withParsing) {
    const labels = face.parsing!.labels;
    for (let i = 0; i < labels.length; i++) {
      const label = labels[i]!;
      if (label === 0) continue;
      const [r, g, b] = parsingColor(label);
      layer[i * 4] = r;
      layer[i * 4 + 1] = g;
      layer[i * 4 + 2] = b;
      layer[i * 4 + 3] = alpha;
    }
  }
  return layer;
}

/** Writes an SVG of the image's size with boxes, scores, landmark dots and the parsing legend. */
function overlaySvg(faces: readonly OverlayFace[], width: number, height: number, text: boolean): string {
  // Line width and dot size follow the image size so the marks stay visible on large photos.
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 300));
  const radius = Math.max(1.5, stroke * 0.9);
  const fontSize = Math.max(10, stroke * 6);
  const parts: string[] = [];

  faces.forEach((face, index) => {
    const color = faceColors[index % faceColors.length]!;
    // Pixel centers are at integers, so the box's left edge in SVG user units (pixel edges) is x + 0.5.
    const left = face.box.x + 0.5;
    const top = face.box.y + 0.5;
    parts.push(`<rect x="${left}" y="${top}" width="${face.box.width}" height="${face.box.height}" fill="none" stroke="${color}" stroke-width="${stroke}"/>`);
    if (text && face.score !== undefined) {
      const labelY = top - stroke > fontSize ? top - stroke : top + face.box.height + fontSize;
      parts.push(`<text x="${left}" y="${labelY}" font-family="sans-serif" font-size="${fontSize}" fill="${color}" stroke="black" stroke-width="${fontSize / 12}" paint-order="stroke">${face.score.toFixed(2)}</text>`);
    }
    for (const [x, y] of face.landmarks ?? []) {
      parts.push(`<circle cx="${x + 0.5}" cy="${y + 0.5}" r="${radius}" fill="${color}" stroke="black" stroke-width="${radius / 3}"/>`);
    }
  });

  if (text) parts.push(...legend(faces, fontSize));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">${parts.join('')}</svg>`;
}

/** Draws colour swatches with the names of the parsing classes that appear, in the top-left corner. */
function legend(faces: readonly OverlayFace[], fontSize: number): string[] {
  const present = new Map<number, string>();
  for (const face of faces) {
    if (!face.parsing) continue;
    for (const label of face.parsing.labels) if (label > 0 && !present.has(label)) present.set(label, face.parsing.names[label] ?? String(label));
  }
  const parts: string[] = [];
  [...present.entries()]
    .sort((a, b) => a[0] - b[0])
    .forEach(([label, name], row) => {
      const [r, g, b] = parsingColor(label);
      const y = 4 + row * (fontSize + 4);
      parts.push(`<rect x="4" y="${y}" width="${fontSize}" height="${fontSize}" fill="rgb(${r},${g},${b})" stroke="black"/>`);
      parts.push(`<text x="${fontSize + 10}" y="${y + fontSize * 0.85}" font-family="sans-serif" font-size="${fontSize}" fill="white" stroke="black" stroke-width="${fontSize / 12}" paint-order="stroke">${escapeXml(name)}</text>`);
    });
  return parts;
}

function escapeXml(value: string): string {
  return value.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
