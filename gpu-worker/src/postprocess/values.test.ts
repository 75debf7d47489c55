import { describe, expect, it } from 'vitest';
import { decodeAge, decodeAttributes, decodeExpression, sigmoid } from './values.ts';

describe('sigmoid', () => {
  it('stays finite at extreme logits', () => {
    expect(sigmoid(0)).toBe(0.5);
    expect(sigmoid(1000)).toBe(1);
    expect(sigmoid(-1000)).toBe(0);
    expect(sigmoid(-30)).toBeGreaterThan(0);
    expect(sigmoid(2) + sigmoid(-2)).toBeCloseTo(1, 15);
  });
});

describe('decodeAge', () => {
  it('normalizes sigmoids and takes the expected bin', () => {
    // sigmoid(0) = 0.5 for bins 0 and 1, sigmoid(-inf-like) ~ 0 elsewhere: p = [0.5, 0.5, 0, ...].
    const logits = new Float32Array(5).fill(-80);
    logits[1] = 0;
    logits[3] = 0;
    const age = decodeAge(logits, 0);
    expect(age.probabilities[1]).toBeCloseTo(0.5, 12);
    expect(age.probabilities[3]).toBeCloseTo(0.5, 12);
    expect(age.years).toBeCloseTo(2, 12);
  });

  it('uses sigmoid normalization, not softmax', () => {
    const logits = Float32Array.from([0, 2]);
    const age = decodeAge(logits, 0);
    const expected = sigmoid(2) / (sigmoid(0) + sigmoid(2));
    expect(age.probabilities[1]).toBeCloseTo(expected, 7);
    expect(age.years).toBeCloseTo(expected, 7);
  });

  it('offsets years by the first bin', () => {
    const logits = Float32Array.from([0, 0, 0]);
    expect(decodeAge(logits, 16).years).toBeCloseTo(17, 12);
  });

  it('rejects empty and non-finite logits', () => {
    expect(() => decodeAge(new Float32Array(0), 0)).toThrow(/received no logits/);
    expect(() => decodeAge(Float32Array.from([0, Number.NaN]), 0)).toThrow(/logit 1 is not finite/);
    expect(() => decodeAge(Float32Array.from([0]), Number.NaN)).toThrow(/firstBinYears must be a finite number/);
  });
});

describe('decodeExpression', () => {
  const labels = ['calm', 'glad', 'cross'];

  it('returns softmax probabilities and the argmax label', () => {
    const expression = decodeExpression(Float32Array.from([1, 3, 2]), labels);
    expect(expression.label).toBe('glad');
    const total = Math.exp(1) + Math.exp(3) + Math.exp(2);
    expect(expression.probabilities.calm).toBeCloseTo(Math.exp(1) / total, 7);
    expect(expression.probabilities.glad).toBeCloseTo(Math.exp(3) / total, 7);
    expect(expression.probabilities.cross).toBeCloseTo(Math.exp(2) / total, 7);
  });

  it('picks the first label on ties and survives large logits', () => {
    const expression = decodeExpression(Float32Array.from([500, 500, -500]), labels);
    expect(expression.label).toBe('calm');
    expect(expression.probabilities.calm).toBeCloseTo(0.5, 12);
  });

  it('rejects a label list of another length or with duplicates', () => {
    expect(() => decodeExpression(Float32Array.from([1, 2]), labels)).toThrow(/received 2 logits but the manifest lists 3 labels/);
    expect(() => decodeExpression(Float32Array.from([1, 2]), ['a', 'a'])).toThrow(/labels must be unique/);
  });
});

describe('decodeAttributes', () => {
  it('returns sigmoid probabilities by name', () => {
    const attributes = decodeAttributes(Float32Array.from([0, 4, -4]), ['Smiling', 'Eyeglasses', 'Bald']);
    expect(Object.keys(attributes)).toEqual(['Smiling', 'Eyeglasses', 'Bald']);
    expect(attributes.Smiling).toBe(0.5);
    expect(attributes.Eyeglasses).toBeCloseTo(sigmoid(4), 12);
    expect(attributes.Bald).toBeCloseTo(1 - sigmoid(4), 12);
  });
});
