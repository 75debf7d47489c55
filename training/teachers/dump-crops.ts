/**
 * Write the serving pipeline's crops of one photo to files, so the Python distillation code can check
 * that it builds the same crops (training/tests/test_distill_crops.py).
 *
 * Usage: npx tsx training/teachers/dump-crops.ts REQUEST.json OUT_DIR
 *
 * REQUEST.json: { "photo": path, "crops": [ { "kind": "box", "box": {x, y, width, height}, "scale": 0.8,
 *   "size": 128, "mean": [...], "std": [...] } | { "kind": "arcface", "points": [[x, y] x5],
 *   "template": [[x, y] x5], "template_size": 112, "size": 112, "mean": [...], "std": [...] } ] }
 *
 * OUT_DIR receives `decoded.bin` (the decoded RGB bytes, HWC), `crop_<i>.bin` (float32 CHW, little
 * endian) and `crops.json` (the image size and each crop's size and 2x3 matrix).
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { decodeImage } from '../../gpu-worker/src/decode/decode-image.ts';
import { boxCrop, arcfaceCrop, sampleCrop, type CropSpec, type FaceBox, type FivePoints, type RgbTriple } from '../../gpu-worker/src/geometry/index.ts';

interface BoxRequest {
  kind: 'box';
  box: FaceBox;
  scale: number;
  size: number;
  mean: RgbTriple;
  std: RgbTriple;
}

interface ArcfaceRequest {
  kind: 'arcface';
  points: FivePoints;
  template: FivePoints;
  template_size: number;
  size: number;
  mean: RgbTriple;
  std: RgbTriple;
}

interface DumpRequest {
  photo: string;
  crops: (BoxRequest | ArcfaceRequest)[];
}

const maxPixels = 40_000_000;

function buildCrop(request: BoxRequest | ArcfaceRequest, index: number): CropSpec {
  if (request.kind === 'box') return boxCrop(request.box, request.size, request.scale);
  if (request.kind === 'arcface') return arcfaceCrop(request.points, request.template, request.template_size, request.size);
  throw new RangeError(`crops[${index}].kind ${JSON.stringify((request as { kind: unknown }).kind)} is invalid; expected "box" or "arcface"`);
}

async function main(argv: string[]): Promise<void> {
  const [requestPath, outDir] = argv;
  if (!requestPath || !outDir) {
    throw new Error('usage: npx tsx training/teachers/dump-crops.ts REQUEST.json OUT_DIR');
  }
  const request = JSON.parse(await readFile(requestPath, 'utf8')) as DumpRequest;
  const image = await decodeImage(await readFile(request.photo), { maxPixels });
  await mkdir(outDir, { recursive: true });
  await writeFile(path.join(outDir, 'decoded.bin'), image.data);

  const written = [];
  for (const [index, cropRequest] of request.crops.entries()) {
    const crop = buildCrop(cropRequest, index);
    const out = new Float32Array(3 * crop.size * crop.size);
    sampleCrop(image, crop, cropRequest.mean, cropRequest.std, out, 0);
    await writeFile(path.join(outDir, `crop_${index}.bin`), Buffer.from(out.buffer, out.byteOffset, out.byteLength));
    written.push({ size: crop.size, matrix: crop.matrix });
  }
  await writeFile(path.join(outDir, 'crops.json'), JSON.stringify({ width: image.width, height: image.height, crops: written }, null, 2));
}

main(process.argv.slice(2)).catch((error: unknown) => {
  console.error(error instanceof Error ? error.message : error);
  process.exit(1);
});
