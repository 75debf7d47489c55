import { describe, expect, it } from 'vitest';
import { flipTtaEmbedding, l2Normalize } from './identity.ts';

describe('l2Normalize', () => {
  it('scales to unit length', () => {
    expect(Array.from(l2Normalize(Float32Array.from([3, 0, -4])))).toEqual([0.6, 0, -0.8].map((value) => expect.closeTo(value, 7)));
  });

  it('rejects empty, zero and non-finite embeddings', () => {
    expect(() => l2Normalize(new Float32Array(0))).toThrow(/empty embedding/);
    expect(() => l2Normalize(new Float32Array(4))).toThrow(/all-zero embedding/);
    expect(() => l2Normalize(Float32Array.from([1, Number.POSITIVE_INFINITY]))).toThrow(/element 1 is not finite/);
  });
});

describe('flipTtaEmbedding', () => {
  it('normalizes the sum of the raw embeddings', () => {
    // (1, 0) + (0, 3) = (1, 3): the mirrored crop's larger norm weighs more, as in the official evaluator.
    const combined = flipTtaEmbedding(Float32Array.from([1, 0]), Float32Array.from([0, 3]));
    expect(combined[0]).toBeCloseTo(1 / Math.sqrt(10), 7);
    expect(combined[1]).toBeCloseTo(3 / Math.sqrt(10), 7);
  });

  it('rejects embeddings of different lengths', () => {
    expect(() => flipTtaEmbedding(new Float32Array(2), new Float32Array(3))).toThrow(/differ in length: 2 and 3/);
  });
});
