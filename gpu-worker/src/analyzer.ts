/**
 * The pipeline behind the worker's ImageAnalyzer port. It runs a batch, validates each result against the
 * v1 schema, and encodes each parsing label map as a PNG for the worker to store. The worker then fills in
 * each face's `parsing.mask`.
 */
import type { AnalyzeOutcome, AnalyzeRequest, ImageAnalyzer, ParsingMask } from '@faceptor/core';
import { resultSchema } from '@faceptor/core/result';
import { encodeLabelMapPng } from './postprocess/index.ts';
import { openPipeline, type OpenPipelineOptions } from './open-pipeline.ts';
import type { FaceptorPipeline } from './pipeline/pipeline.ts';

/** Settings the analyzer reads; a parsed core config satisfies it. */
export interface AnalyzerConfig {
  modelDir: string;
  detectorDir: string;
  executionProviders: readonly string[];
  maxImagePixels?: number;
}

/** Open the model and detector and return the analyzer the queue worker calls. */
export async function createPipelineAnalyzer(config: AnalyzerConfig): Promise<ImageAnalyzer> {
  const options: OpenPipelineOptions = {
    modelDir: config.modelDir,
    detectorDir: config.detectorDir,
    executionProviders: config.executionProviders.filter((p): p is 'cuda' | 'cpu' => p === 'cuda' || p === 'cpu'),
    ...(config.maxImagePixels !== undefined ? { maxPixels: config.maxImagePixels } : {}),
  };
  return new PipelineAnalyzer(await openPipeline(options));
}

class PipelineAnalyzer implements ImageAnalyzer {
  constructor(private readonly pipeline: FaceptorPipeline) {}

  async analyzeBatch(requests: AnalyzeRequest[]): Promise<AnalyzeOutcome[]> {
    const outcomes = await this.pipeline.analyze(requests.map((request) => ({ image: request.image, tasks: request.tasks })));
    return Promise.all(
      outcomes.map(async (outcome): Promise<AnalyzeOutcome> => {
        if (!outcome.ok) return { ok: false, code: 'invalid_image', message: outcome.error.message };

        const masks: ParsingMask[] = [];
        for (const [faceIndex, map] of outcome.parsingMaps) {
          masks.push({ faceIndex, png: await encodeLabelMapPng(map) });
        }
        return { ok: true, result: resultSchema.parse(outcome.result), masks };
      }),
    );
  }

  close(): Promise<void> {
    return this.pipeline.close();
  }
}
