/**
 * The analysis pipeline: decode -> detect -> crops -> batched encoder and head passes -> post-processing ->
 * results in original image pixels. Crops are batched across every face of every image in a call, and only
 * the passes that the requested (and trained) heads need are run.
 */
import type { Task } from '@faceptor/core';
import { InvalidImageError } from '@faceptor/core';
import type { ModelManifest } from '@faceptor/core/model-manifest';
import type { FaceptorResult } from '@faceptor/core/result';
import { decodeImage, type DecodedImage } from '../decode/index.ts';
import type { Detection, FaceDetector } from '../detect/types.ts';
import { UltraFaceDetector } from '../detect/ultraface.ts';
import {
  buildFaceCrop,
  buildLandmarkCrop,
  buildParsingCrop,
  fivePointsFromBox,
  parsingToImage,
  sampleCrop,
  type CropSpec,
  type FivePoints,
  type ImageLabelMap,
  type Point,
} from '../geometry/index.ts';
import { SessionRegistry, type ExecutionProviderName } from '../inference/sessions.ts';
import { concatBatch, sliceBatch, type Float32Tensor } from '../inference/tensor.ts';
import { decodeAge, decodeAttributes, decodeExpression, decodeLandmarks, fivePointsFromLandmarks, l2Normalize, parsingAreas } from '../postprocess/index.ts';
import { headNames, openFaceptorModel, type FaceptorModel, type HeadName } from './model.ts';
import { faceEncoderHeads, planHeads, type HeadPlan } from './plan.ts';

export interface PipelineOptions {
  /** Folder written by training/export_onnx.py. */
  modelDir: string;
  /** Face detector folder (format faceptor.detector/v1); ignored when `detector` is given. */
  detectorDir: string;
  /** A detector to use instead of loading `detectorDir` (for other detector implementations). */
  detector?: FaceDetector;
  /** Execution providers in order of preference; the CPU is always the last resort. */
  executionProviders: readonly ExecutionProviderName[];
  /** Largest decoded image, in pixels (width x height); larger images are rejected before decoding. */
  maxPixels: number;
  /** Largest number of crops in one session.run; bounds memory for images with many faces. */
  maxBatchCrops?: number;
  /** Run untrained heads anyway (for tests and benchmarks); their outputs still never reach a result. */
  runUntrainedHeads?: boolean;
  /** Threads per operator (0: onnxruntime decides). */
  intraOpNumThreads?: number;
  /** Hash graph files against the manifest when the model opens. */
  verifyChecksums?: boolean;
}

export interface PipelineInput {
  image: Uint8Array;
  tasks: readonly Task[];
}

/** Decoded outputs of every head that ran for one face, including untrained heads run on request. */
export interface FaceOutputs {
  landmarks?: Point[];
  parsing?: ImageLabelMap;
  age?: number;
  expression?: { label: string; probabilities: Record<string, number> };
  attributes?: Record<string, number>;
  identity?: number[];
  /** The five alignment points used for the aligned crops. */
  alignmentPoints?: FivePoints;
}

export type PipelineOutcome =
  | {
      ok: true;
      result: FaceptorResult;
      /** Label map of each face whose parsing is in the result, by face index. */
      parsingMaps: Map<number, ImageLabelMap>;
      /** Every decoded output per face, untrained heads included when they ran. Not for end users. */
      faceOutputs: FaceOutputs[];
      image: DecodedImage;
    }
  | { ok: false; error: InvalidImageError };

/** One face of one image, carried through the passes. */
interface FaceWork {
  input: number;
  detection: Detection;
  plan: HeadPlan;
  outputs: FaceOutputs;
}

interface StageTimes {
  align: number;
  infer: number;
  postprocess: number;
}

const defaultMaxBatchCrops = 16;

/** A loaded pipeline. Create with {@link FaceptorPipeline.create}; call {@link close} when done. */
export class FaceptorPipeline {
  private constructor(
    private readonly model: FaceptorModel,
    private readonly detector: FaceDetector,
    private readonly registry: SessionRegistry,
    private readonly options: PipelineOptions,
  ) {}

  /** Open the model and detector folders and load every graph, so the first request pays no loading cost. */
  static async create(options: PipelineOptions): Promise<FaceptorPipeline> {
    const registry = new SessionRegistry({
      executionProviders: options.executionProviders,
      ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
    });
    try {
      const model = await openFaceptorModel(options.modelDir, registry, { verifyChecksums: options.verifyChecksums ?? false });
      await Promise.all(Object.keys(model.manifest.graphs).map((name) => model.graph(name)));
      const detector = options.detector ?? (await UltraFaceDetector.load(options.detectorDir, registry));
      return new FaceptorPipeline(model, detector, registry, options);
    } catch (error) {
      await registry.close();
      throw error;
    }
  }

