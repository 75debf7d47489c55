import {
  LogEvents,
  MessageNotInFlightError,
  errorFields,
  type BlobStore,
  type Config,
  type ImageAnalyzer,
  type JobStore,
  type Logger,
  type ReceivedMessage,
  type WorkQueue,
} from '@faceptor/core';
import { decideAck, type MessageOutcome, type RetryPolicy } from './ack-policy.ts';
import { DeadLetterHandler } from './dead-letters.ts';
import { JobProcessor } from './job-processor.ts';

/** Settings of a {@link QueueWorker}; {@link queueWorkerOptions} takes them from the service configuration. */
export interface QueueWorkerOptions extends RetryPolicy {
  maxBatchImages: number;
  /** Maximum time to keep filling a batch after its first message arrived. */
  maxBatchWaitMs: number;
  /** Maximum wait of one long poll for the first message. */
  receiveWaitMs: number;
  visibilityTimeoutSec: number;
  heartbeatSec: number;
  /** Time a graceful stop gives the batch in flight before releasing its messages. */
  shutdownTimeoutMs: number;
  /** Interval between checks of the dead-letter queue. */
  deadLetterIntervalMs?: number;
}

/** Dependencies of a {@link QueueWorker}. `deadLetters` is optional where another process handles them. */
export interface QueueWorkerDependencies {
  queue: WorkQueue;
  deadLetters?: WorkQueue;
  jobs: JobStore;
  blobs: BlobStore;
  analyzer: ImageAnalyzer;
  logger: Logger;
  now?: () => Date;
}

/** Returns the worker settings contained in the service configuration. */
export function queueWorkerOptions(config: Config): QueueWorkerOptions {
  return {
    maxBatchImages: config.maxBatchImages,
    maxBatchWaitMs: config.maxBatchWaitMs,
    receiveWaitMs: config.receiveWaitMs,
    visibilityTimeoutSec: config.visibilityTimeoutSec,
    heartbeatSec: config.heartbeatSec,
    maxReceiveCount: config.maxReceiveCount,
    retryBaseDelaySec: config.retryBaseDelaySec,
    retryMaxDelaySec: config.retryMaxDelaySec,
    shutdownTimeoutMs: config.shutdownTimeoutMs,
  };
}

