export { createPipelineAnalyzer, type AnalyzerConfig } from './analyzer.ts';
export { defaultDetectorDir, defaultMaxPixels, defaultModelDir, openPipeline, type OpenPipelineOptions } from './open-pipeline.ts';
export { FaceptorPipeline, type FaceOutputs, type PipelineInput, type PipelineOptions, type PipelineOutcome } from './pipeline/pipeline.ts';
export { decodeImage, type DecodedImage } from './decode/index.ts';
export * from './worker/index.ts';
