/**
 * Parity of the exported ONNX graphs with the official Faceptor implementation.
 *
 * training/export_onnx.py exports the full-size Base model with the official fixture's formula
 * weights; onnxruntime-node (CPU) then runs every graph on the fixture's inputs, chaining the
 * encoder outputs into the head graphs as the worker does, and each output must match the array
 * the official code produced: max|a - ref| <= 2e-5 * max|ref|.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readNpy } from './support/npy.ts';
import { officialFixtureDir, officialFixtureSkipReason, repoRoot, systemPython } from './support/requirements.ts';

const fixture = officialFixtureDir();
const relativeTolerance = 2e-5;

interface GraphEntry {
  file: string;
  inputs: { name: string; shape: (string | number)[] }[];
  outputs: { name: string; shape: (string | number)[] }[];
}

interface Manifest {
  graphs: Record<string, GraphEntry>;
  heads: Record<string, { graph: string; output: string; source_task: string }>;
}

let exportDir = '';
let manifest: Manifest;
const sessions = new Map<string, ort.InferenceSession>();

function fixtureArray(name: string): { data: Float32Array; shape: number[] } {
  const array = readNpy(path.join(fixture as string, `${name}.npy`));
  if (!(array.data instanceof Float32Array)) throw new Error(`${name}.npy is ${array.dtype}; expected a float array`);
  return { data: array.data, shape: array.shape };
}

async function session(graph: string): Promise<ort.InferenceSession> {
  let existing = sessions.get(graph);
  if (existing === undefined) {
    const entry = manifest.graphs[graph];
    if (entry === undefined) throw new Error(`graph ${graph} is not in the exported manifest (${Object.keys(manifest.graphs).join(', ')})`);
    existing = await ort.InferenceSession.create(path.join(exportDir, entry.file), { executionProviders: ['cpu'] });
    sessions.set(graph, existing);
  }
  return existing;
}

async function run(graph: string, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  return (await session(graph)).run(feeds);
}

function floatTensor(array: { data: Float32Array; shape: number[] }): ort.Tensor {
  return new ort.Tensor('float32', array.data, array.shape);
}

/** Asserts shape equality and max|actual - ref| <= 2e-5 * max|ref|; returns the relative error. */
function expectClose(actual: ort.Tensor, referenceName: string): number {
  const reference = fixtureArray(referenceName);
  expect(Array.from(actual.dims), `${referenceName} shape`).toEqual(reference.shape);
  const values = actual.data as Float32Array;
  let error = 0;
  let scale = 0;
  for (let i = 0; i < reference.data.length; i++) {
    error = Math.max(error, Math.abs(values[i]! - reference.data[i]!));
    scale = Math.max(scale, Math.abs(reference.data[i]!));
  }
  expect(error, `${referenceName}: max abs error ${error} vs limit ${relativeTolerance * scale}`).toBeLessThanOrEqual(
    relativeTolerance * scale,
  );
  return error / scale;
}

function output(result: Record<string, ort.Tensor>, name: string): ort.Tensor {
  const tensor = result[name];
  if (tensor === undefined) throw new Error(`graph output ${name} is missing (found: ${Object.keys(result).join(', ')})`);
  return tensor;
}

