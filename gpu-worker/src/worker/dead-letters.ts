import { ConflictError, LogEvents, WorkMessageSchema, errorFields, isFinalState, jobKeys, type BlobStore, type JobStore, type Logger, type WorkQueue } from '@faceptor/core';

/** Dependencies of the dead-letter handler. */
export interface DeadLetterHandlerDependencies {
  deadLetters: WorkQueue;
  jobs: JobStore;
  blobs: BlobStore;
  logger: Logger;
  maxReceiveCount: number;
  now?: () => Date;
}

/**
 * Fails the jobs of dead-lettered messages with `processing_failed`, deletes their inputs unless
 * retained, then deletes the messages.
 * A message reaches the dead-letter queue after `maxReceiveCount` deliveries that all ended in a
 * retry or in a lost worker, so no worker will finish its job.
 */
export class DeadLetterHandler {
  private readonly deps: DeadLetterHandlerDependencies;
  private readonly now: () => Date;

  constructor(deps: DeadLetterHandlerDependencies) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /** Handles up to `maxMessages` dead letters without waiting; returns how many it handled. */
  async handleAvailable(maxMessages = 10): Promise<number> {
    const messages = await this.deps.deadLetters.receive(maxMessages, 0);
    for (const message of messages) {
      const parsed = WorkMessageSchema.safeParse(message.body);
      const jobId = parsed.success ? parsed.data.jobId : undefined;
      this.deps.logger.error(
        { event: LogEvents.messageDeadLettered, messageId: message.messageId, jobId, sentAt: message.sentAt.toISOString() },
        `message dead-lettered after ${this.deps.maxReceiveCount} receives`,
      );

      if (jobId) await this.failJob(jobId, message.messageId);
      await this.deps.deadLetters.delete(message.receiptHandle);
    }
    return messages.length;
  }

  private async failJob(jobId: string, messageId: string): Promise<void> {
    const reason = `processing failed ${this.deps.maxReceiveCount} times (message ${messageId} moved to the dead-letter queue): create a new job to try again`;
    for (let attempt = 0; attempt < 3; attempt += 1) {
      const job = await this.deps.jobs.get(jobId);
      if (!job || isFinalState(job.state)) return;
      try {
        await this.deps.jobs.transition(jobId, {
          expectedVersion: job.version,
          to: 'failed',
          patch: { error: { code: 'processing_failed', message: reason }, finishedAt: this.now().toISOString() },
        });
        this.deps.logger.warn({ event: LogEvents.jobFailed, jobId, tenant: job.tenant, messageId, code: 'processing_failed' }, 'job failed');
        if (!job.retainInput) await this.deps.blobs.delete(jobKeys.input(jobId));
        return;
      } catch (error) {
        if (!(error instanceof ConflictError)) throw error;
        this.deps.logger.info({ event: LogEvents.jobSkipped, jobId, messageId, ...errorFields(error) }, 'job changed while failing it; reading it again');
      }
    }
  }
}
