import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  RetryableError,
  jobKeys,
  newJobId,
  newJobRecord,
  silentLogger,
  type BlobStore,
  type ImageAnalyzer,
  type JobRecord,
  type Task,
  type WorkMessage,
} from '@faceptor/core';
import { openLocalAdapters, type LocalAdapters } from '@faceptor/core/adapters/local';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { photosDir } from '../../../test/support/requirements.ts';
import { QueueWorker, type QueueWorkerOptions } from './queue-worker.ts';
import { TestAnalyzer } from './test-analyzer.ts';

const visibilityTimeoutSec = 2;
const maxReceiveCount = 3;

const baseOptions: QueueWorkerOptions = {
  maxBatchImages: 4,
  maxBatchWaitMs: 50,
  receiveWaitMs: 200,
  visibilityTimeoutSec,
  heartbeatSec: 1,
  maxReceiveCount,
  retryBaseDelaySec: 0,
  retryMaxDelaySec: 0,
  shutdownTimeoutMs: 3000,
  deadLetterIntervalMs: 50,
};

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `check` every 25 ms until it returns a truthy value, for at most `timeoutMs`. */
async function waitFor<T>(description: string, check: () => Promise<T | null | undefined | false>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}`);
    await sleep(25);
  }
}

describe('QueueWorker', () => {
  let folder: string;
  let local: LocalAdapters;
  let workers: QueueWorker[];
  let jpeg: Uint8Array;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'faceptor-worker-'));
    local = await openLocalAdapters({ dataDir: folder, visibilityTimeoutSec, maxReceiveCount });
    workers = [];
    jpeg = new Uint8Array(await readFile(path.join(photosDir, 'dlib-examples', '2008_001322.jpg')));
  });

  afterEach(async () => {
    await Promise.all(workers.map((worker) => worker.close()));
    local.close();
    await rm(folder, { recursive: true, force: true });
  });

  function startWorker(analyzer: ImageAnalyzer, overrides: Partial<QueueWorkerOptions> = {}, blobs: BlobStore = local.blobs): QueueWorker {
    const worker = new QueueWorker(
      { queue: local.queue, deadLetters: local.deadLetters, jobs: local.jobs, blobs, analyzer, logger: silentLogger() },
      { ...baseOptions, ...overrides },
    );
    workers.push(worker);
    worker.start();
    return worker;
  }

  /** Does what the upload route does: creates the job, stores its input, queues it and sends its message. */
  async function enqueue(image: Uint8Array, options: { tasks?: Task[]; retainInput?: boolean } = {}): Promise<{ job: JobRecord; message: WorkMessage }> {
    const id = newJobId();
    const record = newJobRecord({
      id,
      tenant: 'tenant-a',
      tasks: options.tasks ?? ['age'],
      uploadMaxBytes: 1_000_000,
      uploadExpiresAt: new Date(Date.now() + 60_000),
      retainInput: options.retainInput,
    });
    await local.jobs.create(record);
    await local.blobs.put(jobKeys.input(id), image, { ifNoneMatch: '*' });
    const job = await local.jobs.transition(id, {
      expectedVersion: 1,
      to: 'queued',
      patch: { input: { bytes: image.byteLength, mediaType: 'image/jpeg', uploadedAt: new Date().toISOString() } },
    });
    const message: WorkMessage = { v: 1, jobId: id, tenant: 'tenant-a', tasks: job.tasks, inputKey: jobKeys.input(id), enqueuedAt: new Date().toISOString() };
    await local.queue.send(message);
    return { job, message };
  }

  function waitForState(jobId: string, states: JobRecord['state'][], timeoutMs?: number): Promise<JobRecord> {
    return waitFor(`job ${jobId} to reach ${states.join(' or ')}`, async () => {
      const job = await local.jobs.get(jobId);
      return job && states.includes(job.state) ? job : null;
    }, timeoutMs);
  }

  async function readResult(jobId: string): Promise<Record<string, any> | null> {
    const object = await local.blobs.get(jobKeys.result(jobId));
    return object ? (JSON.parse(new TextDecoder().decode(object.body)) as Record<string, any>) : null;
  }

  it('completes a job and cleans up', async () => {
    const analyzer = new TestAnalyzer();
    startWorker(analyzer);
    const { job } = await enqueue(jpeg);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(1);
    expect(done.error).toBeNull();
    expect((await readResult(job.id))?.schema).toBe('faceptor.result/v1');
    await waitFor('input to be deleted', async () => (await local.blobs.head(jobKeys.input(job.id))) === null);
    await waitFor('queue to empty', async () => local.queue.counts().total === 0);
    expect(analyzer.batches.flat().map((request) => request.id)).toEqual([job.id]);
    expect(analyzer.batches[0]![0]!.tasks).toEqual(['age']);
  });

  it('keeps a retained input', async () => {
    startWorker(new TestAnalyzer());
    const { job } = await enqueue(jpeg, { retainInput: true });

    await waitForState(job.id, ['succeeded']);

    expect((await local.blobs.head(jobKeys.input(job.id)))?.size).toBe(jpeg.byteLength);
  });

  it('stores masks and points the result at them', async () => {
    startWorker(new TestAnalyzer());
    const { job } = await enqueue(jpeg, { tasks: ['parsing', 'age'] });

    const done = await waitForState(job.id, ['succeeded']);
    const result = await readResult(job.id);

    expect(done.parsingMasks).toEqual([0]);
    expect(result?.faces[0].parsing.mask).toBe(jobKeys.parsingMask(job.id, 0));
    expect((await local.blobs.head(jobKeys.parsingMask(job.id, 0)))?.size).toBeGreaterThan(0);
  });

  it('fails a corrupt image with invalid_image', async () => {
    startWorker(new TestAnalyzer());
    const { job } = await enqueue(jpeg.subarray(0, Math.floor(jpeg.byteLength / 2)));

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('invalid_image');
    expect(done.error?.message).toMatch(/truncated or corrupt/);
    expect(await readResult(job.id)).toBeNull();
    await waitFor('input to be deleted', async () => (await local.blobs.head(jobKeys.input(job.id))) === null);
    await waitFor('queue to empty', async () => local.queue.counts().total === 0);
  });

  it('batches up to maxBatchImages', async () => {
    const analyzer = new TestAnalyzer();
    const jobs = [];
    for (let i = 0; i < 6; i += 1) jobs.push((await enqueue(jpeg)).job);
    startWorker(analyzer, { maxBatchImages: 4 });

    for (const job of jobs) await waitForState(job.id, ['succeeded']);

    expect(analyzer.batches.map((batch) => batch.length)).toEqual([4, 2]);
  });

  it('fills a batch within maxBatchWaitMs', async () => {
    const analyzer = new TestAnalyzer();
    startWorker(analyzer, { maxBatchImages: 4, maxBatchWaitMs: 800 });
    const first = await enqueue(jpeg);
    await sleep(200);
    const second = await enqueue(jpeg);

    await waitForState(first.job.id, ['succeeded']);
    await waitForState(second.job.id, ['succeeded']);

    expect(analyzer.batches.map((batch) => batch.length)).toEqual([2]);
  });

  it('retries after an analyzer failure', async () => {
    const analyzer = new TestAnalyzer({ failFirstCalls: 1 });
    startWorker(analyzer);
    const { job } = await enqueue(jpeg);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(2);
    expect(analyzer.batches).toHaveLength(2);
  });

  it('isolates the image that breaks a batch', async () => {
    const poison = await enqueue(jpeg);
    const healthy = await enqueue(jpeg);
    const analyzer: ImageAnalyzer = {
      async analyzeBatch(requests) {
        if (requests.some((request) => request.id === poison.job.id)) throw new Error('model run failed on this image');
        return new TestAnalyzer().analyzeBatch(requests);
      },
      async close() {},
    };
    startWorker(analyzer);

    const done = await waitForState(healthy.job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(1);
  });

  it('dead-letters after maxReceiveCount failures', async () => {
    const analyzer = new TestAnalyzer({ failFirstCalls: 1000 });
    startWorker(analyzer);
    const { job } = await enqueue(jpeg);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('processing_failed');
    expect(done.error?.message).toMatch(/processing failed 3 times \(message [0-9a-f]+ moved to the dead-letter queue\)/);
    expect(analyzer.batches).toHaveLength(maxReceiveCount);
    await waitFor('input to be deleted', async () => (await local.blobs.head(jobKeys.input(job.id))) === null);
    await waitFor('dead letter to be handled', async () => local.queue.counts().total === 0 && local.deadLetters.counts().total === 0);
  });

  it('fails the job of a message dead-lettered by lost workers', async () => {
    const { job } = await enqueue(jpeg);
    // Two deliveries whose workers vanished without a trace, then one past the limit.
    for (let receive = 1; receive <= maxReceiveCount; receive += 1) {
      const [message] = await local.queue.receive(1, 1000);
      await local.queue.release(message!.receiptHandle);
    }
    const analyzer = new TestAnalyzer();
    startWorker(analyzer);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('failed');
    expect(done.error?.code).toBe('processing_failed');
    expect(analyzer.batches).toHaveLength(0);
  });

  it('heartbeat keeps a long job from redelivery', async () => {
    const slow = new TestAnalyzer({ delayMs: visibilityTimeoutSec * 1000 * 2 });
    const other = new TestAnalyzer();
    startWorker(slow);
    const { job } = await enqueue(jpeg);
    await waitForState(job.id, ['processing']);
    startWorker(other);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(1);
    expect(slow.batches).toHaveLength(1);
    expect(other.batches).toHaveLength(0);
  });

  it('drops a duplicate message of a finished job', async () => {
    const analyzer = new TestAnalyzer();
    startWorker(analyzer);
    const { job, message } = await enqueue(jpeg);
    await waitForState(job.id, ['succeeded']);

    await local.queue.send(message);
    await waitFor('duplicate to be deleted', async () => local.queue.counts().total === 0);

    expect(analyzer.batches).toHaveLength(1);
    expect((await local.jobs.get(job.id))?.version).toBe(4);
  });

  it('drops the message of a deleted job', async () => {
    const { job } = await enqueue(jpeg);
    await local.jobs.delete(job.id);
    const analyzer = new TestAnalyzer();
    startWorker(analyzer);

    await waitFor('message to be deleted', async () => local.queue.counts().total === 0);

    expect(analyzer.batches).toHaveLength(0);
  });

  it('drops an invalid message', async () => {
    await local.queue.send({ v: 2, hello: 'world' } as unknown as WorkMessage);
    startWorker(new TestAnalyzer());

    await waitFor('message to be deleted', async () => local.queue.counts().total === 0);
  });

  it('two deliveries of one job write one result', async () => {
    const puts: string[] = [];
    const countingBlobs: BlobStore = {
      put: async (key, body, options) => {
        const meta = await local.blobs.put(key, body, options);
        puts.push(key);
        return meta;
      },
      get: (key) => local.blobs.get(key),
      head: (key) => local.blobs.head(key),
      delete: (key) => local.blobs.delete(key),
      list: (prefix) => local.blobs.list(prefix),
    };
    const { job, message } = await enqueue(jpeg);
    await local.queue.send(message);
    const analyzers = [new TestAnalyzer({ delayMs: 300 }), new TestAnalyzer({ delayMs: 300 })];
    startWorker(analyzers[0]!, { maxBatchImages: 1 }, countingBlobs);
    startWorker(analyzers[1]!, { maxBatchImages: 1 }, countingBlobs);

    await waitFor('both messages to be settled', async () => local.queue.counts().total === 0);
    const done = await local.jobs.get(job.id);

    expect(done?.state).toBe('succeeded');
    expect(puts.filter((key) => key === jobKeys.result(job.id))).toHaveLength(1);
    expect((await readResult(job.id))?.schema).toBe('faceptor.result/v1');
  });

  it('cancel during processing leaves no result', async () => {
    let cancel: Promise<unknown> = Promise.resolve();
    const analyzer = new TestAnalyzer({
      delayMs: 200,
      onBatch: (requests) => {
        const jobId = requests[0]!.id;
        cancel = local.jobs.get(jobId).then((job) => local.jobs.transition(jobId, { expectedVersion: job!.version, to: 'canceled' }));
      },
    });
    startWorker(analyzer, { maxBatchImages: 1 });
    const { job } = await enqueue(jpeg, { tasks: ['parsing'] });

    await waitFor('message to be settled', async () => local.queue.counts().total === 0);
    await cancel;

    expect((await local.jobs.get(job.id))?.state).toBe('canceled');
    expect(await local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
  });

  it('releases after a storage failure', async () => {
    let failures = 1;
    const flakyBlobs: BlobStore = {
      put: (key, body, options) => local.blobs.put(key, body, options),
      get: async (key) => {
        if (failures > 0) {
          failures -= 1;
          throw new RetryableError(`storage returned 503 for ${key}`);
        }
        return local.blobs.get(key);
      },
      head: (key) => local.blobs.head(key),
      delete: (key) => local.blobs.delete(key),
      list: (prefix) => local.blobs.list(prefix),
    };
    startWorker(new TestAnalyzer(), {}, flakyBlobs);
    const { job } = await enqueue(jpeg);

    const done = await waitForState(job.id, ['succeeded', 'failed']);

    expect(done.state).toBe('succeeded');
    expect(done.attempts).toBe(2);
  });

  it('close lets the batch in flight finish', async () => {
    const worker = startWorker(new TestAnalyzer({ delayMs: 500 }), { shutdownTimeoutMs: 5000 });
    const { job } = await enqueue(jpeg);
    await waitForState(job.id, ['processing']);

    await worker.close();

    expect((await local.jobs.get(job.id))?.state).toBe('succeeded');
    expect(local.queue.counts().total).toBe(0);
    expect(worker.running).toBe(false);
  });

  it('close releases a batch past the deadline', async () => {
    const worker = startWorker(new TestAnalyzer({ delayMs: 1500 }), { shutdownTimeoutMs: 100 });
    const { job } = await enqueue(jpeg);
    await waitForState(job.id, ['processing']);

    const started = Date.now();
    await worker.close();

    expect(Date.now() - started).toBeLessThan(1000);
    expect(local.queue.counts()).toMatchObject({ visible: 1, total: 1 });
    // The abandoned batch still runs to its end in this process; its conditional writes stay valid.
    await waitForState(job.id, ['succeeded']);
  });

  it('close is idempotent and works before start', async () => {
    const idle = new QueueWorker(
      { queue: local.queue, jobs: local.jobs, blobs: local.blobs, analyzer: new TestAnalyzer(), logger: silentLogger() },
      baseOptions,
    );
    const first = idle.close();

    expect(idle.close()).toBe(first);
    await first;
    idle.start();
    expect(idle.running).toBe(false);
  });

  it('close ends a long poll at once', async () => {
    const worker = startWorker(new TestAnalyzer(), { receiveWaitMs: 20_000 });
    await sleep(100);

    const started = Date.now();
    await worker.close();

    expect(Date.now() - started).toBeLessThan(1000);
  });

  it('rejects a heartbeat not below the visibility timeout', () => {
    const create = () =>
      new QueueWorker(
        { queue: local.queue, jobs: local.jobs, blobs: local.blobs, analyzer: new TestAnalyzer(), logger: silentLogger() },
        { ...baseOptions, heartbeatSec: 2, visibilityTimeoutSec: 2 },
      );

    expect(create).toThrow(RangeError);
    expect(create).toThrow(/heartbeatSec \(2\) must be less than visibilityTimeoutSec \(2\)/);
  });
});
