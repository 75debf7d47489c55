import { execFile } from 'node:child_process';
import { copyFile, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASKS } from '@faceptor/core';
import { parseResult } from '@faceptor/core/result';
import { photosDir, repoRoot } from '../../../test/support/requirements.ts';
import { OnnxGraph } from '../inference/sessions.ts';
import { defaultModelDir, openPipeline } from '../open-pipeline.ts';
import type { FaceptorPipeline, PipelineOutcome } from './pipeline.ts';

const run = promisify(execFile);
const astronautPath = path.join(photosDir, 'astronaut.png');
const solvayPath = path.join(photosDir, 'solvay-1927', '1280px-Solvay_conference_1927.png');
const dogsPath = path.join(photosDir, 'dlib-examples', 'dogs.jpg');

/** Names of the graphs run while `action` runs, in call order. */
async function graphsRun<T>(action: () => Promise<T>): Promise<{ value: T; graphs: string[] }> {
  const graphs: string[] = [];
  const original = OnnxGraph.prototype.run;
  OnnxGraph.prototype.run = function recordingRun(this: OnnxGraph, feeds, outputNames) {
    graphs.push(this.name);
    return original.call(this, feeds, outputNames);
  };
  try {
    return { value: await action(), graphs };
  } finally {
    OnnxGraph.prototype.run = original;
  }
}

function okOutcome(outcome: PipelineOutcome | undefined): Extract<PipelineOutcome, { ok: true }> {
  if (!outcome?.ok) throw new Error(`expected a successful outcome, got ${outcome ? outcome.error.message : 'nothing'}`);
  return outcome;
}

describe('faceptor CLI', () => {
  let workDir: string;
  beforeAll(async () => {
    workDir = await mkdtemp(path.join(tmpdir(), 'faceptor-cli-'));
  });
  afterAll(async () => {
    await rm(workDir, { recursive: true, force: true });
  });

  it('prints a valid result and writes an overlay', async () => {
    const overlay = path.join(workDir, 'overlay.png');
    const { stdout } = await run('npx', ['faceptor', 'analyze', astronautPath, '--overlay', overlay], { cwd: repoRoot });
    const result = parseResult(JSON.parse(stdout));

    expect(result.image).toEqual({ width: 512, height: 512 });
    expect(result.faces).toHaveLength(1);
    expect(Object.keys(result.model.heads).sort()).toEqual([...TASKS].sort());
    const meta = await sharp(overlay).metadata();
    expect(meta.format).toBe('png');
    expect([meta.width, meta.height]).toEqual([512, 512]);
  });

  it('leaves untrained heads out of faces', async () => {
    const { stdout } = await run('npx', ['faceptor', 'analyze', astronautPath, '--compact'], { cwd: repoRoot });
    const result = parseResult(JSON.parse(stdout));
    const untrained = Object.entries(result.model.heads).filter(([, head]) => !head?.trained).map(([name]) => name);

    for (const face of result.faces) {
      for (const head of untrained) expect(face).not.toHaveProperty(head);
    }
    for (const head of untrained) expect(result.warnings.join('\n')).toContain(`"${head}"`);
  });

  it('rejects an unknown task with the valid set', async () => {
    const failure = await run('npx', ['faceptor', 'analyze', astronautPath, '--tasks', 'age,gender'], { cwd: repoRoot }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 2 });
    expect(String((failure as { stderr: string }).stderr)).toMatch(/invalid task "gender".*valid tasks are landmarks, parsing/);
  });

  it('exits 1 with a message for a corrupt image', async () => {
    const corrupt = path.join(workDir, 'corrupt.jpg');
    const bytes = await readFile(path.join(photosDir, 'dlib-examples', '2008_001009.jpg'));
    await writeFile(corrupt, bytes.subarray(0, 600));
    const failure = await run('npx', ['faceptor', 'analyze', corrupt], { cwd: repoRoot }).catch((error: unknown) => error);
    expect(failure).toMatchObject({ code: 1 });
    expect(String((failure as { stderr: string }).stderr)).toContain(corrupt);
  });
});

