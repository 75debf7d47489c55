import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { hasErrorCode, writeFileAtomic } from './atomic-file.ts';

/** Length of a created secret in bytes. */
const secretBytes = 32;

/**
 * Returns the secret stored in `file`, creating it with 32 random bytes (mode 0600) on first use.
 *
 * Two processes that start together both end up with the first one's secret, because creation
 * links the file into place only if it is absent.
 */
export async function loadOrCreateSecret(file: string): Promise<Uint8Array> {
  const existing = await readSecret(file);
  if (existing) return existing;

  try {
    await writeFileAtomic(file, randomBytes(secretBytes), { noReplace: true, mode: 0o600 });
  } catch (error) {
    if (!hasErrorCode(error, 'EEXIST')) throw error;
  }
  const created = await readSecret(file);
  if (!created) throw new Error(`secret file ${file} could not be read back after creating it`);
  return created;
}

async function readSecret(file: string): Promise<Uint8Array | null> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    if (hasErrorCode(error, 'ENOENT')) return null;
    throw error;
  }
  if (bytes.length < secretBytes) {
    throw new Error(`secret file ${file} has ${bytes.length} bytes, fewer than ${secretBytes}: delete it to create a new one`);
  }
  return new Uint8Array(bytes);
}
