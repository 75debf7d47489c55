/**
 * The face-api teacher networks (@vladmandic/face-api, MIT) run in TensorFlow.js with the WebAssembly backend.
 *
 * Four networks label each face. The 68-point landmark net sees a square crop around the detector box. The
 * age/gender, expression and identity nets see the crop that face-api itself derives from those landmarks,
 * which is the landmarks' bounding box grown by 20% and clipped to the image. All points come back in the
 * project's pixel convention, with pixel centers at integer coordinates.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import type { DecodedImage } from '../../gpu-worker/src/decode/decode-image.ts';
import type { Box, Point } from '../../gpu-worker/src/detect/types.ts';

const require = createRequire(import.meta.url);

/** face-api's expression order (the order of its network's output). */
export const faceApiExpressionLabels = ['neutral', 'happy', 'sad', 'angry', 'fearful', 'disgusted', 'surprised'] as const;
/** Faceptor's expression order (AffectNet's). */
export const faceptorExpressionLabels = ['neutral', 'happy', 'sad', 'surprise', 'fear', 'disgust', 'anger'] as const;
/** For each Faceptor expression, the face-api expression that labels it. */
export const expressionMapping: Record<(typeof faceptorExpressionLabels)[number], (typeof faceApiExpressionLabels)[number]> = {
  neutral: 'neutral',
  happy: 'happy',
  sad: 'sad',
  surprise: 'surprised',
  fear: 'fearful',
  disgust: 'disgusted',
  anger: 'angry',
};

/** Share of the landmarks' bounding box added to its width and height for the attribute crop, as face-api's `align()` does. */
const alignedBoxPadding = 0.2;

/** Outputs of the teachers for one face. */
export interface TeacherOutputs {
  /** 68 points in iBUG (300W) order, image pixels. */
  landmarks: Point[];
  /** The square crop the landmark net saw, in pixel-center coordinates (it may extend past the image). */
  landmarkCrop: Box;
  /** The crop the age, gender, expression and identity nets saw, clipped to the image. */
  attributeCrop: Box;
  ageYears: number;
  maleProbability: number;
  /** Probabilities in Faceptor's order ({@link faceptorExpressionLabels}). */
  expression: number[];
  /** 128-d face descriptor, as face-api returns it (not L2-normalized). */
  identity: number[];
}

/** One teacher network file and its provenance. */
export interface TeacherModelFile {
  net: string;
  weightsManifest: string;
  weights: string;
  weightsSha256: string;
}

// Minimal views of the face-api and tfjs objects used here; the package's own types assume a browser build.
interface Tensor3D {
  dispose(): void;
}
interface TfNamespace {
  setBackend(name: string): Promise<boolean>;
  ready(): Promise<void>;
  getBackend(): string;
  tensor3d(values: Int32Array, shape: [number, number, number], dtype: 'int32'): Tensor3D;
  version_core: string;
}
interface FaceApiModule {
  version: string;
  tf: TfNamespace;
  nets: {
    faceLandmark68Net: NetWithDisk & { detectLandmarks(input: Tensor3D): Promise<{ positions: { x: number; y: number }[] }> };
    ageGenderNet: NetWithDisk & { predictAgeAndGender(input: Tensor3D): Promise<{ age: number; gender: string; genderProbability: number }> };
    faceExpressionNet: NetWithDisk & { predictExpressions(input: Tensor3D): Promise<Record<string, number>> };
    faceRecognitionNet: NetWithDisk & { computeFaceDescriptor(input: Tensor3D): Promise<Float32Array> };
  };
}
interface NetWithDisk {
  loadFromDisk(dir: string): Promise<void>;
}

/** face-api net name -> the file stem of its weights in the package's `model/` folder. */
const netFiles = {
  faceLandmark68Net: 'face_landmark_68_model',
  ageGenderNet: 'age_gender_model',
  faceExpressionNet: 'face_expression_model',
  faceRecognitionNet: 'face_recognition_model',
} as const;

/** The loaded face-api networks. Create with {@link FaceApiTeachers.load}; call one face at a time. */
export class FaceApiTeachers {
  private constructor(
    private readonly faceapi: FaceApiModule,
    /** Package folder, for provenance records. */
    readonly packageDir: string,
    readonly packageVersion: string,
    readonly tfjsVersion: string,
    readonly files: TeacherModelFile[],
    /** Side of the landmark crop as a multiple of the detector box's longer side. */
    readonly landmarkCropScale: number,
  ) {}

