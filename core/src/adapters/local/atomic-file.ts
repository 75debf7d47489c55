import { randomBytes } from 'node:crypto';
import { link, mkdir, open, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Options of {@link writeFileAtomic}. */
export interface AtomicWriteOptions {
  /** Fail with an EEXIST error instead of replacing an existing file. */
  noReplace?: boolean;
  /** File mode of a newly created file, 0o644 when absent. */
  mode?: number;
}

/** Returns true for a Node.js file system error with the given code. */
export function hasErrorCode(error: unknown, code: string): boolean {
  return error instanceof Error && (error as NodeJS.ErrnoException).code === code;
}

/**
 * Writes `data` to `target` so that readers see the old file or the whole new one, never a part.
 *
 * The bytes go to a temporary file in the same folder (named with a leading dot, so listings skip it)
 * and are flushed to disk. Then `rename` replaces the target, or `link` creates it only if it is
 * absent when `noReplace` is set: both are atomic on one POSIX file system.
 */
export async function writeFileAtomic(target: string, data: Uint8Array | string, options: AtomicWriteOptions = {}): Promise<void> {
  const folder = path.dirname(target);
  await mkdir(folder, { recursive: true });
  const temporary = path.join(folder, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);

  const handle = await open(temporary, 'wx', options.mode ?? 0o644);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }

  try {
    if (options.noReplace) await link(temporary, target);
    else await rename(temporary, target);
  } finally {
    await rm(temporary, { force: true });
  }
}
