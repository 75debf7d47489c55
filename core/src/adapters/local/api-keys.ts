import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import type { ApiKeyStore } from '../../ports.ts';
import { hasErrorCode, writeFileAtomic } from './atomic-file.ts';

/** Returns the SHA-256 of an API key as lowercase hex: the only form in which keys are stored. */
export function hashApiKey(apiKey: string): string {
  return createHash('sha256').update(apiKey, 'utf8').digest('hex');
}

/** Returns the tenant name of a key that has no configured tenant: `key-` and the first 8 hex digits of its hash. */
export function defaultTenantForKey(apiKey: string): string {
  return `key-${hashApiKey(apiKey).slice(0, 8)}`;
}

/** Returns a new random API key: `fk_` and 32 random bytes in base64url (256 bits). */
export function generateApiKey(): string {
  return `fk_${randomBytes(32).toString('base64url')}`;
}

const ApiKeyEntrySchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  tenant: z.string().min(1),
  createdAt: z.iso.datetime(),
});
export type ApiKeyEntry = z.infer<typeof ApiKeyEntrySchema>;

const ApiKeyFileSchema = z.object({
  format: z.literal('faceptor.api-keys/v1'),
  keys: z.array(ApiKeyEntrySchema),
});

/** ApiKeyStore over a fixed list of hashed keys, such as the keys from FACEPTOR_API_KEYS. */
export class StaticApiKeyStore implements ApiKeyStore {
  private readonly tenantsByHash: Map<string, string>;

  constructor(entries: readonly { sha256: string; tenant: string }[]) {
    this.tenantsByHash = new Map(entries.map((entry) => [entry.sha256, entry.tenant]));
  }

  /** Builds a store of plain keys, each hashed at once and mapped to {@link defaultTenantForKey}. */
  static fromKeys(apiKeys: readonly string[]): StaticApiKeyStore {
    return new StaticApiKeyStore(apiKeys.map((key) => ({ sha256: hashApiKey(key), tenant: defaultTenantForKey(key) })));
  }

  get size(): number {
    return this.tenantsByHash.size;
  }

  async tenantFor(apiKey: string): Promise<string | null> {
    return this.tenantsByHash.get(hashApiKey(apiKey)) ?? null;
  }
}

/**
 * ApiKeyStore in a JSON file (`api-keys.json` in the data folder) of SHA-256 hashes and tenants.
 * The file is read once by {@link FileApiKeyStore.open}; {@link FileApiKeyStore.createKey} rewrites it atomically.
 */
export class FileApiKeyStore implements ApiKeyStore {
  readonly file: string;
  private entries: ApiKeyEntry[];
  private lookup: StaticApiKeyStore;

  private constructor(file: string, entries: ApiKeyEntry[]) {
    this.file = file;
    this.entries = entries;
    this.lookup = new StaticApiKeyStore(entries);
  }

  /** Reads the key file; a missing file is an empty store. Throws when the file is not valid. */
  static async open(file: string): Promise<FileApiKeyStore> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      if (hasErrorCode(error, 'ENOENT')) return new FileApiKeyStore(file, []);
      throw error;
    }
    const parsed = ApiKeyFileSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new Error(`API key file ${file} is invalid (${parsed.error.issues.map((issue) => issue.message).join('; ')}): fix or remove it`);
    }
    return new FileApiKeyStore(file, parsed.data.keys);
  }

  get size(): number {
    return this.entries.length;
  }

  /** Creates a key, stores its hash and returns the plain key, which exists nowhere else afterwards. */
  async createKey(tenant?: string): Promise<{ apiKey: string; tenant: string }> {
    const apiKey = generateApiKey();
    const entry: ApiKeyEntry = {
      sha256: hashApiKey(apiKey),
      tenant: tenant ?? defaultTenantForKey(apiKey),
      createdAt: new Date().toISOString(),
    };
    const entries = [...this.entries, entry];
    await writeFileAtomic(this.file, `${JSON.stringify({ format: 'faceptor.api-keys/v1', keys: entries }, null, 2)}\n`, { mode: 0o600 });
    this.entries = entries;
    this.lookup = new StaticApiKeyStore(entries);
    return { apiKey, tenant: entry.tenant };
  }

  async tenantFor(apiKey: string): Promise<string | null> {
    return this.lookup.tenantFor(apiKey);
  }
}