  /**
   * Loads the four networks from the package's `model/` folder into tfjs with the WebAssembly backend.
   * The networks are shared by every instance of the process, so instances differ only in the crop scale.
   */
  static async load(options: { landmarkCropScale: number }): Promise<FaceApiTeachers> {
    if (!(options.landmarkCropScale >= 1 && options.landmarkCropScale <= 3)) {
      throw new RangeError(`landmarkCropScale must be in [1, 3], got ${options.landmarkCropScale}`);
    }
    const { faceapi, packageDir } = await startWasmBackend();

    const modelDir = path.join(packageDir, 'model');
    const files: TeacherModelFile[] = [];
    for (const [net, stem] of Object.entries(netFiles) as [keyof typeof netFiles, string][]) {
      await faceapi.nets[net].loadFromDisk(modelDir).catch((cause: unknown) => {
        throw new Error(`cannot load face-api net ${net} from ${modelDir}: ${String(cause)}`, { cause });
      });
      const weights = `${stem}.bin`;
      const bytes = await readFile(path.join(modelDir, weights));
      files.push({
        net,
        weightsManifest: `model/${stem}-weights_manifest.json`,
        weights: `model/${weights}`,
        weightsSha256: createHash('sha256').update(bytes).digest('hex'),
      });
    }

    const packageJson = JSON.parse(await readFile(path.join(packageDir, 'package.json'), 'utf8')) as { version: string };
    return new FaceApiTeachers(faceapi, packageDir, packageJson.version, faceapi.tf.version_core, files, options.landmarkCropScale);
  }

  /** Runs the four teachers on the face in `box` (pixel-center coordinates of `image`). */
  async label(image: DecodedImage, box: Box): Promise<TeacherOutputs> {
    const { nets } = this.faceapi;
    const landmarkCrop = landmarkCropFor(box, this.landmarkCropScale);
    const landmarks = await this.detectLandmarks(image, landmarkCrop);

    const attributeCrop = attributeCropFor(landmarks, image.width, image.height);
    const outputs = await this.withCrop(image, attributeCrop, async (tensor) => ({
      ageGender: await nets.ageGenderNet.predictAgeAndGender(tensor),
      expressions: await nets.faceExpressionNet.predictExpressions(tensor),
      descriptor: await nets.faceRecognitionNet.computeFaceDescriptor(tensor),
    }));

    const { age, gender, genderProbability } = outputs.ageGender;
    if (gender !== 'male' && gender !== 'female') throw new Error(`face-api ageGenderNet returned gender "${gender}", expected male or female`);
    return {
      landmarks,
      landmarkCrop,
      attributeCrop,
      ageYears: age,
      maleProbability: gender === 'male' ? genderProbability : 1 - genderProbability,
      expression: toFaceptorExpressionOrder(outputs.expressions),
      identity: Array.from(outputs.descriptor),
    };
  }

  /** Runs only the landmark net, on a crop `cropScale` times the longer side of `box`; used to test how stable the points are. */
  async landmarksAt(image: DecodedImage, box: Box, cropScale: number): Promise<Point[]> {
    return this.detectLandmarks(image, landmarkCropFor(box, cropScale));
  }

  private async detectLandmarks(image: DecodedImage, crop: Box): Promise<Point[]> {
    return this.withCrop(image, crop, async (tensor) => {
      const result = await this.faceapi.nets.faceLandmark68Net.detectLandmarks(tensor);
      // face-api returns points in the crop's pixel-edge coordinates (0 = left edge of the crop).
      return result.positions.map(({ x, y }): Point => [crop.x + x, crop.y + y]);
    });
  }

  private async withCrop<T>(image: DecodedImage, crop: Box, run: (tensor: Tensor3D) => Promise<T>): Promise<T> {
    const { width, height, data } = cropPixels(image, crop);
    const tensor = this.faceapi.tf.tensor3d(data, [height, width, 3], 'int32');
    try {
      return await run(tensor);
    } finally {
      tensor.dispose();
    }
  }
}

let started: Promise<{ faceapi: FaceApiModule; packageDir: string }> | undefined;

/**
 * Loads face-api's Node build for the WebAssembly backend and starts that backend, once per process.
 * Throws when the wasm backend cannot start, since the pure-JS CPU backend would be about 40x slower.
 */
