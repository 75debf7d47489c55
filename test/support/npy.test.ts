import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readNpy } from './npy.ts';

const folder = mkdtempSync(path.join(tmpdir(), 'npy-test-'));
afterAll(() => rmSync(folder, { recursive: true, force: true }));

/** Write a version-1 .npy file with the given header fields and payload. */
function writeNpy(name: string, descr: string, shape: string, payload: Buffer, fortran = 'False'): string {
  let header = `{'descr': '${descr}', 'fortran_order': ${fortran}, 'shape': ${shape}, }`;
  header += ' '.repeat(63 - ((10 + header.length) % 64)) + '\n';
  const prefix = Buffer.alloc(10);
  Buffer.from([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]).copy(prefix);
  prefix.writeUInt16LE(header.length, 8);
  const file = path.join(folder, name);
  writeFileSync(file, Buffer.concat([prefix, Buffer.from(header, 'latin1'), payload]));
  return file;
}

describe('readNpy', () => {
  it('reads float32 with its shape', () => {
    const payload = Buffer.from(Float32Array.from([1.5, -2, 3.25, 0, 7, 8]).buffer);
    const array = readNpy(writeNpy('f4.npy', '<f4', '(2, 3)', payload));
    expect(array.shape).toEqual([2, 3]);
    expect(array.dtype).toBe('<f4');
    expect(Array.from(array.data)).toEqual([1.5, -2, 3.25, 0, 7, 8]);
  });

  it('widens float16, subnormals and infinity included', () => {
    const halves = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x0001, 0x7c00, 0x3555]);
    const array = readNpy(writeNpy('f2.npy', '<f2', '(6,)', Buffer.from(halves.buffer)));
    expect(array.data).toBeInstanceOf(Float32Array);
    expect(Array.from(array.data.slice(0, 5))).toEqual([1, -2, 0.5, 2 ** -24, Infinity]);
    expect(array.data[5]).toBeCloseTo(0.333251953125, 12);
  });

  it('reads int32 and scalar shapes', () => {
    const array = readNpy(writeNpy('i4.npy', '<i4', '(3,)', Buffer.from(Int32Array.from([4, -6, 2147483647]).buffer)));
    expect(array.data).toBeInstanceOf(Int32Array);
    expect(Array.from(array.data)).toEqual([4, -6, 2147483647]);
    const scalar = readNpy(writeNpy('scalar.npy', '<f4', '()', Buffer.from(Float32Array.from([9]).buffer)));
    expect(scalar.shape).toEqual([]);
    expect(Array.from(scalar.data)).toEqual([9]);
  });

  it('rejects other dtypes, Fortran order and short payloads', () => {
    expect(() => readNpy(writeNpy('f8.npy', '<f8', '(1,)', Buffer.alloc(8)))).toThrow(/dtype <f8; readNpy supports <f4, <f2 and <i4/);
    expect(() => readNpy(writeNpy('fortran.npy', '<f4', '(1,)', Buffer.alloc(4), 'True'))).toThrow(/Fortran order/);
    expect(() => readNpy(writeNpy('short.npy', '<f4', '(2,)', Buffer.alloc(4)))).toThrow(/contains 4 data bytes but shape \(2\) of <f4 needs 8/);
    const notNpy = path.join(folder, 'plain.txt');
    writeFileSync(notNpy, 'hello, world');
    expect(() => readNpy(notNpy)).toThrow(/not a \.npy file/);
  });
});