describe('pipeline with untrained heads run', () => {
  let pipeline: FaceptorPipeline;
  let astronaut: Buffer;
  let solvay: Buffer;

  beforeAll(async () => {
    pipeline = await openPipeline({ runUntrainedHeads: true });
    [astronaut, solvay] = await Promise.all([readFile(astronautPath), readFile(solvayPath)]);
  });
  afterAll(async () => {
    await pipeline.close();
  });

  it('decodes every head for every face', async () => {
    const [outcome] = await pipeline.analyze([{ image: solvay, tasks: [...TASKS] }]);
    const { faceOutputs, image } = okOutcome(outcome);
    const manifest = pipeline.manifest;

    expect(faceOutputs.length).toBeGreaterThanOrEqual(26);
    for (const face of faceOutputs) {
      expect(face.landmarks).toHaveLength(manifest.heads.landmarks?.points ?? -1);
      expect(face.age).toBeGreaterThanOrEqual(0);
      expect(face.age).toBeLessThanOrEqual(100);
      const probabilities = Object.values(face.expression?.probabilities ?? {});
      expect(probabilities.reduce((sum, p) => sum + p, 0)).toBeCloseTo(1, 5);
      expect(Object.keys(face.attributes ?? {})).toEqual(manifest.heads.attributes?.labels);
      const norm = Math.hypot(...(face.identity ?? []));
      expect(face.identity).toHaveLength(manifest.heads.identity?.dim ?? -1);
      expect(norm).toBeCloseTo(1, 5);
      expect(face.parsing?.labels).toHaveLength(image.width * image.height);
    }
  });

  it('gives the same outputs batched as alone', async () => {
    const both = await pipeline.analyze([
      { image: astronaut, tasks: [...TASKS] },
      { image: solvay, tasks: [...TASKS] },
    ]);
    const [alone] = await pipeline.analyze([{ image: astronaut, tasks: [...TASKS] }]);
    const batched = okOutcome(both[0]).faceOutputs[0];
    const single = okOutcome(alone).faceOutputs[0];

    expect(batched?.age).toBeCloseTo(single?.age ?? Number.NaN, 3);
    expect(batched?.identity?.[0]).toBeCloseTo(single?.identity?.[0] ?? Number.NaN, 4);
    expect(batched?.landmarks?.[30]?.[0]).toBeCloseTo(single?.landmarks?.[30]?.[0] ?? Number.NaN, 2);
    expect(okOutcome(both[1]).faceOutputs.length).toBeGreaterThanOrEqual(26);
  });

  it('runs only the graphs that age needs', async () => {
    const { graphs } = await graphsRun(() => pipeline.analyze([{ image: astronaut, tasks: ['age'] }]));
    const modelGraphs = graphs.filter((name) => !name.startsWith('detector:'));
    const manifest = pipeline.manifest;
    const expected = [`${manifest.name}/${manifest.encoders.face?.graph}`, `${manifest.name}/values`];
    // A trained landmark head places the face crop, so its dense pass runs too; otherwise the box does.
    if (manifest.heads.landmarks?.trained) expected.push(`${manifest.name}/${manifest.encoders.dense?.graph}`, `${manifest.name}/landmarks`);

    expect(new Set(modelGraphs)).toEqual(new Set(expected));
  });

  it('batches crops of several images in one run', async () => {
    const { graphs } = await graphsRun(() =>
      pipeline.analyze([
        { image: astronaut, tasks: ['identity'] },
        { image: astronaut, tasks: ['identity'] },
        { image: astronaut, tasks: ['identity'] },
      ]),
    );
    expect(graphs.filter((name) => name.endsWith('/identity'))).toHaveLength(1);
  });

  it('fails a corrupt image and keeps the others', async () => {
    const outcomes = await pipeline.analyze([
      { image: astronaut.subarray(0, 100), tasks: ['age'] },
      { image: astronaut, tasks: ['age'] },
    ]);
    expect(outcomes[0]).toMatchObject({ ok: false, error: { code: 'invalid_image' } });
    expect(okOutcome(outcomes[1]).result.faces).toHaveLength(1);
  });

  it('returns no faces for the dogs photo', async () => {
    const [outcome] = await pipeline.analyze([{ image: await readFile(dogsPath), tasks: [...TASKS] }]);
    expect(okOutcome(outcome).result.faces).toEqual([]);
  });
});

describe('pipeline with a trained landmark head', () => {
  let modelDir: string;
  let pipeline: FaceptorPipeline;

  beforeAll(async () => {
    // A copy of the shipped model whose manifest marks the landmark head trained, to exercise the path where
    // Faceptor's own 68 points give the five alignment points. The weights stay random: only plumbing is tested.
    modelDir = await mkdtemp(path.join(tmpdir(), 'faceptor-model-'));
    for (const file of await readdir(defaultModelDir)) await copyFile(path.join(defaultModelDir, file), path.join(modelDir, file));
    const manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8'));
    manifest.heads.landmarks.trained = true;
    manifest.heads.landmarks.trained_on = 'test copy';
    await writeFile(path.join(modelDir, 'manifest.json'), JSON.stringify(manifest));
    pipeline = await openPipeline({ modelDir, runUntrainedHeads: true });
  });
  afterAll(async () => {
    await pipeline.close();
    await rm(modelDir, { recursive: true, force: true });
  });

  it('aligns the face crop with its own landmarks', async () => {
    const image = await readFile(astronautPath);
    const { value, graphs } = await graphsRun(() => pipeline.analyze([{ image, tasks: ['age'] }]));
    const outcome = okOutcome(value[0]);
    const face = outcome.faceOutputs[0];
    const indices = pipeline.manifest.heads.landmarks?.five_point_indices ?? [];
    const noseIndex = indices[2]?.[0] ?? -1;

    expect(graphs.some((name) => name.endsWith('/landmarks'))).toBe(true);
    expect(face?.alignmentPoints?.[2]).toEqual(face?.landmarks?.[noseIndex]);
    expect(outcome.result.faces[0]).not.toHaveProperty('landmarks');
    expect(outcome.result.warnings.join('\n')).not.toMatch(/built from the detector box/);
  });

  it('reports landmarks in image pixels', async () => {
    const [outcome] = await pipeline.analyze([{ image: await readFile(astronautPath), tasks: ['landmarks'] }]);
    const result = okOutcome(outcome).result;
    const points = result.faces[0]?.landmarks?.points ?? [];
    const box = result.faces[0]?.box;

    expect(points).toHaveLength(68);
    // Random weights put the soft-argmax near the heatmap center, which maps back to about the box center.
    const meanX = points.reduce((sum, [x]) => sum + x, 0) / points.length;
    expect(Math.abs(meanX - ((box?.x ?? 0) + (box?.width ?? 0) / 2))).toBeLessThan((box?.width ?? 0) / 2);
  });
});
