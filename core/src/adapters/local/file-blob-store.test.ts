import { mkdtemp, readdir, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBlobStore } from './file-blob-store.ts';

describe('FileBlobStore', () => {
  let root: string;
  let store: FileBlobStore;

  beforeEach(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'faceptor-blobs-'));
    store = new FileBlobStore(root);
  });

  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('maps keys to files under the root', async () => {
    await store.put('jobs/abc/input', new Uint8Array([1, 2, 3]));

    expect(await readdir(path.join(root, 'jobs', 'abc'))).toEqual(['input']);
  });

  it('leaves no temporary files after writes', async () => {
    await store.put('jobs/abc/input', new Uint8Array([1]));
    await store.put('jobs/abc/input', new Uint8Array([2]));
    await store.put('jobs/abc/input', new Uint8Array([3]), { ifNoneMatch: '*' }).catch(() => undefined);

    expect(await readdir(path.join(root, 'jobs', 'abc'))).toEqual(['input']);
  });

  it('list skips temporary files of interrupted writes', async () => {
    await mkdir(path.join(root, 'jobs', 'abc'), { recursive: true });
    await writeFile(path.join(root, 'jobs', 'abc', '.result.json.0a1b2c.tmp'), 'partial');
    await store.put('jobs/abc/input', new Uint8Array([1]));

    expect(await store.list('jobs/abc/')).toEqual(['jobs/abc/input']);
  });

  it('delete removes folders left empty', async () => {
    await store.put('jobs/abc/input', new Uint8Array([1]));
    await store.put('jobs/abc/result.json', new Uint8Array([2]));
    await store.delete('jobs/abc/input');
    await store.delete('jobs/abc/result.json');

    expect(await readdir(root)).toEqual([]);
  });

  it('ETag is the MD5 of the content', async () => {
    const meta = await store.put('jobs/abc/input', new TextEncoder().encode('hello'));

    expect(meta.etag).toBe('5d41402abc4b2a76b9719d911017c592');
  });
});
