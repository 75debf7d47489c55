import { randomBytes } from 'node:crypto';
import { MessageNotInFlightError, RetryableError } from '../../errors.ts';
import type { WorkMessage } from '../../job.ts';
import type { ReceivedMessage, WorkQueue } from '../../ports.ts';
import type { SqliteDatabase } from './sqlite-database.ts';

/** SQS's maximum visibility timeout and delay, 12 hours. */
export const MAX_VISIBILITY_SEC = 43_200;

/** Options of {@link SqliteWorkQueue}. */
export interface SqliteWorkQueueOptions {
  /** Table of this queue's messages, created if absent. Lowercase letters, digits and `_`. */
  table: string;
  visibilityTimeoutSec: number;
  /** Queue that receives messages delivered `maxReceiveCount` times. Both must be set, or neither. */
  deadLetterQueue?: SqliteWorkQueue;
  maxReceiveCount?: number;
  /** Interval between checks of the table during a long poll. */
  pollIntervalMs?: number;
  /** Clock in milliseconds, replaceable in tests. */
  now?: () => number;
}

interface MessageRow {
  id: string;
  body: string;
  sent_at: number;
  receive_count: number;
}

/** Counts of a queue's messages by visibility, for tests and operators. */
export interface QueueCounts {
  visible: number;
  /** Received and hidden, or released with a delay. */
  hidden: number;
  total: number;
}

function checkSeconds(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_VISIBILITY_SEC) {
    throw new RangeError(`${name} must be an integer from 0 to ${MAX_VISIBILITY_SEC} seconds, got ${value}`);
  }
}

function busyError(operation: string, table: string, error: unknown): RetryableError {
  return new RetryableError(`queue ${table} ${operation} timed out waiting for the database lock`, { code: 'queue_unavailable', cause: error });
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED';
}

/**
 * WorkQueue in one SQLite table with SQS semantics (see {@link WorkQueue}).
 *
 * A receive hides each message until `now + visibilityTimeoutSec` and gives it a new receipt handle.
 * A message whose receive count has reached `maxReceiveCount` moves to the dead-letter queue's table
 * in the same transaction instead. A long poll re-checks the table every `pollIntervalMs`, and a send
 * from this process wakes it at once.
 */
export class SqliteWorkQueue implements WorkQueue {
  readonly table: string;
  readonly visibilityTimeoutSec: number;
  readonly maxReceiveCount: number | null;
  private readonly db: SqliteDatabase;
  private readonly deadLetterQueue: SqliteWorkQueue | null;
  private readonly pollIntervalMs: number;
  private readonly now: () => number;
  private readonly waiters = new Set<() => void>();

  constructor(db: SqliteDatabase, options: SqliteWorkQueueOptions) {
    if (!/^[a-z_][a-z0-9_]{0,62}$/.test(options.table)) {
      throw new TypeError(`table ${JSON.stringify(options.table)} is invalid: use lowercase letters, digits and _`);
    }
    checkSeconds('visibilityTimeoutSec', options.visibilityTimeoutSec);
    if ((options.deadLetterQueue === undefined) !== (options.maxReceiveCount === undefined)) {
      throw new TypeError('deadLetterQueue and maxReceiveCount must be given together');
    }
    if (options.maxReceiveCount !== undefined && (!Number.isInteger(options.maxReceiveCount) || options.maxReceiveCount < 1)) {
      throw new RangeError(`maxReceiveCount must be a positive integer, got ${options.maxReceiveCount}`);
    }

    this.db = db;
    this.table = options.table;
    this.visibilityTimeoutSec = options.visibilityTimeoutSec;
    this.deadLetterQueue = options.deadLetterQueue ?? null;
    this.maxReceiveCount = options.maxReceiveCount ?? null;
    this.pollIntervalMs = options.pollIntervalMs ?? 100;
    this.now = options.now ?? Date.now;

    db.exec(`
      CREATE TABLE IF NOT EXISTS ${this.table} (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        id TEXT NOT NULL UNIQUE,
        body TEXT NOT NULL,
        sent_at INTEGER NOT NULL,
        visible_at INTEGER NOT NULL,
        receive_count INTEGER NOT NULL DEFAULT 0,
        receipt TEXT UNIQUE
      ) STRICT;
      CREATE INDEX IF NOT EXISTS ${this.table}_visible_at ON ${this.table} (visible_at);
    `);
  }

  async send(body: WorkMessage, options: { delaySec?: number } = {}): Promise<string> {
    const delaySec = options.delaySec ?? 0;
    checkSeconds('delaySec', delaySec);
    const id = randomBytes(16).toString('hex');
    const now = this.now();
    this.run('send', () =>
      this.db
        .prepare(`INSERT INTO ${this.table} (id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)`)
        .run(id, JSON.stringify(body), now, now + delaySec * 1000),
    );
    this.wakeWaiters();
    return id;
  }

  /** Inserts a message moved from another queue, keeping its id, body and send time. Runs inside the caller's transaction. */
  private insertDeadLetter(row: MessageRow, now: number): void {
    this.db
      .prepare(`INSERT OR IGNORE INTO ${this.table} (id, body, sent_at, visible_at) VALUES (?, ?, ?, ?)`)
      .run(row.id, row.body, row.sent_at, now);
  }

