import {
  ConflictError,
  LogEvents,
  PreconditionFailedError,
  RetryableError,
  UnrecoverableError,
  WorkMessageSchema,
  errorFields,
  isFinalState,
  jobKeys,
  type AnalyzeOutcome,
  type AnalyzeRequest,
  type BlobStore,
  type FaceptorError,
  type ImageAnalyzer,
  type JobRecord,
  type JobStore,
  type Logger,
  type ReceivedMessage,
  type WorkMessage,
} from '@faceptor/core';
import { classifyFailure, type MessageOutcome } from './ack-policy.ts';
import { attachMaskKeys } from './result-document.ts';

/** Dependencies of the job processor. */
export interface JobProcessorDependencies {
  jobs: JobStore;
  blobs: BlobStore;
  analyzer: ImageAnalyzer;
  logger: Logger;
  now?: () => Date;
}

/** A message whose job this worker moved to `processing`. */
interface Claim {
  message: ReceivedMessage;
  work: WorkMessage;
  job: JobRecord;
}

/** A claim with its input image loaded. */
interface LoadedClaim extends Claim {
  image: Uint8Array;
}

/** Outcome of each message of a batch, keyed by message. */
export type BatchOutcomes = Map<ReceivedMessage, MessageOutcome>;

function isOutcome(value: unknown): value is MessageOutcome {
  return typeof value === 'object' && value !== null && 'kind' in value;
}

/**
 * Runs the job steps of one batch of messages: claim each job (move it to `processing`), load its
 * input, analyze all inputs in one analyzer call, store results and masks, and finish each job with
 * a conditional transition. Returns one outcome per message; the caller acknowledges them.
 */
export class JobProcessor {
  private readonly deps: JobProcessorDependencies;
  private readonly now: () => Date;

  constructor(deps: JobProcessorDependencies) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /** Processes `messages` and returns the outcome of each. Never rejects: failures become outcomes. */
  async process(messages: readonly ReceivedMessage[]): Promise<BatchOutcomes> {
    const outcomes: BatchOutcomes = new Map();

    const claims = await Promise.all(messages.map((message) => this.guard(message, null, outcomes, () => this.claim(message))));
    const loaded = await Promise.all(
      claims.filter((claim): claim is Claim => claim !== null).map((claim) => this.guard(claim.message, claim.job, outcomes, () => this.loadInput(claim))),
    );
    const ready = loaded.filter((claim): claim is LoadedClaim => claim !== null);
    if (ready.length > 0) await this.analyzeAndFinish(ready, outcomes);

    return outcomes;
  }

  /**
   * Runs one step of one message. The step returns its value to continue, or an outcome to stop.
   * A thrown error becomes `retry` or fails the job, as the ack policy classifies it.
   */
  private async guard<T>(message: ReceivedMessage, job: JobRecord | null, outcomes: BatchOutcomes, step: () => Promise<T | MessageOutcome>): Promise<T | null> {
    try {
      const value = await step();
      if (!isOutcome(value)) return value;
      outcomes.set(message, value);
    } catch (error) {
      outcomes.set(message, await this.outcomeOfFailure(message, job, error));
    }
    return null;
  }

  private async outcomeOfFailure(message: ReceivedMessage, job: JobRecord | null, error: unknown): Promise<MessageOutcome> {
    if (classifyFailure(error) === 'retry' || job === null) return { kind: 'retry', error };

    const failure = error as FaceptorError;
    try {
      return await this.failJob(message, job, failure.code ?? 'processing_failed', failure.message);
    } catch (failError) {
      return { kind: 'retry', error: failError };
    }
  }

  private async claim(message: ReceivedMessage): Promise<Claim | MessageOutcome> {
    const parsed = WorkMessageSchema.safeParse(message.body);
    if (!parsed.success) return { kind: 'invalid', reason: `body is not a work message: ${parsed.error.issues.map((issue) => issue.message).join('; ')}` };
    const work = parsed.data;
    if (work.inputKey !== jobKeys.input(work.jobId)) return { kind: 'invalid', reason: `inputKey ${work.inputKey} is not the input of job ${work.jobId}` };

    const job = await this.deps.jobs.get(work.jobId);
    if (!job) return { kind: 'stale', reason: 'job not found (deleted)' };
    if (job.tenant !== work.tenant) return { kind: 'invalid', reason: `tenant ${work.tenant} does not own job ${work.jobId}` };
    if (isFinalState(job.state)) return { kind: 'stale', reason: `job already ${job.state}` };
    if (job.state === 'awaiting_upload') {
      throw new RetryableError(`job ${job.id} is still awaiting its upload`, { code: 'job_not_ready', context: { jobId: job.id, messageId: message.messageId } });
    }

    let claimed: JobRecord;
    try {
      claimed = await this.deps.jobs.transition(job.id, {
        expectedVersion: job.version,
        to: 'processing',
        patch: { attempts: job.attempts + 1, startedAt: this.now().toISOString() },
      });
    } catch (error) {
      // Another delivery changed the job between this worker's read and write, so the next receive reads the new state.
      if (error instanceof ConflictError) {
        throw new RetryableError(`job ${job.id} changed while this worker claimed it`, { code: 'job_conflict', context: { jobId: job.id, messageId: message.messageId }, cause: error });
      }
      throw error;
    }

    this.deps.logger.info(
      { event: LogEvents.jobProcessing, jobId: job.id, tenant: job.tenant, messageId: message.messageId, receiveCount: message.receiveCount, attempt: claimed.attempts },
      'job processing',
    );
    return { message, work, job: claimed };
  }

