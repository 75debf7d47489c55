/**
 * Defaults and the one call that opens a ready pipeline, shared by the CLI, the worker and the benchmark.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionProviderName } from './inference/sessions.ts';
import { FaceptorPipeline, type PipelineOptions } from './pipeline/pipeline.ts';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The model shipped in this repository (resolved from the source tree, so any working directory works). */
export const defaultModelDir = path.join(repoRoot, 'models', 'faceptor-tiny');
/** The face detector shipped in this repository. */
export const defaultDetectorDir = path.join(repoRoot, 'models', 'ultraface-rfb320');
/** Largest accepted image: 40 megapixels (for example 8000 x 5000). */
export const defaultMaxPixels = 40_000_000;

export interface OpenPipelineOptions {
  modelDir?: string;
  detectorDir?: string;
  executionProviders?: readonly ExecutionProviderName[];
  maxPixels?: number;
  maxBatchCrops?: number;
  runUntrainedHeads?: boolean;
  intraOpNumThreads?: number;
}

/** Open the pipeline with the repository's defaults for every option not given. */
export function openPipeline(options: OpenPipelineOptions = {}): Promise<FaceptorPipeline> {
  const resolved: PipelineOptions = {
    modelDir: path.resolve(options.modelDir ?? defaultModelDir),
    detectorDir: path.resolve(options.detectorDir ?? defaultDetectorDir),
    executionProviders: options.executionProviders ?? ['cpu'],
    maxPixels: options.maxPixels ?? defaultMaxPixels,
    ...(options.maxBatchCrops !== undefined ? { maxBatchCrops: options.maxBatchCrops } : {}),
    ...(options.runUntrainedHeads !== undefined ? { runUntrainedHeads: options.runUntrainedHeads } : {}),
    ...(options.intraOpNumThreads !== undefined ? { intraOpNumThreads: options.intraOpNumThreads } : {}),
  };
  return FaceptorPipeline.create(resolved);
}
