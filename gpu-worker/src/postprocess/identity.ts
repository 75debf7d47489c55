/**
 * Decoder of the identity head: raw embeddings (D,) -> unit-length embeddings for cosine matching.
 */

/**
 * Return `embedding / ||embedding||_2` (sums in float64).
 *
 * @throws RangeError when the embedding is empty, contains a non-finite value or has zero length.
 */
export function l2Normalize(embedding: ArrayLike<number>): Float32Array {
  if (embedding.length === 0) throw new RangeError('l2Normalize received an empty embedding');
  let squares = 0;
  for (let k = 0; k < embedding.length; k++) {
    const value = embedding[k]!;
    if (!Number.isFinite(value)) {
      throw new RangeError(`l2Normalize embedding element ${k} is not finite (${value}); the model output is invalid`);
    }
    squares += value * value;
  }
  if (squares === 0) throw new RangeError('l2Normalize received an all-zero embedding, which has no direction');

  const norm = Math.sqrt(squares);
  const normalized = new Float32Array(embedding.length);
  for (let k = 0; k < embedding.length; k++) normalized[k] = embedding[k]! / norm;
  return normalized;
}

/**
 * Combine the embeddings of a crop and of its horizontal mirror as the official evaluator does:
 * normalize(embedding + flippedEmbedding), with both inputs raw (not normalized).
 */
export function flipTtaEmbedding(embedding: Float32Array, flippedEmbedding: Float32Array): Float32Array {
  if (embedding.length !== flippedEmbedding.length) {
    throw new RangeError(`flipTtaEmbedding inputs differ in length: ${embedding.length} and ${flippedEmbedding.length}`);
  }
  const sum = new Float64Array(embedding.length);
  for (let k = 0; k < embedding.length; k++) sum[k] = embedding[k]! + flippedEmbedding[k]!;
  return l2Normalize(sum);
}
