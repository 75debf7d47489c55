/**
 * Pipeline throughput against bare onnxruntime, measured in one process.
 *
 * It records every session.run that the whole pipeline makes for one call (detector windows, encoders,
 * heads), then replays exactly those runs on pre-built tensors of the same dims: the "bare model" cost of
 * the same work. Rounds alternate between the two so that machine noise hits both alike, and the figures
 * are medians over the rounds. Two scenarios, each at batch 1 and 8:
 * - group: one group photo (29 faces), crops batched `batch` per session.run;
 * - portrait: `batch` single-face portraits per analyze call, so crops are batched `batch` per run.
 *
 *   npm run bench [-- --rounds 5 --model DIR]
 *
 * The last line printed is `pipeline_vs_bare_batch8=<ratio>` (pipeline faces/s divided by bare faces/s) for
 * the portrait scenario, the harder case, because every face there brings its own decode and detection.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { TASKS } from '@faceptor/core';
import { OnnxGraph } from '../gpu-worker/src/inference/sessions.ts';
import type { Float32Tensor } from '../gpu-worker/src/inference/tensor.ts';
import { openPipeline, defaultModelDir } from '../gpu-worker/src/open-pipeline.ts';
import type { FaceptorPipeline } from '../gpu-worker/src/pipeline/pipeline.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface RecordedRun {
  graph: OnnxGraph;
  feeds: Record<string, Float32Tensor>;
}

const stageNames = ['decode', 'detect', 'align', 'infer', 'postprocess'] as const;
type StageTimes = Record<(typeof stageNames)[number], number>;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      model: { type: 'string', default: defaultModelDir },
      portrait: { type: 'string', default: path.join(repoRoot, 'test', 'fixtures', 'photos', 'dlib-examples', 'Tom_Cruise_avp_2014_4.jpg') },
      group: { type: 'string', default: path.join(repoRoot, 'test', 'fixtures', 'photos', 'solvay-1927', '1280px-Solvay_conference_1927.png') },
      threads: { type: 'string', default: '0' },
    },
  });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive whole number, got "${values.rounds}"`);

  const [portrait, group] = await Promise.all([readFile(values.portrait), readFile(values.group)]);
  console.log(`model ${values.model}, tasks ${TASKS.join(',')}, ${rounds} rounds, CPU execution provider`);

  let groupRatio = Number.NaN;
  for (const batch of [1, 8]) {
    const pipeline = await openBenchPipeline(values.model, batch, Number(values.threads));
    try {
      console.log(`\n[group] ${path.basename(values.group)}, ${batch} crops per session.run`);
      groupRatio = await measureBatch(pipeline, [group], rounds);
    } finally {
      await pipeline.close();
    }
  }

  let portraitRatio = Number.NaN;
  const pipeline = await openBenchPipeline(values.model, 8, Number(values.threads));
  try {
    for (const batch of [1, 8]) {
      console.log(`\n[portrait] ${batch} x ${path.basename(values.portrait)} per analyze call`);
      portraitRatio = await measureBatch(pipeline, Array.from({ length: batch }, () => portrait), rounds);
    }
  } finally {
    await pipeline.close();
  }

  console.log(`\ngroup_pipeline_vs_bare_batch8=${groupRatio.toFixed(3)}`);
  console.log(`pipeline_vs_bare_batch8=${portraitRatio.toFixed(3)}`);
}

/**
 * Open the pipeline with untrained heads run (their outputs still never reach a result), so a random-weight
 * head costs exactly what a trained one of the same shape would.
 */
function openBenchPipeline(modelDir: string, maxBatchCrops: number, threads: number): Promise<FaceptorPipeline> {
  return openPipeline({ modelDir, runUntrainedHeads: true, maxBatchCrops, intraOpNumThreads: threads });
}

/** Measure one analyze call on `images`; returns pipeline faces/s divided by bare faces/s. */
async function measureBatch(pipeline: FaceptorPipeline, images: readonly Uint8Array[], rounds: number): Promise<number> {
  const inputs = images.map((image) => ({ image, tasks: [...TASKS] }));

  const recorded = await recordRuns(() => pipeline.analyze(inputs));
  const first = recorded.outcome[0];
  if (!first?.ok) throw new Error('the benchmark image could not be analyzed');
  const faces = recorded.outcome.reduce((sum, outcome) => sum + (outcome.ok ? outcome.result.faces.length : 0), 0);
  if (faces === 0) throw new Error('the benchmark images have no detected face; pass --portrait or --group with a face photo');
  const replay = recorded.runs.map((run) => ({ graph: run.graph, feeds: cloneFeeds(run.feeds) }));

  const pipelineMs: number[] = [];
  const bareMs: number[] = [];
  const stages: StageTimes[] = [];
  for (let round = 0; round < rounds; round++) {
    const started = performance.now();
    const outcomes = await pipeline.analyze(inputs);
    pipelineMs.push(performance.now() - started);
    stages.push(sumStages(outcomes));

    const bareStarted = performance.now();
    for (const run of replay) await run.graph.run(run.feeds);
    bareMs.push(performance.now() - bareStarted);
  }

  const pipelineFps = (faces * 1000) / median(pipelineMs);
  const bareFps = (faces * 1000) / median(bareMs);
  const ratio = pipelineFps / bareFps;
  console.log(`  ${faces} faces per call, ${replay.length} session.run calls per call`);
  console.log(`  pipeline ${pipelineFps.toFixed(2)} faces/s (median ${median(pipelineMs).toFixed(1)} ms per call)`);
  console.log(`  bare     ${bareFps.toFixed(2)} faces/s (median ${median(bareMs).toFixed(1)} ms per call)`);
  console.log(`  pipeline/bare ${ratio.toFixed(3)}`);
  console.log(`  stages (median ms per call): ${stageNames.map((name) => `${name} ${median(stages.map((s) => s[name])).toFixed(1)}`).join(', ')}`);
  return ratio;
}

/** Run `action` while recording every OnnxGraph.run call it makes. */
async function recordRuns<T>(action: () => Promise<T>): Promise<{ outcome: T; runs: RecordedRun[] }> {
  const runs: RecordedRun[] = [];
  const original = OnnxGraph.prototype.run;
  OnnxGraph.prototype.run = function recordingRun(this: OnnxGraph, feeds, outputNames) {
    runs.push({ graph: this, feeds: { ...feeds } });
    return original.call(this, feeds, outputNames);
  };
  try {
    return { outcome: await action(), runs };
  } finally {
    OnnxGraph.prototype.run = original;
  }
}

/** Copies of the recorded feeds, so the bare replay reads tensors built before timing starts. */
function cloneFeeds(feeds: Record<string, Float32Tensor>): Record<string, Float32Tensor> {
  const copy: Record<string, Float32Tensor> = {};
  for (const [name, tensor] of Object.entries(feeds)) copy[name] = { data: tensor.data.slice(), dims: [...tensor.dims] };
  return copy;
}

function sumStages(outcomes: Awaited<ReturnType<FaceptorPipeline['analyze']>>): StageTimes {
  const sums: StageTimes = { decode: 0, detect: 0, align: 0, infer: 0, postprocess: 0 };
  for (const outcome of outcomes) {
    if (!outcome.ok) continue;
    for (const name of stageNames) sums[name] += outcome.result.timings_ms[name];
  }
  return sums;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[middle] as number) : ((sorted[middle - 1] as number) + (sorted[middle] as number)) / 2;
}

await main();