  async receive(maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<ReceivedMessage[]> {
    if (!Number.isInteger(maxMessages) || maxMessages < 1) throw new RangeError(`maxMessages must be a positive integer, got ${maxMessages}`);
    if (!Number.isFinite(waitMs) || waitMs < 0) throw new RangeError(`waitMs must be a finite number of milliseconds >= 0, got ${waitMs}`);

    const deadline = Date.now() + waitMs;
    for (;;) {
      const messages = this.receiveVisible(maxMessages);
      if (messages.length > 0) return messages;
      const remaining = deadline - Date.now();
      if (remaining <= 0 || signal?.aborted) return [];
      await this.waitForSend(Math.min(remaining, this.pollIntervalMs), signal);
    }
  }

  private receiveVisible(maxMessages: number): ReceivedMessage[] {
    const take = this.db.transaction((): ReceivedMessage[] => {
      const now = this.now();
      const received: ReceivedMessage[] = [];
      const select = this.db.prepare(
        `SELECT id, body, sent_at, receive_count FROM ${this.table} WHERE visible_at <= ? ORDER BY seq LIMIT ?`,
      );
      const hide = this.db.prepare(`UPDATE ${this.table} SET receive_count = receive_count + 1, visible_at = ?, receipt = ? WHERE id = ?`);
      const remove = this.db.prepare(`DELETE FROM ${this.table} WHERE id = ?`);

      // Dead-lettered rows free their place in the batch, so select again until it is full or nothing is visible.
      for (;;) {
        const rows = select.all(now, maxMessages - received.length) as MessageRow[];
        if (rows.length === 0) break;
        for (const row of rows) {
          if (this.deadLetterQueue && this.maxReceiveCount !== null && row.receive_count >= this.maxReceiveCount) {
            this.deadLetterQueue.insertDeadLetter(row, now);
            remove.run(row.id);
            continue;
          }
          const receiptHandle = `${row.id}.${randomBytes(12).toString('hex')}`;
          hide.run(now + this.visibilityTimeoutSec * 1000, receiptHandle, row.id);
          received.push({
            messageId: row.id,
            receiptHandle,
            receiveCount: row.receive_count + 1,
            body: JSON.parse(row.body) as unknown,
            sentAt: new Date(row.sent_at),
          });
        }
        if (received.length >= maxMessages) break;
      }
      return received;
    });
    return this.run('receive', () => take.immediate());
  }

  private waitForSend(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const finish = () => {
        clearTimeout(timer);
        this.waiters.delete(finish);
        signal?.removeEventListener('abort', finish);
        resolve();
      };
      const timer = setTimeout(finish, ms);
      this.waiters.add(finish);
      signal?.addEventListener('abort', finish, { once: true });
    });
  }

  private wakeWaiters(): void {
    for (const wake of [...this.waiters]) wake();
  }

  async extendVisibility(receiptHandle: string, timeoutSec: number): Promise<void> {
    checkSeconds('timeoutSec', timeoutSec);
    this.setVisibleAt('extendVisibility', receiptHandle, this.now() + timeoutSec * 1000);
  }

  async release(receiptHandle: string, delaySec = 0): Promise<void> {
    checkSeconds('delaySec', delaySec);
    this.setVisibleAt('release', receiptHandle, this.now() + delaySec * 1000);
    if (delaySec === 0) this.wakeWaiters();
  }

  private setVisibleAt(operation: string, receiptHandle: string, visibleAt: number): void {
    const result = this.run(operation, () =>
      this.db.prepare(`UPDATE ${this.table} SET visible_at = ? WHERE receipt = ?`).run(visibleAt, receiptHandle),
    );
    if (result.changes === 0) {
      throw new MessageNotInFlightError(
        `${operation} failed: receipt handle ${receiptHandle} is not in flight in queue ${this.table} (the message was deleted or delivered again)`,
        { context: { messageId: receiptHandle.split('.')[0] } },
      );
    }
  }

  async delete(receiptHandle: string): Promise<void> {
    this.run('delete', () => this.db.prepare(`DELETE FROM ${this.table} WHERE receipt = ?`).run(receiptHandle));
  }

  /** Returns how many messages the queue has, by visibility. */
  counts(): QueueCounts {
    const row = this.db
      .prepare(`SELECT COUNT(*) AS total, COALESCE(SUM(visible_at <= ?), 0) AS visible FROM ${this.table}`)
      .get(this.now()) as { total: number; visible: number };
    return { visible: row.visible, hidden: row.total - row.visible, total: row.total };
  }

  /** Returns the bodies of all messages in send order without receiving them, for tests and operators. */
  peekBodies(): unknown[] {
    const rows = this.db.prepare(`SELECT body FROM ${this.table} ORDER BY seq`).all() as { body: string }[];
    return rows.map((row) => JSON.parse(row.body) as unknown);
  }

  private run<T>(operation: string, action: () => T): T {
    try {
      return action();
    } catch (error) {
      if (isBusy(error)) throw busyError(operation, this.table, error);
      throw error;
    }
  }
}
