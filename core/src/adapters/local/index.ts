import path from 'node:path';
import { FileApiKeyStore } from './api-keys.ts';
import { FileBlobStore } from './file-blob-store.ts';
import { loadOrCreateSecret } from './secrets.ts';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { SqliteWorkQueue } from './sqlite-work-queue.ts';

export * from './api-keys.ts';
export * from './atomic-file.ts';
export * from './file-blob-store.ts';
export * from './secrets.ts';
export * from './sqlite-database.ts';
export * from './sqlite-job-store.ts';
export * from './sqlite-work-queue.ts';

/** Files and folders of the embedded mode's data folder. */
export function dataDirLayout(dataDir: string) {
  return {
    objectsDir: path.join(dataDir, 'objects'),
    databaseFile: path.join(dataDir, 'faceptor.sqlite'),
    apiKeysFile: path.join(dataDir, 'api-keys.json'),
    uploadSecretFile: path.join(dataDir, 'upload-signing.key'),
  };
}

/** Options of {@link openLocalAdapters}. */
export interface LocalAdapterOptions {
  dataDir: string;
  visibilityTimeoutSec: number;
  maxReceiveCount: number;
}

/** The embedded mode's storage and queues, all under one data folder. */
export interface LocalAdapters {
  db: SqliteDatabase;
  blobs: FileBlobStore;
  jobs: SqliteJobStore;
  queue: SqliteWorkQueue;
  deadLetters: SqliteWorkQueue;
  apiKeys: FileApiKeyStore;
  uploadSecret: Uint8Array;
  /** Closes the database. */
  close(): void;
}

/**
 * Opens the local adapters over `dataDir`: objects under `objects/`, jobs and queues in
 * `faceptor.sqlite`, hashed API keys in `api-keys.json`, the upload signing secret in `upload-signing.key`.
 */
export async function openLocalAdapters(options: LocalAdapterOptions): Promise<LocalAdapters> {
  const layout = dataDirLayout(options.dataDir);
  const db = openSqliteDatabase(layout.databaseFile);
  try {
    const deadLetters = new SqliteWorkQueue(db, { table: 'work_dead_letters', visibilityTimeoutSec: options.visibilityTimeoutSec });
    const queue = new SqliteWorkQueue(db, {
      table: 'work_queue',
      visibilityTimeoutSec: options.visibilityTimeoutSec,
      maxReceiveCount: options.maxReceiveCount,
      deadLetterQueue: deadLetters,
    });
    return {
      db,
      blobs: new FileBlobStore(layout.objectsDir),
      jobs: new SqliteJobStore(db),
      queue,
      deadLetters,
      apiKeys: await FileApiKeyStore.open(layout.apiKeysFile),
      uploadSecret: await loadOrCreateSecret(layout.uploadSecretFile),
      close: () => db.close(),
    };
  } catch (error) {
    db.close();
    throw error;
  }
}
