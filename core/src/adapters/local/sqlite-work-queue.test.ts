import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { newJobId, type WorkMessage } from '../../job.ts';
import { openSqliteDatabase, type SqliteDatabase } from './sqlite-database.ts';
import { SqliteWorkQueue } from './sqlite-work-queue.ts';

function workMessage(): WorkMessage {
  const jobId = newJobId();
  return { v: 1, jobId, tenant: 't', tasks: ['age'], inputKey: `jobs/${jobId}/input`, enqueuedAt: new Date().toISOString() };
}

describe('SqliteWorkQueue', () => {
  let folder: string;
  let file: string;
  let databases: SqliteDatabase[];
  let clock: number;

  function openQueues(options: { maxReceiveCount?: number } = {}) {
    const db = openSqliteDatabase(file);
    databases.push(db);
    const deadLetters = new SqliteWorkQueue(db, { table: 'dead', visibilityTimeoutSec: 30, now: () => clock });
    const queue = new SqliteWorkQueue(db, {
      table: 'work',
      visibilityTimeoutSec: 30,
      maxReceiveCount: options.maxReceiveCount ?? 3,
      deadLetterQueue: deadLetters,
      now: () => clock,
    });
    return { queue, deadLetters };
  }

  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'faceptor-queue-'));
    file = path.join(folder, 'queue.sqlite');
    databases = [];
    clock = 1_000_000;
  });

  afterEach(async () => {
    for (const db of databases) db.close();
    await rm(folder, { recursive: true, force: true });
  });

  it('hides a message for the visibility timeout', async () => {
    const { queue } = openQueues();
    await queue.send(workMessage());
    await queue.receive(1, 0);

    clock += 29_999;
    expect(await queue.receive(1, 0)).toEqual([]);
    clock += 1;
    expect(await queue.receive(1, 0)).toHaveLength(1);
  });

  it('counts visible and hidden messages', async () => {
    const { queue } = openQueues();
    await queue.send(workMessage());
    await queue.send(workMessage());
    await queue.receive(1, 0);

    expect(queue.counts()).toEqual({ visible: 1, hidden: 1, total: 2 });
  });

  it('delivers in send order', async () => {
    const { queue } = openQueues();
    const bodies = [workMessage(), workMessage(), workMessage()];
    for (const body of bodies) await queue.send(body);

    const received = await queue.receive(10, 0);

    expect(received.map((message) => message.body)).toEqual(bodies);
  });

  it('fills a batch past dead-lettered messages', async () => {
    const { queue, deadLetters } = openQueues({ maxReceiveCount: 1 });
    const first = workMessage();
    await queue.send(first);
    const [message] = await queue.receive(1, 0);
    await queue.release(message!.receiptHandle);
    const second = workMessage();
    await queue.send(second);

    const received = await queue.receive(1, 0);

    expect(received.map((item) => item.body)).toEqual([second]);
    expect(deadLetters.peekBodies()).toEqual([first]);
  });

  it('two connections never share a delivery', async () => {
    const a = openQueues().queue;
    const b = openQueues().queue;
    for (let i = 0; i < 20; i += 1) await a.send(workMessage());

    const batches = await Promise.all([a.receive(7, 0), b.receive(7, 0), a.receive(7, 0), b.receive(7, 0)]);
    const ids = batches.flat().map((message) => message.messageId);

    expect(ids).toHaveLength(20);
    expect(new Set(ids).size).toBe(20);
  });

  it('rejects out-of-range arguments', async () => {
    const { queue } = openQueues();

    await expect(queue.receive(0, 0)).rejects.toThrow(RangeError);
    await expect(queue.receive(1, -1)).rejects.toThrow(/waitMs must be a finite number/);
    await expect(queue.send(workMessage(), { delaySec: 43_201 })).rejects.toThrow(/delaySec must be an integer from 0 to 43200 seconds, got 43201/);
    await expect(queue.extendVisibility('x', 1.5)).rejects.toThrow(/timeoutSec must be an integer/);
  });

  it('rejects an invalid table name', () => {
    const db = openSqliteDatabase(file);
    databases.push(db);

    expect(() => new SqliteWorkQueue(db, { table: 'work; DROP TABLE x', visibilityTimeoutSec: 1 })).toThrow(/table "work; DROP TABLE x" is invalid/);
  });

  it('keeps messages across a reopen', async () => {
    const first = openQueues().queue;
    const body = workMessage();
    await first.send(body);
    databases.pop()!.close();

    const second = openQueues().queue;
    const [message] = await second.receive(1, 0);

    expect(message?.body).toEqual(body);
  });
});