  get manifest(): ModelManifest {
    return this.model.manifest;
  }

  /** Analyze several images in one batch; returns one outcome per input, in input order. */
  async analyze(inputs: readonly PipelineInput[]): Promise<PipelineOutcome[]> {
    const started = performance.now();

    const decoded = await Promise.all(inputs.map((input) => this.decode(input.image)));
    const detectTimes = new Array<number>(inputs.length).fill(0);
    const detections: Detection[][] = [];
    for (const [index, item] of decoded.entries()) {
      if (!item.ok) {
        detections.push([]);
        continue;
      }
      const detectStarted = performance.now();
      detections.push(await this.detector.detect(item.image));
      detectTimes[index] = performance.now() - detectStarted;
    }

    const faces: FaceWork[] = [];
    const plans = inputs.map((input) => planHeads(this.manifest, input.tasks, { runUntrainedHeads: this.options.runUntrainedHeads ?? false }));
    detections.forEach((list, input) => {
      for (const detection of list) faces.push({ input, detection, plan: plans[input] as HeadPlan, outputs: {} });
    });

    const images = decoded.map((item) => (item.ok ? item.image : null));
    const times: StageTimes = { align: 0, infer: 0, postprocess: 0 };
    await this.runLandmarkPass(faces, images, times);
    this.chooseAlignmentPoints(faces);
    await this.runFacePass(faces, images, times);
    await this.runParsingPass(faces, images, times);

    const totalFaces = Math.max(faces.length, 1);
    return inputs.map((_, index): PipelineOutcome => {
      const item = decoded[index];
      if (!item || !item.ok) return { ok: false, error: item?.error ?? new InvalidImageError('image could not be decoded') };
      const imageFaces = faces.filter((face) => face.input === index);
      const share = imageFaces.length / totalFaces;
      const timings = {
        decode: round(item.decodeMs),
        detect: round(detectTimes[index] ?? 0),
        align: round(times.align * share),
        infer: round(times.infer * share),
        postprocess: round(times.postprocess * share),
        total: 0,
      };
      timings.total = round(performance.now() - started);
      return this.buildResult(item.image, imageFaces, plans[index] as HeadPlan, timings);
    });
  }

  /** Release every session. Safe to call more than once. */
  async close(): Promise<void> {
    await this.registry.close();
  }

  private async decode(bytes: Uint8Array): Promise<{ ok: true; image: DecodedImage; decodeMs: number } | { ok: false; error: InvalidImageError }> {
    const decodeStarted = performance.now();
    try {
      const image = await decodeImage(bytes, { maxPixels: this.options.maxPixels });
      return { ok: true, image, decodeMs: performance.now() - decodeStarted };
    } catch (error) {
      if (error instanceof InvalidImageError) return { ok: false, error };
      throw error;
    }
  }

  /** Run the 68-point pass on the 0.8-scaled box crop, for faces that report landmarks or need alignment points. */
  private async runLandmarkPass(faces: FaceWork[], images: (DecodedImage | null)[], times: StageTimes): Promise<void> {
    const head = this.manifest.heads.landmarks;
    const cropConfig = this.manifest.crops.landmarks;
    const encoder = this.manifest.encoders.dense;
    const work = faces.filter((face) => face.plan.run.has('landmarks') || face.plan.landmarksForAlignment);
    if (!head || !cropConfig || !encoder || work.length === 0) return;

    const crops = work.map((face) => buildLandmarkCrop(cropConfig, face.detection.box, encoder.input_size));
    const outputs = await this.encodeAndRun(work, crops, images, 'dense', [head.graph], times);

    const postStarted = performance.now();
    const heatmaps = outputs.get(head.graph)?.[head.output] as Float32Tensor;
    work.forEach((face, index) => {
      face.outputs.landmarks = decodeLandmarks(sliceBatch(heatmaps, index, 1), crops[index] as CropSpec);
    });
    times.postprocess += performance.now() - postStarted;
  }