function checkOptions(options: QueueWorkerOptions): void {
  const positive: (keyof QueueWorkerOptions)[] = ['maxBatchImages', 'visibilityTimeoutSec', 'heartbeatSec', 'maxReceiveCount'];
  for (const name of positive) {
    const value = options[name];
    if (!Number.isInteger(value) || (value as number) < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
  }
  const nonNegative: (keyof QueueWorkerOptions)[] = ['maxBatchWaitMs', 'receiveWaitMs', 'shutdownTimeoutMs', 'retryBaseDelaySec', 'retryMaxDelaySec'];
  for (const name of nonNegative) {
    const value = options[name];
    if (!Number.isFinite(value) || (value as number) < 0) throw new RangeError(`${name} must be a number >= 0, got ${value}`);
  }
  if (options.heartbeatSec >= options.visibilityTimeoutSec) {
    throw new RangeError(
      `heartbeatSec (${options.heartbeatSec}) must be less than visibilityTimeoutSec (${options.visibilityTimeoutSec}), or messages reappear before their first heartbeat`,
    );
  }
}

/** Waits `ms`, or less if `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

/** Resolves true when `promise` settles within `ms`, false otherwise. */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The queue consumer. Its loop: receive a batch (long poll, then fill for at most `maxBatchWaitMs`),
 * heartbeat the batch's visibility while it runs, process it with {@link JobProcessor}, then delete
 * or release each message as the ack policy decides. Between batches it fails the jobs of
 * dead-lettered messages.
 *
 * `close()` stops receiving, lets the batch in flight finish within `shutdownTimeoutMs` and otherwise
 * releases its messages (visibility 0), so another worker takes them at once.
 */
export class QueueWorker {
  private readonly deps: QueueWorkerDependencies;
  private readonly options: QueueWorkerOptions;
  private readonly processor: JobProcessor;
  private readonly deadLetterHandler: DeadLetterHandler | null;
  private readonly stopSignal = new AbortController();
  /** Messages of the batch in flight that are not acknowledged yet, by receipt handle. */
  private readonly inFlight = new Map<string, ReceivedMessage>();
  private loop: Promise<void> | null = null;
  private closing: Promise<void> | null = null;
  private nextDeadLetterCheck = 0;

  constructor(deps: QueueWorkerDependencies, options: QueueWorkerOptions) {
    checkOptions(options);
    this.deps = deps;
    this.options = options;
    this.processor = new JobProcessor(deps);
    this.deadLetterHandler = deps.deadLetters
      ? new DeadLetterHandler({ deadLetters: deps.deadLetters, jobs: deps.jobs, blobs: deps.blobs, logger: deps.logger, maxReceiveCount: options.maxReceiveCount, now: deps.now })
      : null;
  }

  /** True between `start()` and the end of `close()`. */
  get running(): boolean {
    return this.loop !== null && !this.stopSignal.signal.aborted;
  }

  /** Starts the receive loop in the background. Calling it again, or after `close()`, does nothing. */
  start(): void {
    if (this.loop || this.stopSignal.signal.aborted) return;
    this.deps.logger.info({ event: LogEvents.workerStarted, maxBatchImages: this.options.maxBatchImages }, 'worker started');
    this.loop = this.runLoop();
  }

  private async runLoop(): Promise<void> {
    const signal = this.stopSignal.signal;
    let consecutiveErrors = 0;
    while (!signal.aborted) {
      try {
        await this.handleDeadLetters();
        await this.runOnce();
        consecutiveErrors = 0;
      } catch (error) {
        consecutiveErrors += 1;
        const pauseMs = Math.min(30_000, 250 * 2 ** Math.min(consecutiveErrors, 7));
        this.deps.logger.error({ event: LogEvents.workerError, consecutiveErrors, pauseMs, ...errorFields(error) }, 'worker loop failed; pausing before the next receive');
        await sleep(pauseMs, signal);
      }
    }
  }

  private async handleDeadLetters(): Promise<void> {
    if (!this.deadLetterHandler || Date.now() < this.nextDeadLetterCheck) return;
    this.nextDeadLetterCheck = Date.now() + (this.options.deadLetterIntervalMs ?? 5000);
    await this.deadLetterHandler.handleAvailable();
  }

  /**
   * Receives and processes one batch. Returns the number of messages it received (0 when the long
   * poll ended empty or the worker is stopping). The loop calls it; tests may call it directly.
   */
  async runOnce(): Promise<number> {
    const batch = await this.receiveBatch();
    if (batch.length === 0) return 0;
    await this.processBatch(batch);
    return batch.length;
  }

  private async receiveBatch(): Promise<ReceivedMessage[]> {
    const signal = this.stopSignal.signal;
    const { queue } = this.deps;
    const max = this.options.maxBatchImages;

    if (signal.aborted) return [];
    const batch = await queue.receive(max, this.options.receiveWaitMs, signal);
    if (batch.length === 0) return batch;

    const deadline = Date.now() + this.options.maxBatchWaitMs;
    while (batch.length < max && !signal.aborted) {
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) break;
      batch.push(...(await queue.receive(max - batch.length, remainingMs, signal)));
    }
    return batch;
  }

  private async processBatch(batch: ReceivedMessage[]): Promise<void> {
    for (const message of batch) this.inFlight.set(message.receiptHandle, message);
    const started = performance.now();
    this.deps.logger.info({ event: LogEvents.batchStarted, messages: batch.length, messageIds: batch.map((message) => message.messageId) }, 'batch started');

    const heartbeat = setInterval(() => void this.extendInFlight(), this.options.heartbeatSec * 1000);
    try {
      const outcomes = await this.processor.process(batch);
      await Promise.all(batch.map((message) => this.acknowledge(message, outcomes.get(message) ?? { kind: 'retry', error: new Error('no outcome recorded') })));
    } finally {
      clearInterval(heartbeat);
      for (const message of batch) this.inFlight.delete(message.receiptHandle);
    }

    this.deps.logger.info({ event: LogEvents.batchFinished, messages: batch.length, durationMs: Math.round(performance.now() - started) }, 'batch finished');
  }

  private async extendInFlight(): Promise<void> {
    await Promise.all(
      [...this.inFlight.values()].map(async (message) => {
        try {
          await this.deps.queue.extendVisibility(message.receiptHandle, this.options.visibilityTimeoutSec);
        } catch (error) {
          // A lost message is redelivered to another worker, whose conditional transitions win; this one's later writes fail harmlessly.
          if (error instanceof MessageNotInFlightError) this.inFlight.delete(message.receiptHandle);
          this.deps.logger.warn({ event: LogEvents.heartbeatFailed, messageId: message.messageId, ...errorFields(error) }, 'extending message visibility failed');
        }
      }),
    );
  }

  private async acknowledge(message: ReceivedMessage, outcome: MessageOutcome): Promise<void> {
    const decision = decideAck(outcome, message.receiveCount, this.options);
    const ids = { messageId: message.messageId, receiveCount: message.receiveCount };
    if (outcome.kind === 'invalid') this.deps.logger.error({ event: LogEvents.messageInvalid, ...ids, reason: outcome.reason }, 'invalid work message deleted');
    if (outcome.kind === 'stale') this.deps.logger.info({ event: LogEvents.jobSkipped, ...ids, reason: outcome.reason }, 'message needs no work');

    try {
      if (decision.action === 'delete') {
        await this.deps.queue.delete(message.receiptHandle);
        return;
      }
      await this.deps.queue.release(message.receiptHandle, decision.delaySec);
      const error = outcome.kind === 'retry' ? errorFields(outcome.error) : {};
      this.deps.logger.warn({ event: LogEvents.messageReleased, ...ids, delaySec: decision.delaySec, ...error }, 'message released for a retry');
    } catch (error) {
      // The message reappears after its visibility timeout and the next delivery settles it.
      this.deps.logger.warn({ event: LogEvents.workerError, ...ids, action: decision.action, ...errorFields(error) }, 'acknowledging a message failed');
    }
  }

  /**
   * Stops the worker: no new receives, the batch in flight gets `shutdownTimeoutMs` to finish, and
   * if it does not, its unacknowledged messages are released. Idempotent: later calls return the
   * same promise. Does not close the analyzer, which its owner closes.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    this.closing = this.stop();
    return this.closing;
  }

  private async stop(): Promise<void> {
    this.deps.logger.info({ event: LogEvents.workerStopping, inFlight: this.inFlight.size }, 'worker stopping');
    this.stopSignal.abort();

    const finished = this.loop ? await settlesWithin(this.loop, this.options.shutdownTimeoutMs) : true;
    if (!finished) await this.releaseInFlight();

    this.deps.logger.info({ event: LogEvents.workerStopped, finishedBatch: finished }, 'worker stopped');
  }

  private async releaseInFlight(): Promise<void> {
    const messages = [...this.inFlight.values()];
    this.inFlight.clear();
    await Promise.all(
      messages.map(async (message) => {
        try {
          await this.deps.queue.release(message.receiptHandle, 0);
          this.deps.logger.warn({ event: LogEvents.messageReleased, messageId: message.messageId, delaySec: 0 }, 'message released at shutdown');
        } catch (error) {
          this.deps.logger.warn({ event: LogEvents.workerError, messageId: message.messageId, ...errorFields(error) }, 'releasing a message at shutdown failed');
        }
      }),
    );
  }
}