describe.skipIf(fixture === null)(
  `exported Base graphs vs the official implementation${fixture === null ? ` (skipped: ${officialFixtureSkipReason})` : ''}`,
  () => {
    let faceLayer: Promise<ort.Tensor> | undefined;
    let denseLayer: Promise<ort.Tensor> | undefined;

    /** layer_11 of the 112 px encoder for input_112, computed once. */
    const faceFeatures = (): Promise<ort.Tensor> =>
      (faceLayer ??= run('encoder_112', { image: floatTensor(fixtureArray('input_112')) }).then((r) => output(r, 'layer_11')));

    /** layer_11 of the 512 px encoder for input_512, computed once. */
    const denseFeatures = (): Promise<ort.Tensor> =>
      (denseLayer ??= run('encoder_512', { image: floatTensor(fixtureArray('input_512')) }).then((r) => output(r, 'layer_11')));

    beforeAll(() => {
      exportDir = mkdtempSync(path.join(os.tmpdir(), 'faceptor-parity-'));
      const exported = spawnSync(
        systemPython,
        ['training/export_onnx.py', '--config', 'base', '--fixture-weights', fixture as string, '--out', exportDir],
        { cwd: repoRoot, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      if (exported.status !== 0) {
        throw new Error(`export_onnx.py failed (exit ${exported.status ?? exported.signal}):\n${exported.stderr.slice(-4000)}`);
      }
      manifest = JSON.parse(readFileSync(path.join(exportDir, 'manifest.json'), 'utf8')) as Manifest;
    });

    afterAll(async () => {
      for (const opened of sessions.values()) await opened.release();
      sessions.clear();
      if (exportDir !== '') rmSync(exportDir, { recursive: true, force: true });
    });

    it('manifest maps the Base heads to their official tasks', () => {
      const tasks = Object.fromEntries(Object.entries(manifest.heads).map(([head, entry]) => [head, entry.source_task]));
      expect(tasks).toEqual({
        identity: 'recog_ms1mv3',
        age: 'age_morph2',
        attributes: 'biattr_celeba',
        expression: 'affect_rafdb',
        landmarks: 'align_300w',
        parsing: 'parsing_celebam',
      });
    });

    it('encoder_112 matches enc112_layer11', async () => {
      expectClose(await faceFeatures(), 'enc112_layer11');
    });

    it('identity matches the raw recognition embedding', async () => {
      const result = await run('identity', { layer_11: await faceFeatures() });
      expectClose(output(result, 'embedding'), 'recog_ms1mv3__embedding_raw');
    });

    it('values matches age, attribute and RAF-DB expression logits', async () => {
      const result = await run('values', { layer_11: await faceFeatures() });
      expectClose(output(result, 'age_logits'), 'age_morph2__logits');
      expectClose(output(result, 'attribute_logits'), 'biattr_celeba__logits');
      expectClose(output(result, 'expression_logits'), 'affect_rafdb__logits');
    });

    it('values runs a batch of one (dynamic batch axis)', async () => {
      const face = await faceFeatures();
      const features = face.data as Float32Array;
      const single = new ort.Tensor('float32', features.slice(0, features.length / 2), [1, ...face.dims.slice(1)]);
      const batched = output(await run('values', { layer_11: face }), 'age_logits').data as Float32Array;
      const alone = output(await run('values', { layer_11: single }), 'age_logits');
      expect(Array.from(alone.dims)).toEqual([1, 101]);
      const first = batched.slice(0, 101);
      const worst = Math.max(...Array.from(alone.data as Float32Array, (v, i) => Math.abs(v - first[i]!)));
      expect(worst).toBeLessThanOrEqual(1e-5 * Math.max(...Array.from(first, Math.abs)));
    });

    it('encoder_512 matches enc512_layer11', async () => {
      expectClose(await denseFeatures(), 'enc512_layer11');
    });

    it('parsing matches the CelebAMask-HQ logits at 128 px', async () => {
      const result = await run('parsing', { layer_11: await denseFeatures() });
      expectClose(output(result, 'parsing_logits'), 'parsing_celebam__logits_128');
    });

    it('landmarks matches the 300W heatmap logits', async () => {
      const result = await run('landmarks', { layer_11: await denseFeatures() });
      expectClose(output(result, 'heatmap_logits'), 'align_300w__heatmap_logits');
    });
  },
);

describe('committed faceptor-tiny graphs in onnxruntime-node', () => {
  const folder = path.join(repoRoot, 'models', 'faceptor-tiny');
  const tiny = JSON.parse(readFileSync(path.join(folder, 'manifest.json'), 'utf8')) as Manifest;
  const batch = 3;

  /** Builds a deterministic, non-constant float tensor of the manifest shape with N = batch. */
  function patternTensor(shape: (string | number)[]): ort.Tensor {
    const dims = shape.map((d) => (d === 'N' ? batch : (d as number)));
    const data = new Float32Array(dims.reduce((product, d) => product * d, 1));
    for (let i = 0; i < data.length; i++) data[i] = Math.sin(0.37 * i) * 0.8;
    return new ort.Tensor('float32', data, dims);
  }

  it('every graph runs with a batch of 3 and returns the manifest shapes', async () => {
    for (const [name, graph] of Object.entries(tiny.graphs)) {
      const opened = await ort.InferenceSession.create(path.join(folder, graph.file), { executionProviders: ['cpu'] });
      try {
        const feeds = Object.fromEntries(graph.inputs.map((input) => [input.name, patternTensor(input.shape)]));
        const result = await opened.run(feeds);
        for (const declared of graph.outputs) {
          const tensor = output(result, declared.name);
          expect(Array.from(tensor.dims), `${name}.${declared.name}`).toEqual(declared.shape.map((d) => (d === 'N' ? batch : d)));
          expect((tensor.data as Float32Array).every(Number.isFinite), `${name}.${declared.name} is finite`).toBe(true);
        }
      } finally {
        await opened.release();
      }
    }
  });
});
