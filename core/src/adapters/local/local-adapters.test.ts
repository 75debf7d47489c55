import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describeBlobStoreContract } from '../../contracts/blob-store.contract.ts';
import { describeJobStoreContract } from '../../contracts/job-store.contract.ts';
import { describeWorkQueueContract } from '../../contracts/work-queue.contract.ts';
import { FileBlobStore } from './file-blob-store.ts';
import { openSqliteDatabase } from './sqlite-database.ts';
import { SqliteJobStore } from './sqlite-job-store.ts';
import { SqliteWorkQueue } from './sqlite-work-queue.ts';

async function temporaryFolder(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'faceptor-local-'));
}

describeBlobStoreContract('FileBlobStore', async () => {
  const folder = await temporaryFolder();
  return { store: new FileBlobStore(folder), cleanup: () => rm(folder, { recursive: true, force: true }) };
});

describeJobStoreContract('SqliteJobStore', async () => {
  const folder = await temporaryFolder();
  const db = openSqliteDatabase(path.join(folder, 'jobs.sqlite'));
  return {
    store: new SqliteJobStore(db),
    cleanup: async () => {
      db.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
});

describeWorkQueueContract('SqliteWorkQueue', async ({ visibilityTimeoutSec, maxReceiveCount }) => {
  const folder = await temporaryFolder();
  const db = openSqliteDatabase(path.join(folder, 'queue.sqlite'));
  const deadLetters = new SqliteWorkQueue(db, { table: 'dead_letters', visibilityTimeoutSec, pollIntervalMs: 20 });
  const queue = new SqliteWorkQueue(db, { table: 'work', visibilityTimeoutSec, maxReceiveCount, deadLetterQueue: deadLetters, pollIntervalMs: 20 });
  return {
    queue,
    deadLetters,
    cleanup: async () => {
      db.close();
      await rm(folder, { recursive: true, force: true });
    },
  };
});