  private async loadInput(claim: Claim): Promise<LoadedClaim> {
    const object = await this.deps.blobs.get(claim.work.inputKey);
    if (!object) {
      throw new UnrecoverableError(`input image of job ${claim.job.id} is missing from storage: upload it to a new job`, {
        context: { jobId: claim.job.id, messageId: claim.message.messageId },
      });
    }
    return { ...claim, image: object.body };
  }

  private async analyzeAndFinish(ready: LoadedClaim[], outcomes: BatchOutcomes): Promise<void> {
    const requests: AnalyzeRequest[] = ready.map((claim) => ({ id: claim.job.id, image: claim.image, tasks: claim.job.tasks }));

    let results: AnalyzeOutcome[];
    try {
      results = await this.analyze(requests);
    } catch (error) {
      if (ready.length === 1) {
        outcomes.set(ready[0]!.message, { kind: 'retry', error });
        return;
      }
      // One bad image must not hold the others back, so a failed batch is rerun one image at a time.
      this.deps.logger.warn({ event: LogEvents.workerError, jobIds: ready.map((claim) => claim.job.id), ...errorFields(error) }, 'batch analysis failed; retrying each image alone');
      for (const claim of ready) await this.analyzeAndFinish([claim], outcomes);
      return;
    }

    await Promise.all(ready.map((claim, index) => this.guard(claim.message, claim.job, outcomes, () => this.finish(claim, results[index]!))));
  }

  private async analyze(requests: AnalyzeRequest[]): Promise<AnalyzeOutcome[]> {
    const results = await this.deps.analyzer.analyzeBatch(requests);
    if (!Array.isArray(results) || results.length !== requests.length) {
      throw new Error(`analyzer returned ${Array.isArray(results) ? results.length : typeof results} outcomes for ${requests.length} requests`);
    }
    return results;
  }

  private async finish(claim: LoadedClaim, result: AnalyzeOutcome): Promise<MessageOutcome> {
    if (!result.ok) return this.failJob(claim.message, claim.job, result.code, result.message);

    await this.storeOutputs(claim.job, result);
    const finishedAt = this.now().toISOString();
    try {
      await this.deps.jobs.transition(claim.job.id, {
        expectedVersion: claim.job.version,
        to: 'succeeded',
        patch: { parsingMasks: result.masks.map((mask) => mask.faceIndex).sort((a, b) => a - b), finishedAt, error: null },
      });
    } catch (error) {
      if (error instanceof ConflictError) return this.resolveConflict(claim.job, claim.message);
      throw error;
    }

    this.deps.logger.info(
      { event: LogEvents.jobSucceeded, jobId: claim.job.id, tenant: claim.job.tenant, messageId: claim.message.messageId, masks: result.masks.length, attempt: claim.job.attempts },
      'job succeeded',
    );
    await this.deleteInput(claim.job);
    return { kind: 'completed', state: 'succeeded' };
  }

  /**
   * Stores masks and then `result.json`, each only if absent. An object that exists was stored by an
   * earlier attempt of this job and is kept, so a job never has two different results.
   */
  private async storeOutputs(job: JobRecord, result: Extract<AnalyzeOutcome, { ok: true }>): Promise<void> {
    for (const mask of result.masks) await this.putOnce(job, jobKeys.parsingMask(job.id, mask.faceIndex), mask.png);

    const document = attachMaskKeys(result.result, job.id, result.masks);
    await this.putOnce(job, jobKeys.result(job.id), new TextEncoder().encode(JSON.stringify(document)));
  }

  private async putOnce(job: JobRecord, key: string, body: Uint8Array): Promise<void> {
    try {
      await this.deps.blobs.put(key, body, { ifNoneMatch: '*' });
    } catch (error) {
      if (!(error instanceof PreconditionFailedError)) throw error;
      this.deps.logger.info({ event: LogEvents.jobSkipped, jobId: job.id, key }, 'kept the object stored by an earlier attempt');
    }
  }

  private async failJob(message: ReceivedMessage, job: JobRecord, code: string, reason: string): Promise<MessageOutcome> {
    try {
      await this.deps.jobs.transition(job.id, {
        expectedVersion: job.version,
        to: 'failed',
        patch: { error: { code, message: reason }, finishedAt: this.now().toISOString() },
      });
    } catch (error) {
      if (error instanceof ConflictError) return this.resolveConflict(job, message);
      throw error;
    }

    this.deps.logger.warn({ event: LogEvents.jobFailed, jobId: job.id, tenant: job.tenant, messageId: message.messageId, code, reason }, 'job failed');
    await this.deleteInput(job);
    return { kind: 'completed', state: 'failed' };
  }

  /**
   * Handles a finishing transition that lost: the job was canceled or deleted (then its objects go,
   * including what this attempt just stored), or another delivery took it over (then it owns the result).
   */
  private async resolveConflict(job: JobRecord, message: ReceivedMessage): Promise<MessageOutcome> {
    const current = await this.deps.jobs.get(job.id);
    if (!current || current.state === 'canceled') {
      for (const key of await this.deps.blobs.list(jobKeys.prefix(job.id))) await this.deps.blobs.delete(key);
      return { kind: 'stale', reason: current ? 'job canceled while processing' : 'job deleted while processing' };
    }
    this.deps.logger.info({ event: LogEvents.jobSkipped, jobId: job.id, messageId: message.messageId, state: current.state }, 'another delivery finished or took over the job');
    return { kind: 'stale', reason: `job is ${current.state} at version ${current.version} by another delivery` };
  }

  private async deleteInput(job: JobRecord): Promise<void> {
    if (job.retainInput) return;
    try {
      await this.deps.blobs.delete(jobKeys.input(job.id));
    } catch (error) {
      this.deps.logger.warn({ event: LogEvents.cleanupFailed, jobId: job.id, key: jobKeys.input(job.id), ...errorFields(error) }, 'deleting the input failed');
    }
  }
}
