/**
 * Reader for NumPy `.npy` files (format versions 1-3), for tests that compare against arrays written by
 * Python. Supports little-endian float32 (`<f4`), float16 (`<f2`, widened to float32) and int32 (`<i4`)
 * in C order.
 */
import { readFileSync } from 'node:fs';

/** An array read from a `.npy` file. */
export interface NpyArray {
  /** Values in C (row-major) order; float16 files are widened to float32. */
  data: Float32Array | Int32Array;
  shape: number[];
  /** The dtype string of the file header, such as `<f4`. */
  dtype: string;
}

const magic = Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]); // "\x93NUMPY"

/** Read a `.npy` file; raises an Error naming the file when the format or dtype is not supported. */
export function readNpy(file: string): NpyArray {
  const bytes = readFileSync(file);
  if (bytes.length < 10 || !bytes.subarray(0, 6).equals(magic)) {
    throw new Error(`${file} is not a .npy file (missing the \\x93NUMPY magic)`);
  }

  const major = bytes[6]!;
  const headerLengthSize = major === 1 ? 2 : 4;
  const headerLength = major === 1 ? bytes.readUInt16LE(8) : bytes.readUInt32LE(8);
  const headerStart = 8 + headerLengthSize;
  const header = bytes.subarray(headerStart, headerStart + headerLength).toString('latin1');
  const dtype = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const fortranOrder = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (dtype === undefined || fortranOrder === undefined || shapeText === undefined) {
    throw new Error(`${file} has an unreadable .npy header: ${header.trim()}`);
  }
  if (fortranOrder === 'True') {
    throw new Error(`${file} is stored in Fortran order; save it with C order (numpy.ascontiguousarray)`);
  }
  if (dtype !== '<f4' && dtype !== '<f2' && dtype !== '<i4') {
    throw new Error(`${file} has dtype ${dtype}; readNpy supports <f4, <f2 and <i4`);
  }
  const shape = shapeText
    .split(',')
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map(Number);
  const count = shape.reduce((product, size) => product * size, 1);

  // Copy the payload into its own ArrayBuffer: Node pools small Buffers, so the file's bytes may start at
  // any byteOffset of a shared buffer, which typed-array views cannot take unless it is aligned.
  const payload = bytes.subarray(headerStart + headerLength);
  const itemSize = dtype === '<f2' ? 2 : 4;
  if (payload.length !== count * itemSize) {
    throw new Error(`${file} contains ${payload.length} data bytes but shape (${shape.join(', ')}) of ${dtype} needs ${count * itemSize}`);
  }
  const aligned = new Uint8Array(payload.length);
  aligned.set(payload);

  switch (dtype) {
    case '<f4':
      return { data: new Float32Array(aligned.buffer, 0, count), shape, dtype };
    case '<i4':
      return { data: new Int32Array(aligned.buffer, 0, count), shape, dtype };
    case '<f2':
      return { data: widenFloat16(new Uint16Array(aligned.buffer, 0, count)), shape, dtype };
  }
}

function widenFloat16(halves: Uint16Array): Float32Array {
  const out = new Float32Array(halves.length);
  for (let i = 0; i < halves.length; i++) {
    const bits = halves[i]!;
    const sign = bits & 0x8000 ? -1 : 1;
    const exponent = (bits >> 10) & 0x1f;
    const fraction = bits & 0x3ff;
    if (exponent === 0) out[i] = sign * fraction * 2 ** -24;
    else if (exponent === 0x1f) out[i] = fraction === 0 ? sign * Infinity : Number.NaN;
    else out[i] = sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
  }
  return out;
}
