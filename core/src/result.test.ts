import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { InvalidResultError, parseResult, RESULT_SCHEMA_ID, resultJsonSchema, resultSchema, type FaceptorResult } from './result.ts';

const committedSchemaFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'docs', 'result.schema.json');

function unitVector(length: number): number[] {
  return Array.from({ length }, () => 1 / Math.sqrt(length));
}

function sampleResult(): FaceptorResult {
  return {
    schema: RESULT_SCHEMA_ID,
    image: { width: 1280, height: 926 },
    model: {
      name: 'faceptor-base',
      version: '1.0.0',
      heads: {
        landmarks: { trained: true, trained_on: '300W' },
        parsing: { trained: true, trained_on: 'CelebAMask-HQ' },
        age: { trained: true, trained_on: 'MORPH II' },
        expression: { trained: true },
        attributes: { trained: true, trained_on: null },
        identity: { trained: false, trained_on: null },
      },
    },
    warnings: [],
    faces: [
      {
        box: { x: 410.5, y: 120, width: 180, height: 224 },
        score: 0.99,
        landmarks: {
          scheme: '300w-68',
          points: [
            [440.2, 210.7],
            [560.1, 208.3],
          ],
        },
        parsing: { scheme: 'lapa-11', labels: ['background', 'skin', 'hair'], mask: 'jobs/abc/parsing-0.png', areas: { skin: 0.7, hair: 0.3 } },
        age: { years: 31.2 },
        expression: { label: 'happy', probabilities: { neutral: 0.1, happy: 0.9 } },
        attributes: { Smiling: 0.97, Eyeglasses: 0.02 },
      },
    ],
    timings_ms: { decode: 4, detect: 20, align: 3, infer: 80, postprocess: 12, total: 119 },
  };
}

/** Issues of a failed parse as "path: message" lines. */
function issuesOf(value: unknown): string[] {
  const parsed = resultSchema.safeParse(value);
  expect(parsed.success).toBe(false);
  return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
}

describe('result schema file', () => {
  it('matches the generated JSON Schema', () => {
    const committed = readFileSync(committedSchemaFile, 'utf8');
    expect(JSON.parse(committed)).toEqual(resultJsonSchema());
    expect(committed).toBe(`${JSON.stringify(resultJsonSchema(), null, 2)}\n`);
  });

  it('describes the top-level fields', () => {
    const schema = resultJsonSchema() as { required: string[]; additionalProperties: boolean };
    expect(schema.required).toEqual(['schema', 'image', 'model', 'warnings', 'faces', 'timings_ms']);
    expect(schema.additionalProperties).toBe(false);
  });
});

describe('resultSchema', () => {
  it('accepts a complete result', () => {
    const sample = sampleResult();
    expect(parseResult(sample)).toEqual(sample);
  });

  it('accepts an identity embedding of unit length', () => {
    const sample = sampleResult();
    sample.model.heads.identity = { trained: true };
    sample.faces[0]!.identity = { embedding: unitVector(512) };
    expect(resultSchema.safeParse(sample).success).toBe(true);
  });

  it('accepts an image with no faces', () => {
    expect(resultSchema.safeParse({ ...sampleResult(), faces: [] }).success).toBe(true);
  });

  it('rejects missing fields with their paths', () => {
    const { timings_ms: _timings, ...withoutTimings } = sampleResult();
    expect(issuesOf(withoutTimings)).toEqual([expect.stringMatching(/^timings_ms: /)]);

    const sample = sampleResult();
    delete (sample.faces[0] as Partial<FaceptorResult['faces'][number]>).box;
    expect(issuesOf(sample)).toEqual([expect.stringMatching(/^faces\.0\.box: /)]);
  });

  it('rejects another schema string', () => {
    expect(issuesOf({ ...sampleResult(), schema: 'faceptor.result/v2' })).toEqual([expect.stringMatching(/^schema: .*faceptor\.result\/v1/)]);
  });

  it('rejects unknown fields', () => {
    const sample = sampleResult() as FaceptorResult & { timings?: unknown };
    sample.timings = {};
    expect(issuesOf(sample)).toEqual([expect.stringMatching(/^: Unrecognized key: "timings"/)]);
  });

  it('rejects out-of-range numbers', () => {
    const sample = sampleResult();
    sample.faces[0]!.score = 1.5;
    sample.faces[0]!.attributes = { Smiling: -0.1 };
    sample.timings_ms.total = -1;
    expect(issuesOf(sample)).toEqual([
      expect.stringMatching(/^faces\.0\.score: /),
      expect.stringMatching(/^faces\.0\.attributes\.Smiling: /),
      expect.stringMatching(/^timings_ms\.total: /),
    ]);
  });

  it('rejects an embedding that is not normalized', () => {
    const sample = sampleResult();
    sample.model.heads.identity = { trained: true };
    sample.faces[0]!.identity = { embedding: [3, 4] };
    expect(issuesOf(sample)).toEqual(['faces.0.identity.embedding: embedding must be L2-normalized, but its norm is 5']);
  });

  it('rejects outputs of untrained or absent heads', () => {
    const sample = sampleResult();
    sample.faces[0]!.identity = { embedding: unitVector(4) };
    delete sample.model.heads.age;
    expect(issuesOf(sample)).toEqual([
      'faces.0.age: the "age" head is not in model.heads, so faces must not report it',
      'faces.0.identity: the "identity" head is untrained, so faces must not report it',
    ]);
  });

  it('rejects labels that do not match', () => {
    const sample = sampleResult();
    sample.faces[0]!.parsing!.areas = { skin: 0.5, beard: 0.5 };
    sample.faces[0]!.expression!.label = 'bored';
    expect(issuesOf(sample)).toEqual([
      'faces.0.parsing.areas.beard: "beard" is not one of parsing.labels',
      'faces.0.expression.label: "bored" has no entry in expression.probabilities',
    ]);
  });
});

describe('parseResult', () => {
  it('lists every problem in one error', () => {
    const sample = { ...sampleResult(), schema: 'other', image: { width: 0, height: 10 } };
    let caught: unknown;
    try {
      parseResult(sample);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidResultError);
    const error = caught as InvalidResultError;
    expect(error.issues).toHaveLength(2);
    expect(error.message).toMatch(/invalid faceptor\.result\/v1 result:\n {2}schema: .*\n {2}image\.width: /);
  });
});
