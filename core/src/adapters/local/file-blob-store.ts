import { createHash } from 'node:crypto';
import { readdir, readFile, rm, rmdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { PreconditionFailedError, RetryableError } from '../../errors.ts';
import type { BlobMeta, BlobStore, PutOptions } from '../../ports.ts';
import { hasErrorCode, writeFileAtomic } from './atomic-file.ts';

const segmentPattern = /^[A-Za-z0-9_-][A-Za-z0-9._-]*$/;

/** Throws a TypeError unless `key` is a valid object key (see {@link BlobStore}). */
export function checkObjectKey(key: string): void {
  const segments = key.split('/');
  const valid = key.length > 0 && key.length <= 1024 && segments.every((segment) => segmentPattern.test(segment) && segment !== '..');
  if (!valid) {
    throw new TypeError(
      `invalid object key ${JSON.stringify(key)}: expected /-separated segments of letters, digits, '.', '_' and '-' that do not start with '.'`,
    );
  }
}

function etagOf(body: Uint8Array): string {
  return createHash('md5').update(body).digest('hex');
}

function storageError(operation: string, key: string, cause: unknown): RetryableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new RetryableError(`object store ${operation} failed for ${key}: ${reason}`, { code: 'storage_unavailable', context: { key }, cause });
}

/**
 * BlobStore on the local file system: object `jobs/a/input` is the file `<rootDir>/jobs/a/input`.
 *
 * Writes are atomic (temporary file, then rename or link). The ETag is the MD5 of the content, as S3
 * returns for single-part uploads. `ifNoneMatch: '*'` is atomic across processes because it uses `link`.
 */
export class FileBlobStore implements BlobStore {
  readonly rootDir: string;
  // Tail of the chain of ifMatch writes per key, so that check-then-replace does not interleave in this process.
  private readonly keyLocks = new Map<string, Promise<unknown>>();

  constructor(rootDir: string) {
    this.rootDir = path.resolve(rootDir);
  }

  private pathOf(key: string): string {
    checkObjectKey(key);
    return path.join(this.rootDir, ...key.split('/'));
  }

  async put(key: string, body: Uint8Array, options: PutOptions = {}): Promise<BlobMeta> {
    const file = this.pathOf(key);
    if (options.ifMatch !== undefined && options.ifNoneMatch !== undefined) {
      throw new TypeError('put options ifMatch and ifNoneMatch cannot be combined: pass at most one');
    }
    const meta: BlobMeta = { key, size: body.byteLength, etag: etagOf(body) };

    if (options.ifMatch !== undefined) {
      const expected = options.ifMatch;
      await this.withKeyLock(key, async () => {
        const current = await this.head(key);
        if (current?.etag !== expected) {
          throw new PreconditionFailedError(`object ${key} has ETag ${current?.etag ?? '(none)'}, not ${expected}`, { context: { key } });
        }
        await this.write(key, file, body, false);
      });
      return meta;
    }

    await this.write(key, file, body, options.ifNoneMatch === '*');
    return meta;
  }

  private async write(key: string, file: string, body: Uint8Array, noReplace: boolean): Promise<void> {
    try {
      await writeFileAtomic(file, body, { noReplace });
    } catch (error) {
      if (noReplace && hasErrorCode(error, 'EEXIST')) {
        throw new PreconditionFailedError(`object ${key} already exists`, { context: { key }, cause: error });
      }
      throw storageError('put', key, error);
    }
  }

  // NOTE: this lock covers one process only, so ifMatch writes from two processes on one data folder can
  // interleave. The embedded mode keeps job records in SQLite, which does not depend on it.
  private async withKeyLock<T>(key: string, action: () => Promise<T>): Promise<T> {
    const previous = this.keyLocks.get(key) ?? Promise.resolve();
    const current = previous.catch(() => undefined).then(action);
    this.keyLocks.set(key, current);
    try {
      return await current;
    } finally {
      if (this.keyLocks.get(key) === current) this.keyLocks.delete(key);
    }
  }

  async get(key: string): Promise<{ body: Uint8Array; meta: BlobMeta } | null> {
    const file = this.pathOf(key);
    let body: Buffer;
    try {
      body = await readFile(file);
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT') || hasErrorCode(error, 'EISDIR') || hasErrorCode(error, 'ENOTDIR')) return null;
      throw storageError('get', key, error);
    }
    return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength), meta: { key, size: body.byteLength, etag: etagOf(body) } };
  }

  async head(key: string): Promise<BlobMeta | null> {
    const file = this.pathOf(key);
    try {
      const info = await stat(file);
      if (!info.isFile()) return null;
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT') || hasErrorCode(error, 'ENOTDIR')) return null;
      throw storageError('head', key, error);
    }
    const object = await this.get(key);
    return object?.meta ?? null;
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await rm(file, { force: true });
    } catch (error) {
      throw storageError('delete', key, error);
    }
    await this.removeEmptyFolders(path.dirname(file));
  }

  // Removes folders left empty by a delete, up to the root, so deleted jobs leave no trace in the tree.
  private async removeEmptyFolders(folder: string): Promise<void> {
    let current = folder;
    while (current.startsWith(this.rootDir + path.sep)) {
      try {
        await rmdir(current);
      } catch {
        return;
      }
      current = path.dirname(current);
    }
  }

  async list(prefix: string): Promise<string[]> {
    if (prefix.includes('..') || prefix.startsWith('/')) {
      throw new TypeError(`invalid key prefix ${JSON.stringify(prefix)}: expected a relative prefix such as jobs/<id>/`);
    }
    const folderPart = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    const start = path.join(this.rootDir, ...folderPart.split('/').filter(Boolean));
    const keys: string[] = [];
    await this.collectKeys(start, folderPart, keys);
    return keys.filter((key) => key.startsWith(prefix)).sort();
  }

  private async collectKeys(folder: string, keyPrefix: string, keys: string[]): Promise<void> {
    let entries;
    try {
      entries = await readdir(folder, { withFileTypes: true });
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT') || hasErrorCode(error, 'ENOTDIR')) return;
      throw storageError('list', keyPrefix, error);
    }
    for (const entry of entries) {
      // Names with a leading dot are temporary files of writes in progress.
      if (entry.name.startsWith('.')) continue;
      if (entry.isDirectory()) await this.collectKeys(path.join(folder, entry.name), `${keyPrefix}${entry.name}/`, keys);
      else if (entry.isFile()) keys.push(`${keyPrefix}${entry.name}`);
    }
  }
}
