import { ConflictError, FaceptorError, InvalidTransitionError, NotFoundError, RetryableError, VersionConflictError } from '../../errors.ts';
import { JOB_TRANSITIONS, JobRecordSchema, type JobRecord } from '../../job.ts';
import type { JobStore, JobTransition } from '../../ports.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

interface JobRow {
  record: string;
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/**
 * JobStore in SQLite: one row per job with the record as JSON and a `version` column. A transition
 * reads and updates in one IMMEDIATE transaction, so it is atomic across processes sharing the file.
 */
export class SqliteJobStore implements JobStore {
  private readonly db: SqliteDatabase;
  private readonly now: () => Date;

  constructor(db: SqliteDatabase, options: { now?: () => Date } = {}) {
    this.db = db;
    this.now = options.now ?? (() => new Date());
    db.exec(`
      CREATE TABLE IF NOT EXISTS jobs (
        id TEXT PRIMARY KEY,
        tenant TEXT NOT NULL,
        state TEXT NOT NULL,
        version INTEGER NOT NULL,
        record TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
    `);
  }

  async create(job: JobRecord): Promise<void> {
    const record = JobRecordSchema.parse(job);
    try {
      this.db
        .prepare('INSERT INTO jobs (id, tenant, state, version, record, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)')
        .run(record.id, record.tenant, record.state, record.version, JSON.stringify(record), record.createdAt, record.updatedAt);
    } catch (error) {
      if ((error as { code?: unknown }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') {
        throw new ConflictError(`job ${record.id} already exists`, { code: 'job_exists', context: { jobId: record.id } });
      }
      throw this.wrap('create', record.id, error);
    }
  }

  async get(jobId: string): Promise<JobRecord | null> {
    let row: JobRow | undefined;
    try {
      row = this.db.prepare('SELECT record FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
    } catch (error) {
      throw this.wrap('get', jobId, error);
    }
    return row ? JobRecordSchema.parse(JSON.parse(row.record)) : null;
  }

  async transition(jobId: string, change: JobTransition): Promise<JobRecord> {
    const apply = this.db.transaction((): JobRecord => {
      const row = this.db.prepare('SELECT record FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
      if (!row) throw new NotFoundError(`job ${jobId} not found`, { context: { jobId } });

      const current = JobRecordSchema.parse(JSON.parse(row.record));
      if (current.version !== change.expectedVersion) throw new VersionConflictError(jobId, change.expectedVersion, current.version);
      const allowed = JOB_TRANSITIONS[current.state];
      if (!allowed.includes(change.to)) throw new InvalidTransitionError(jobId, current.state, change.to, allowed);

      const next = JobRecordSchema.parse({
        ...current,
        ...change.patch,
        id: current.id,
        tenant: current.tenant,
        createdAt: current.createdAt,
        state: change.to,
        version: current.version + 1,
        updatedAt: this.now().toISOString(),
      });
      this.db
        .prepare('UPDATE jobs SET state = ?, version = ?, record = ?, updated_at = ? WHERE id = ? AND version = ?')
        .run(next.state, next.version, JSON.stringify(next), next.updatedAt, jobId, current.version);
      return next;
    });

    try {
      return apply.immediate();
    } catch (error) {
      if (error instanceof FaceptorError) throw error;
      throw this.wrap('transition', jobId, error);
    }
  }

  async delete(jobId: string): Promise<void> {
    try {
      this.db.prepare('DELETE FROM jobs WHERE id = ?').run(jobId);
    } catch (error) {
      throw this.wrap('delete', jobId, error);
    }
  }

  private wrap(operation: string, jobId: string, error: unknown): Error {
    if (isBusy(error)) {
      return new RetryableError(`job store ${operation} of job ${jobId} timed out waiting for the database lock`, {
        code: 'storage_unavailable',
        context: { jobId },
        cause: error,
      });
    }
    return error instanceof Error ? error : new Error(String(error));
  }
}