  /** Choose five points per face: from the model's own landmarks when trained, else from the detector box. */
  private chooseAlignmentPoints(faces: FaceWork[]): void {
    const faceCrop = this.manifest.crops.face;
    const landmarks = this.manifest.heads.landmarks;
    for (const face of faces) {
      if (face.plan.landmarksForAlignment && landmarks && face.outputs.landmarks) {
        face.outputs.alignmentPoints = fivePointsFromLandmarks(face.outputs.landmarks, landmarks.five_point_indices);
      } else if (faceCrop) {
        face.outputs.alignmentPoints = fivePointsFromBox(face.detection.box, faceCrop.template, faceCrop.template_size);
      }
    }
  }

  /** Run the 112 px pass: one encoder run for identity, age, expression and attributes. */
  private async runFacePass(faces: FaceWork[], images: (DecodedImage | null)[], times: StageTimes): Promise<void> {
    const cropConfig = this.manifest.crops.face;
    const encoder = this.manifest.encoders.face;
    const work = faces.filter((face) => faceEncoderHeads.some((head) => face.plan.run.has(head)));
    if (!cropConfig || !encoder || work.length === 0) return;

    const heads = this.manifest.heads;
    const graphs = new Set<string>();
    for (const name of faceEncoderHeads) {
      const head = heads[name];
      if (head && work.some((face) => face.plan.run.has(name))) graphs.add(head.graph);
    }
    const crops = work.map((face) => buildFaceCrop(cropConfig, face.outputs.alignmentPoints as FivePoints, encoder.input_size));
    const outputs = await this.encodeAndRun(work, crops, images, 'face', [...graphs], times);

    const postStarted = performance.now();
    work.forEach((face, index) => {
      const row = (name: HeadName): Float32Array | null => {
        const head = heads[name];
        if (!head || !face.plan.run.has(name)) return null;
        const tensor = outputs.get(head.graph)?.[head.output];
        return tensor ? sliceBatch(tensor, index, 1).data : null;
      };
      const ageLogits = row('age');
      if (ageLogits && heads.age) face.outputs.age = decodeAge(ageLogits, heads.age.first_bin_years).years;
      const expressionLogits = row('expression');
      if (expressionLogits && heads.expression) face.outputs.expression = decodeExpression(expressionLogits, heads.expression.labels);
      const attributeLogits = row('attributes');
      if (attributeLogits && heads.attributes) face.outputs.attributes = decodeAttributes(attributeLogits, heads.attributes.labels);
      const embedding = row('identity');
      if (embedding) face.outputs.identity = Array.from(l2Normalize(embedding));
    });
    times.postprocess += performance.now() - postStarted;
  }

  /** Run the parsing pass on the aligned (tanh-warped or FFHQ) crop and map its labels back to the image. */
  private async runParsingPass(faces: FaceWork[], images: (DecodedImage | null)[], times: StageTimes): Promise<void> {
    const head = this.manifest.heads.parsing;
    const cropConfig = this.manifest.crops.parsing;
    const encoder = this.manifest.encoders.dense;
    const work = faces.filter((face) => face.plan.run.has('parsing'));
    if (!head || !cropConfig || !encoder || work.length === 0) return;

    const crops = work.map((face) => buildParsingCrop(cropConfig, face.outputs.alignmentPoints as FivePoints, encoder.input_size));
    const outputs = await this.encodeAndRun(work, crops, images, 'dense', [head.graph], times);

    const postStarted = performance.now();
    const logits = outputs.get(head.graph)?.[head.output] as Float32Tensor;
    work.forEach((face, index) => {
      const image = images[face.input] as DecodedImage;
      const single = sliceBatch(logits, index, 1);
      face.outputs.parsing = parsingToImage({ data: single.data, dims: single.dims.slice(1) }, crops[index] as CropSpec, image.width, image.height);
    });
    times.postprocess += performance.now() - postStarted;
  }

