/**
 * A dense float32 tensor in row-major (C) order.
 *
 * The pipeline passes these between stages so that no module but the session owner needs onnxruntime's
 * own tensor type.
 */
export interface Float32Tensor {
  data: Float32Array;
  dims: readonly number[];
}

/** Number of elements a tensor of these dims holds. */
export function elementCount(dims: readonly number[]): number {
  return dims.reduce((product, size) => product * size, 1);
}

/** Create a tensor, checking that the data length matches the dims. */
export function float32Tensor(data: Float32Array, dims: readonly number[]): Float32Tensor {
  const expected = elementCount(dims);
  if (data.length !== expected) {
    throw new RangeError(`tensor data has ${data.length} elements but dims [${dims.join(', ')}] need ${expected}`);
  }
  return { data, dims: [...dims] };
}

/** Concatenate tensors along their first (batch) axis; every other axis must match. */
export function concatBatch(parts: readonly Float32Tensor[]): Float32Tensor {
  if (parts.length === 0) throw new RangeError('concatBatch needs at least one tensor');
  const [first] = parts as [Float32Tensor, ...Float32Tensor[]];
  const itemDims = first.dims.slice(1);
  let batch = 0;
  for (const part of parts) {
    if (part.dims.length !== first.dims.length || part.dims.slice(1).some((size, i) => size !== itemDims[i])) {
      throw new RangeError(`cannot concatenate tensors of dims [${part.dims.join(', ')}] and [${first.dims.join(', ')}]`);
    }
    batch += part.dims[0] ?? 0;
  }
  const data = new Float32Array(batch * elementCount(itemDims));
  let offset = 0;
  for (const part of parts) {
    data.set(part.data, offset);
    offset += part.data.length;
  }
  return { data, dims: [batch, ...itemDims] };
}

/** Slice items [start, start + count) along the first axis, as a view that shares memory with `tensor`. */
export function sliceBatch(tensor: Float32Tensor, start: number, count: number): Float32Tensor {
  const itemSize = elementCount(tensor.dims.slice(1));
  const batch = tensor.dims[0] ?? 0;
  if (start < 0 || count < 0 || start + count > batch) {
    throw new RangeError(`slice [${start}, ${start + count}) is outside the batch of ${batch}`);
  }
  return {
    data: tensor.data.subarray(start * itemSize, (start + count) * itemSize),
    dims: [count, ...tensor.dims.slice(1)],
  };
}
