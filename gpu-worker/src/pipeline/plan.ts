/**
 * Head planning: the heads that run for a request, and the reasons the others do not. Pure: reads only the manifest and the request.
 */
import type { ModelManifest } from '@faceptor/core/model-manifest';
import type { Task } from '@faceptor/core';
import { headNames, type HeadName } from './model.ts';

/** Heads that read the face (112 px) encoder. */
export const faceEncoderHeads = ['identity', 'age', 'expression', 'attributes'] as const satisfies readonly HeadName[];

export interface HeadPlan {
  /** Requested heads that will run and appear in the result. */
  reported: Set<HeadName>;
  /** Heads that will run: the reported ones, plus untrained requested ones when `runUntrainedHeads` is set. */
  run: Set<HeadName>;
  /** Whether the landmark pass runs to give the other crops their five alignment points. */
  landmarksForAlignment: boolean;
  /** Notes for the result, one per request-level fact a caller should know. */
  warnings: string[];
}

export interface PlanOptions {
  /**
   * Run heads whose weights were not trained, for pipeline tests and benchmarks. Their outputs are still left
   * out of every result.
   */
  runUntrainedHeads: boolean;
}

/** Plan the heads for one request. Task names equal head names. */
export function planHeads(manifest: ModelManifest, tasks: readonly Task[], options: PlanOptions): HeadPlan {
  const reported = new Set<HeadName>();
  const run = new Set<HeadName>();
  const warnings: string[] = [];

  for (const head of headNames) {
    if (!tasks.includes(head)) continue;
    const entry = manifest.heads[head];
    if (!entry) {
      warnings.push(`task "${head}" was requested but model ${manifest.name} has no ${head} head; it is left out`);
      continue;
    }
    if (entry.trained) {
      reported.add(head);
      run.add(head);
    } else {
      warnings.push(`task "${head}" was requested but the ${head} head of model ${manifest.name} is untrained; it is left out`);
      if (options.runUntrainedHeads) run.add(head);
    }
  }

  const needsAlignment = faceEncoderHeads.some((head) => run.has(head)) || run.has('parsing');
  const landmarksTrained = manifest.heads.landmarks?.trained === true;
  const landmarksForAlignment = needsAlignment && landmarksTrained;
  if (needsAlignment && !landmarksTrained) {
    warnings.push(
      'the model has no trained landmark head, so the aligned crops were built from the detector box instead of five landmark points; expect lower accuracy',
    );
  }
  return { reported, run, landmarksForAlignment, warnings };
}
