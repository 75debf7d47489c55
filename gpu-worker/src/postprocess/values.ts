/**
 * Decoders of the value heads (age, expression, attributes): one face's logits in, named numbers out.
 * Label lists and bin offsets are arguments, taken from the model manifest.
 */

/** Age decoded from the age head. */
export interface AgeEstimate {
  /** Expected age in years. */
  years: number;
  /** Per-bin probabilities p_k; bin k is `firstBinYears + k` years. */
  probabilities: Float64Array;
}

/** Expression decoded from the expression head. */
export interface ExpressionEstimate {
  /** Label of the most probable class (the first one in label order on ties). */
  label: string;
  /** Softmax probability of every class, by label. */
  probabilities: Record<string, number>;
}

/** Logistic sigmoid, written so that neither branch overflows. */
export function sigmoid(z: number): number {
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * Decode age logits (K,) of one face, K = the manifest's `bins`.
 *
 * p_k = sigmoid(z_k) / sum_j sigmoid(z_j) (an L1-normalized sigmoid, not a softmax, as the official
 * decoder does), and years = firstBinYears + sum_k k*p_k.
 */
export function decodeAge(logits: Float32Array, firstBinYears: number): AgeEstimate {
  checkLogits(logits, 'decodeAge');
  if (!Number.isFinite(firstBinYears)) {
    throw new RangeError(`decodeAge firstBinYears must be a finite number, got ${firstBinYears}`);
  }

  const probabilities = new Float64Array(logits.length);
  let total = 0;
  for (let k = 0; k < logits.length; k++) {
    probabilities[k] = sigmoid(logits[k]!);
    total += probabilities[k]!;
  }
  let expectedBin = 0;
  for (let k = 0; k < logits.length; k++) {
    probabilities[k] = probabilities[k]! / total;
    expectedBin += k * probabilities[k]!;
  }
  return { years: firstBinYears + expectedBin, probabilities };
}

/**
 * Decode expression logits (C,) of one face: softmax, then argmax.
 *
 * `labels` is the manifest's expression label list, in the order of the head's outputs.
 */
export function decodeExpression(logits: Float32Array, labels: readonly string[]): ExpressionEstimate {
  checkLogits(logits, 'decodeExpression');
  checkLabels(logits, labels, 'decodeExpression');

  let maxLogit = -Infinity;
  let index = 0;
  for (let k = 0; k < logits.length; k++) {
    if (logits[k]! > maxLogit) {
      maxLogit = logits[k]!;
      index = k;
    }
  }
  const exponentials = Array.from(logits, (z) => Math.exp(z - maxLogit));
  const total = exponentials.reduce((sum, value) => sum + value, 0);

  const probabilities: Record<string, number> = {};
  labels.forEach((label, k) => {
    probabilities[label] = exponentials[k]! / total;
  });
  return { label: labels[index]!, probabilities };
}

/**
 * Decode binary attribute logits (A,) of one face into sigmoid probabilities by name.
 *
 * `labels` is the manifest's attribute list in output order. An attribute counts as present when its
 * probability exceeds 0.5, which is how the official evaluator thresholds it.
 */
export function decodeAttributes(logits: Float32Array, labels: readonly string[]): Record<string, number> {
  checkLogits(logits, 'decodeAttributes');
  checkLabels(logits, labels, 'decodeAttributes');

  const probabilities: Record<string, number> = {};
  labels.forEach((label, k) => {
    probabilities[label] = sigmoid(logits[k]!);
  });
  return probabilities;
}

function checkLogits(logits: Float32Array, caller: string): void {
  if (logits.length === 0) {
    throw new RangeError(`${caller} received no logits; check the head's output name in the manifest`);
  }
  const bad = logits.findIndex((value) => !Number.isFinite(value));
  if (bad >= 0) {
    throw new RangeError(`${caller} logit ${bad} is not finite (${logits[bad]}); the model output is invalid`);
  }
}

function checkLabels(logits: Float32Array, labels: readonly string[], caller: string): void {
  if (labels.length !== logits.length) {
    throw new RangeError(`${caller} received ${logits.length} logits but the manifest lists ${labels.length} labels; re-export the model`);
  }
  if (new Set(labels).size !== labels.length) {
    throw new RangeError(`${caller} labels must be unique, got [${labels.join(', ')}]`);
  }
}