  /**
   * Sample the crops, run the encoder, then each head graph, in chunks of at most maxBatchCrops.
   * Returns each head graph's outputs concatenated over the chunks, in `work` order.
   */
  private async encodeAndRun(
    work: readonly FaceWork[],
    crops: readonly CropSpec[],
    images: readonly (DecodedImage | null)[],
    role: 'face' | 'dense',
    headGraphs: readonly string[],
    times: StageTimes,
  ): Promise<Map<string, Record<string, Float32Tensor>>> {
    const encoder = this.manifest.encoders[role];
    if (!encoder) throw new Error(`model ${this.manifest.name} has no ${role} encoder`);
    const encoderGraph = await this.model.graph(encoder.graph);
    const heads = await Promise.all(headGraphs.map((name) => this.model.graph(name)));
    const chunkSize = Math.max(1, this.options.maxBatchCrops ?? defaultMaxBatchCrops);
    const size = encoder.input_size;
    const plane = 3 * size * size;

    const collected = new Map<string, Record<string, Float32Tensor[]>>();
    for (let start = 0; start < work.length; start += chunkSize) {
      const count = Math.min(chunkSize, work.length - start);

      const alignStarted = performance.now();
      const batch = new Float32Array(count * plane);
      for (let i = 0; i < count; i++) {
        const face = work[start + i] as FaceWork;
        sampleCrop(images[face.input] as DecodedImage, crops[start + i] as CropSpec, encoder.mean, encoder.std, batch, i * plane);
      }
      times.align += performance.now() - alignStarted;

      const inferStarted = performance.now();
      const inputName = encoderGraph.inputs[0]?.name ?? 'image';
      const features = await encoderGraph.run({ [inputName]: { data: batch, dims: [count, 3, size, size] } });
      for (const head of heads) {
        const feeds: Record<string, Float32Tensor> = {};
        for (const port of head.inputs) {
          const feature = features[port.name];
          if (!feature) throw new Error(`graph "${head.name}" needs input "${port.name}", which encoder "${encoder.graph}" does not output`);
          feeds[port.name] = feature;
        }
        const result = await head.run(feeds);
        const graphName = headGraphs[heads.indexOf(head)] as string;
        const bucket = collected.get(graphName) ?? {};
        for (const [name, tensor] of Object.entries(result)) (bucket[name] ??= []).push(tensor);
        collected.set(graphName, bucket);
      }
      times.infer += performance.now() - inferStarted;
    }

    const merged = new Map<string, Record<string, Float32Tensor>>();
    for (const [graphName, bucket] of collected) {
      const outputs: Record<string, Float32Tensor> = {};
      for (const [name, parts] of Object.entries(bucket)) outputs[name] = parts.length === 1 ? (parts[0] as Float32Tensor) : concatBatch(parts);
      merged.set(graphName, outputs);
    }
    return merged;
  }

  private buildResult(image: DecodedImage, faces: readonly FaceWork[], plan: HeadPlan, timings: FaceptorResult['timings_ms']): PipelineOutcome {
    const manifest = this.manifest;
    const heads: FaceptorResult['model']['heads'] = {};
    for (const name of headNames) {
      const head = manifest.heads[name];
      if (head) heads[name] = { trained: head.trained, trained_on: head.trained_on };
    }

    const parsingMaps = new Map<number, ImageLabelMap>();
    const resultFaces = faces.map((face, faceIndex) => {
      const out = face.outputs;
      const entry: FaceptorResult['faces'][number] = {
        box: roundBox(face.detection.box),
        score: round(face.detection.score, 4),
      };
      if (plan.reported.has('landmarks') && out.landmarks && manifest.heads.landmarks) {
        entry.landmarks = { scheme: manifest.heads.landmarks.scheme, points: out.landmarks.map(([x, y]) => [round(x), round(y)]) };
      }
      if (plan.reported.has('parsing') && out.parsing && manifest.heads.parsing) {
        parsingMaps.set(faceIndex, out.parsing);
        entry.parsing = {
          scheme: manifest.heads.parsing.scheme,
          labels: manifest.heads.parsing.labels,
          areas: parsingAreas(out.parsing, manifest.heads.parsing.labels),
        };
      }
      if (plan.reported.has('age') && out.age !== undefined) entry.age = { years: round(out.age) };
      if (plan.reported.has('expression') && out.expression) entry.expression = out.expression;
      if (plan.reported.has('attributes') && out.attributes) entry.attributes = out.attributes;
      if (plan.reported.has('identity') && out.identity) entry.identity = { embedding: out.identity };
      return entry;
    });

    const result: FaceptorResult = {
      schema: 'faceptor.result/v1',
      image: { width: image.width, height: image.height },
      model: { name: manifest.name, version: manifest.version, heads },
      warnings: plan.warnings,
      faces: resultFaces,
      timings_ms: timings,
    };
    return { ok: true, result, parsingMaps, faceOutputs: faces.map((face) => face.outputs), image };
  }
}

function round(value: number, digits = 2): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}

function roundBox(box: Detection['box']): Detection['box'] {
  return { x: round(box.x), y: round(box.y), width: round(box.width), height: round(box.height) };
}
