import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileApiKeyStore, StaticApiKeyStore, defaultTenantForKey, generateApiKey, hashApiKey } from './api-keys.ts';
import { loadOrCreateSecret } from './secrets.ts';

describe('API keys', () => {
  let folder: string;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'faceptor-keys-'));
  });

  afterEach(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  it('hash is SHA-256 hex', () => {
    expect(hashApiKey('abc')).toBe('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
    expect(defaultTenantForKey('abc')).toBe('key-ba7816bf');
  });

  it('generated keys are long and distinct', () => {
    const keys = new Set(Array.from({ length: 20 }, generateApiKey));

    expect(keys.size).toBe(20);
    for (const key of keys) expect(key).toMatch(/^fk_[A-Za-z0-9_-]{43}$/);
  });

  it('static store maps keys to tenants', async () => {
    const store = StaticApiKeyStore.fromKeys(['first-key-0123456789']);

    expect(await store.tenantFor('first-key-0123456789')).toBe(defaultTenantForKey('first-key-0123456789'));
    expect(await store.tenantFor('other-key-0123456789')).toBeNull();
  });

  it('file store keeps hashes, never keys', async () => {
    const file = path.join(folder, 'api-keys.json');
    const store = await FileApiKeyStore.open(file);
    const { apiKey, tenant } = await store.createKey();

    const text = await readFile(file, 'utf8');
    expect(text).not.toContain(apiKey);
    expect(text).toContain(hashApiKey(apiKey));
    expect((await stat(file)).mode & 0o777).toBe(0o600);

    const reopened = await FileApiKeyStore.open(file);
    expect(reopened.size).toBe(1);
    expect(await reopened.tenantFor(apiKey)).toBe(tenant);
  });

  it('file store of a missing file is empty', async () => {
    const store = await FileApiKeyStore.open(path.join(folder, 'absent.json'));

    expect(store.size).toBe(0);
  });

  it('file store rejects an invalid file', async () => {
    const file = path.join(folder, 'api-keys.json');
    await writeFile(file, JSON.stringify({ format: 'faceptor.api-keys/v1', keys: [{ sha256: 'xyz' }] }));

    await expect(FileApiKeyStore.open(file)).rejects.toThrow(/API key file .* is invalid/);
  });

  it('secret is created once and reused', async () => {
    const file = path.join(folder, 'upload-signing.key');
    const [a, b] = await Promise.all([loadOrCreateSecret(file), loadOrCreateSecret(file)]);
    const c = await loadOrCreateSecret(file);

    expect(a.byteLength).toBe(32);
    expect(Buffer.from(b).equals(Buffer.from(a))).toBe(true);
    expect(Buffer.from(c).equals(Buffer.from(a))).toBe(true);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
  });

  it('secret file that is too short fails', async () => {
    const file = path.join(folder, 'upload-signing.key');
    await writeFile(file, 'short');

    await expect(loadOrCreateSecret(file)).rejects.toThrow(/has 5 bytes, fewer than 32: delete it/);
  });
});
