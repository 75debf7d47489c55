/**
 * The shipped default model (models/faceptor-tiny) is the distilled demo. Its manifest marks trained only
 * distilled heads that beat a label-only baseline on the held-out faces, the CLI reports exactly those
 * heads, and re-running the evaluation through the real pipeline reproduces the committed metrics.
 */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseResult } from '@faceptor/core/result';
import { photosDir, repoRoot } from '../../test/support/requirements.ts';
import { evaluatedHeads, evaluateStudent, pairwiseCosines, pearson, type EvaluationReport } from './evaluate-student.ts';

const run = promisify(execFile);
const modelDir = path.join(repoRoot, 'models', 'faceptor-tiny');
const labelsPath = path.join(repoRoot, 'training', 'data', 'teacher-labels.json');
const metricsPath = path.join(repoRoot, 'training', 'data', 'heldout-metrics.json');

interface ManifestHeads {
  source: { kind: string };
  heads: Record<string, { trained: boolean; trained_on: string | null }>;
}

describe('shipped faceptor-tiny', () => {
  let manifest: ManifestHeads;
  let trained: string[];
  let committed: EvaluationReport;

  beforeAll(async () => {
    manifest = JSON.parse(await readFile(path.join(modelDir, 'manifest.json'), 'utf8')) as ManifestHeads;
    trained = Object.entries(manifest.heads)
      .filter(([, head]) => head.trained)
      .map(([name]) => name)
      .sort();
    committed = JSON.parse(await readFile(metricsPath, 'utf8')) as EvaluationReport;
  });

  it('trained heads all have a teacher', () => {
    expect(manifest.source.kind).toBe('distilled-here');
    expect(trained.length).toBeGreaterThan(0);
    for (const name of trained) {
      expect(evaluatedHeads as readonly string[]).toContain(name);
      expect(manifest.heads[name]?.trained_on).toMatch(/^distilled from face-api/);
    }
    for (const name of ['attributes', 'parsing']) {
      expect(manifest.heads[name]?.trained).toBe(false);
      expect(manifest.heads[name]?.trained_on).toBeNull();
    }
  });

  it('trained heads beat label-only baselines', () => {
    const heldout = committed.splits.heldout;
    const base = committed.baselines;
    expect(committed.model.trainedHeads.slice().sort()).toEqual(trained);
    if (trained.includes('landmarks')) expect(heldout.landmarkNme!.mean).toBeLessThan(base.heldoutMeanShapeNme);
    if (trained.includes('age')) expect(heldout.ageMaeYears!).toBeLessThan(base.heldoutAgeMaeOfTrainMean);
    if (trained.includes('expression')) expect(heldout.expressionAgreement!).toBeGreaterThan(base.heldoutExpressionAgreementOfTrainMajority);
    if (trained.includes('identity')) expect(heldout.identityPairPearson!).toBeGreaterThan(0.3);
  });

  it('CLI reports the trained heads and nothing else', async () => {
    const { stdout } = await run('npx', ['faceptor', 'analyze', path.join(photosDir, 'astronaut.png'), '--compact'], { cwd: repoRoot });
    const result = parseResult(JSON.parse(stdout));

    expect(result.faces).toHaveLength(1);
    const face = result.faces[0]! as Record<string, unknown>;
    for (const name of Object.keys(manifest.heads)) {
      if (trained.includes(name)) expect(face, name).toHaveProperty(name);
      else expect(face, name).not.toHaveProperty(name);
    }
    for (const name of Object.keys(manifest.heads).filter((head) => !trained.includes(head))) {
      expect(result.warnings.join('\n')).toContain(`"${name}"`);
    }
  });

  it('evaluation reproduces the committed metrics', async () => {
    const report = await evaluateStudent({ modelDir, labelsPath });

    expect(report.model.trainedHeads.slice().sort()).toEqual(trained);
    expect(report.model.version).toBe(committed.model.version);
    expect(report.baselines).toEqual(committed.baselines);
    // The CPU provider may round differently on another machine, so allow small differences, and one
    // expression argmax flip on a near tie.
    for (const split of ['train', 'heldout'] as const) {
      const now = report.splits[split];
      const then = committed.splits[split];
      expect(now.matchedFaces, split).toBe(then.matchedFaces);
      if (then.landmarkNme) expect(Math.abs(now.landmarkNme!.mean - then.landmarkNme.mean), `${split} NME`).toBeLessThan(2e-3);
      if (then.ageMaeYears !== null) expect(Math.abs(now.ageMaeYears! - then.ageMaeYears), `${split} age MAE`).toBeLessThan(0.05);
      if (then.expressionAgreement !== null) {
        expect(Math.abs(now.expressionAgreement! - then.expressionAgreement), `${split} expression`).toBeLessThanOrEqual(1 / then.matchedFaces + 1e-4);
      }
      if (then.identityPairPearson !== null) expect(Math.abs(now.identityPairPearson! - then.identityPairPearson), `${split} identity`).toBeLessThan(2e-3);
    }
  });
});

describe('evaluation statistics', () => {
  it('pearson of a linear map is one', () => {
    expect(pearson([1, 2, 3, 4], [3, 5, 7, 9])).toBeCloseTo(1, 12);
    expect(pearson([1, 2, 3, 4], [4, 3, 2, 1])).toBeCloseTo(-1, 12);
  });

  it('pairwiseCosines lists pairs in row order', () => {
    const cosines = pairwiseCosines([
      [1, 0],
      [0, 2],
      [3, 3],
    ]);
    expect(cosines).toHaveLength(3);
    expect(cosines[0]).toBeCloseTo(0, 12);
    expect(cosines[1]).toBeCloseTo(Math.SQRT1_2, 12);
    expect(cosines[2]).toBeCloseTo(Math.SQRT1_2, 12);
  });
});