function startWasmBackend(): Promise<{ faceapi: FaceApiModule; packageDir: string }> {
  started ??= (async () => {
    const entry = require.resolve('@vladmandic/face-api/dist/face-api.node-wasm.js');
    const faceapi = require(entry) as FaceApiModule;

    // The default wasm locator finds the .wasm files beside the backend's own script.
    // setWasmPaths with a file path would go through fetch(), which Node cannot do for files.
    const ok = await faceapi.tf.setBackend('wasm').catch((cause: unknown) => {
      throw new Error(`the TensorFlow.js wasm backend failed to start: ${String(cause)}; check that @tensorflow/tfjs-backend-wasm is installed`, { cause });
    });
    await faceapi.tf.ready();
    if (!ok || faceapi.tf.getBackend() !== 'wasm') {
      throw new Error(`the TensorFlow.js wasm backend did not start (active backend: ${faceapi.tf.getBackend()}); check that @tensorflow/tfjs-backend-wasm is installed`);
    }
    return { faceapi, packageDir: path.resolve(path.dirname(entry), '..') };
  })();
  return started;
}

/** Reorders face-api's expression probabilities into Faceptor's order; throws when one is missing. */
export function toFaceptorExpressionOrder(expressions: Readonly<Record<string, number>>): number[] {
  return faceptorExpressionLabels.map((label) => {
    const value = expressions[expressionMapping[label]];
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      throw new Error(`face-api expressions have no finite "${expressionMapping[label]}" value (keys: ${Object.keys(expressions).join(', ')})`);
    }
    return value;
  });
}

/** The square crop of side `cropScale` times the longer side of `box`, centered on the box. */
export function landmarkCropFor(box: Box, cropScale: number): Box {
  const side = Math.max(1, Math.round(Math.max(box.width, box.height) * cropScale));
  return squareAround(box.x + box.width / 2, box.y + box.height / 2, side);
}

/** A square of integer side whose corners lie on pixel edges, centered as close as possible on (centerX, centerY). */
function squareAround(centerX: number, centerY: number, side: number): Box {
  // Pixel-center coordinates: the pixel edge left of pixel i is at i - 0.5.
  const left = Math.round(centerX + 0.5 - side / 2);
  const top = Math.round(centerY + 0.5 - side / 2);
  return { x: left - 0.5, y: top - 0.5, width: side, height: side };
}

/**
 * Returns face-api's `align()` box: the landmarks' bounding box grown by 20% in width and height about its
 * center, then clipped to the image with its edges on whole pixels.
 */
export function attributeCropFor(landmarks: readonly Point[], imageWidth: number, imageHeight: number): Box {
  const xs = landmarks.map((p) => p[0] + 0.5);
  const ys = landmarks.map((p) => p[1] + 0.5);
  const minX = Math.min(...xs);
  const minY = Math.min(...ys);
  const width = Math.max(...xs) - minX;
  const height = Math.max(...ys) - minY;

  const left = Math.max(0, Math.floor(minX - (width * alignedBoxPadding) / 2));
  const top = Math.max(0, Math.floor(minY - (height * alignedBoxPadding) / 2));
  const right = Math.min(imageWidth, Math.ceil(minX + width * (1 + alignedBoxPadding / 2)));
  const bottom = Math.min(imageHeight, Math.ceil(minY + height * (1 + alignedBoxPadding / 2)));
  if (right - left < 1 || bottom - top < 1) {
    throw new RangeError(`the landmarks' box [${minX}, ${minY}, ${width}, ${height}] lies outside the ${imageWidth}x${imageHeight} image`);
  }
  return { x: left - 0.5, y: top - 0.5, width: right - left, height: bottom - top };
}

/** Copies the pixels of `crop` (edges on whole pixels), with black where the crop extends past the image. */
function cropPixels(image: DecodedImage, crop: Box): { width: number; height: number; data: Int32Array } {
  const left = Math.round(crop.x + 0.5);
  const top = Math.round(crop.y + 0.5);
  const { width, height } = crop;
  const data = new Int32Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sourceY = top + y;
    if (sourceY < 0 || sourceY >= image.height) continue;
    for (let x = 0; x < width; x++) {
      const sourceX = left + x;
      if (sourceX < 0 || sourceX >= image.width) continue;
      const from = (sourceY * image.width + sourceX) * 3;
      const to = (y * width + x) * 3;
      data[to] = image.data[from]!;
      data[to + 1] = image.data[from + 1]!;
      data[to + 2] = image.data[from + 2]!;
    }
  }
  return { width, height, data };
}
