/**
 * The photo list of the teacher labels: every photo under test/fixtures/photos, its SHA-256, and its split.
 * Also reads the 68 reference points of dlib's example XML files.
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { Box, Point } from '../../gpu-worker/src/detect/types.ts';

export type Split = 'train' | 'heldout';

/**
 * Photos kept out of training, by path relative to the photos folder. Splitting is by photo, never by face,
 * so no person seen in training reappears in the held-out faces through another face of the same photo.
 * The five photos of dlib's `testing_with_face_landmarks.xml` (25 faces with reference points) and one
 * face-api demo photo are held out.
 */
export const heldOutPhotos: readonly string[] = [
  'dlib-examples/2008_002470.jpg',
  'dlib-examples/2008_002506.jpg',
  'dlib-examples/2008_004176.jpg',
  'dlib-examples/2008_007676.jpg',
  'dlib-examples/2009_004587.jpg',
  'face-api-demo/sample6.jpg',
];

const photoExtensions = new Set(['.jpg', '.jpeg', '.png']);

/** One photo of the list. */
export interface PhotoEntry {
  /** Path relative to the photos folder, with forward slashes. */
  path: string;
  sha256: string;
  split: Split;
}

/**
 * Lists the photos under `photosDir` (sorted by relative path) with their SHA-256 and split. When `only`
 * is given, keeps just those relative paths and throws when one of them is not there.
 */
export async function listPhotos(photosDir: string, only?: readonly string[]): Promise<PhotoEntry[]> {
  const all = (await readdir(photosDir, { recursive: true }))
    .map((file) => file.split(path.sep).join('/'))
    .filter((file) => photoExtensions.has(path.extname(file).toLowerCase()))
    .sort();

  const missingHeldOut = heldOutPhotos.filter((file) => !all.includes(file));
  if (missingHeldOut.length > 0) throw new Error(`held-out photos not found under ${photosDir}: ${missingHeldOut.join(', ')}`);

  let selected = all;
  if (only) {
    const unknown = only.filter((file) => !all.includes(file));
    if (unknown.length > 0) throw new Error(`photos not found under ${photosDir}: ${unknown.join(', ')}; valid photos are ${all.join(', ')}`);
    selected = all.filter((file) => only.includes(file));
  }

  const photos: PhotoEntry[] = [];
  for (const file of selected) {
    const bytes = await readFile(path.join(photosDir, file));
    photos.push({
      path: file,
      sha256: createHash('sha256').update(bytes).digest('hex'),
      split: heldOutPhotos.includes(file) ? 'heldout' : 'train',
    });
  }
  return photos;
}

/** A face of a dlib XML file with its 68 reference points. */
export interface ReferenceFace {
  box: Box;
  points: Point[];
}

/**
 * Reads the faces with 68 `<part>` points from a dlib imglab XML file, keyed by the image path relative to
 * the XML's folder. dlib's coordinates are pixel indices, so they are already pixel-center coordinates.
 * Faces with fewer than 68 parts are skipped.
 */
export async function readReferencePoints(xmlFile: string): Promise<Map<string, ReferenceFace[]>> {
  const xml = await readFile(xmlFile, 'latin1');
  const byImage = new Map<string, ReferenceFace[]>();
  for (const [, file, body] of xml.matchAll(/<image\s+file='([^']+)'[^>]*>([\s\S]*?)<\/image>/g)) {
    const faces: ReferenceFace[] = [];
    for (const [, boxAttributes, boxBody] of (body ?? '').matchAll(/<box\b([^>]*)>([\s\S]*?)<\/box>/g)) {
      const attribute = (name: string): number => {
        const match = new RegExp(`\\b${name}='(-?\\d+)'`).exec(boxAttributes ?? '');
        if (!match) throw new Error(`${xmlFile}: box of ${file} has no ${name} attribute`);
        return Number(match[1]);
      };
      const points: Point[] = [];
      for (const [, index, x, y] of (boxBody ?? '').matchAll(/<part\s+name='(\d+)'\s+x='(-?\d+)'\s+y='(-?\d+)'\s*\/>/g)) {
        points[Number(index)] = [Number(x), Number(y)];
      }
      if (points.length !== 68 || points.some((p) => p === undefined)) continue;
      faces.push({ box: { x: attribute('left') - 0.5, y: attribute('top') - 0.5, width: attribute('width'), height: attribute('height') }, points });
    }
    byImage.set(file!, faces);
  }
  return byImage;
}
