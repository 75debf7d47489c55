import {
  ConflictError,
  ForbiddenError,
  InvalidTransitionError,
  LogEvents,
  NotFoundError,
  PreconditionFailedError,
  RetryableError,
  UnsupportedMediaTypeError,
  VersionConflictError,
  errorFields,
  isFinalState,
  isJobId,
  jobKeys,
  newJobId,
  newJobRecord,
  sniffImageType,
  type BlobStore,
  type JobRecord,
  type JobStore,
  type Logger,
  type Task,
  type WorkMessage,
  type WorkQueue,
} from '@faceptor/core';
import type { UploadGrant, UploadTokenSigner } from './upload-token.ts';

/** Dependencies of the job service: ports, signer, limits and a clock. */
export interface JobServiceDependencies {
  jobs: JobStore;
  blobs: BlobStore;
  queue: WorkQueue;
  uploadSigner: UploadTokenSigner;
  logger: Logger;
  uploadMaxBytes: number;
  uploadUrlTtlSec: number;
  now?: () => Date;
}

/** A created job and the grant its upload URL carries. */
export interface CreatedJob {
  record: JobRecord;
  uploadToken: string;
}

/** Attempts of a read-modify-write that lost a race with another writer before giving up. */
const maxConflictRetries = 3;

/**
 * Job operations behind the HTTP routes: create, accept an upload, read, delete. Every read checks the
 * caller's tenant and reports another tenant's job exactly like a missing one.
 */
export class JobService {
  private readonly deps: JobServiceDependencies;
  private readonly now: () => Date;

  constructor(deps: JobServiceDependencies) {
    this.deps = deps;
    this.now = deps.now ?? (() => new Date());
  }

  /** Creates a job in `awaiting_upload` and signs its upload token. */
  async create(tenant: string, request: { tasks: Task[]; retainInput?: boolean }): Promise<CreatedJob> {
    const now = this.now();
    const expiresAt = new Date(Math.floor(now.getTime() / 1000) * 1000 + this.deps.uploadUrlTtlSec * 1000);
    const record = newJobRecord({
      id: newJobId(),
      tenant,
      tasks: request.tasks,
      uploadMaxBytes: this.deps.uploadMaxBytes,
      uploadExpiresAt: expiresAt,
      retainInput: request.retainInput ?? false,
      now,
    });
    await this.deps.jobs.create(record);

    const uploadToken = this.deps.uploadSigner.sign({ jobId: record.id, maxBytes: record.upload.maxBytes, expiresAt });
    this.deps.logger.info({ event: LogEvents.jobCreated, jobId: record.id, tenant, tasks: record.tasks }, 'job created');
    return { record, uploadToken };
  }

  /**
   * Checks that a verified grant's job still waits for its upload. Call it before reading the body,
   * so that an upload to a finished or deleted job is rejected without reading it.
   */
  async checkUploadable(grant: UploadGrant): Promise<JobRecord> {
    const record = await this.deps.jobs.get(grant.jobId);
    if (!record) throw new NotFoundError(`job ${grant.jobId} not found: it was deleted`, { context: { jobId: grant.jobId } });
    if (record.state === 'expired') {
      throw new ForbiddenError(`upload URL of job ${record.id} expired: create a new job`, { code: 'upload_url_expired', context: { jobId: record.id } });
    }
    if (record.state !== 'awaiting_upload') {
      throw new ConflictError(`job ${record.id} already has an upload or was canceled (status ${record.state}): create a new job to analyze another image`, {
        code: 'upload_exists',
        context: { jobId: record.id },
      });
    }
    return record;
  }

  /**
   * Stores an uploaded image, moves the job to `queued` and sends its work message.
   *
   * The bytes must start with a JPEG, PNG, WebP or AVIF signature (else 415 and nothing is stored). The
   * input is written only if absent, so of two concurrent uploads one stores and the other gets 409.
   */
  async acceptUpload(record: JobRecord, body: Uint8Array): Promise<JobRecord> {
    const mediaType = sniffImageType(body);
    if (!mediaType) {
      throw new UnsupportedMediaTypeError(
        `upload of ${body.byteLength} bytes is not a JPEG, PNG, WebP or AVIF image (checked by its leading bytes): upload one of those formats`,
        { context: { jobId: record.id } },
      );
    }

    const inputKey = jobKeys.input(record.id);
    try {
      await this.deps.blobs.put(inputKey, body, { ifNoneMatch: '*' });
    } catch (error) {
      if (error instanceof PreconditionFailedError) throw this.uploadExists(record.id);
      throw error;
    }

    let queued: JobRecord;
    try {
      queued = await this.deps.jobs.transition(record.id, {
        expectedVersion: record.version,
        to: 'queued',
        patch: { input: { bytes: body.byteLength, mediaType, uploadedAt: this.now().toISOString() } },
      });
    } catch (error) {
      // The job moved on (canceled or deleted) while the body was read, so the stored input has no job.
      await this.deleteQuietly(inputKey, record.id);
      if (error instanceof VersionConflictError || error instanceof InvalidTransitionError) throw this.uploadExists(record.id);
      throw error;
    }
    this.deps.logger.info({ event: LogEvents.jobUploaded, jobId: record.id, tenant: record.tenant, bytes: body.byteLength, mediaType }, 'input stored');

    await this.enqueue(queued, inputKey);
    return queued;
  }

  private async enqueue(job: JobRecord, inputKey: string): Promise<void> {
    const message: WorkMessage = { v: 1, jobId: job.id, tenant: job.tenant, tasks: job.tasks, inputKey, enqueuedAt: this.now().toISOString() };
    try {
      const messageId = await this.deps.queue.send(message);
      this.deps.logger.info({ event: LogEvents.jobQueued, jobId: job.id, tenant: job.tenant, messageId }, 'job queued');
    } catch (error) {
      this.deps.logger.error({ event: LogEvents.jobFailed, jobId: job.id, tenant: job.tenant, ...errorFields(error) }, 'sending the work message failed');
      await this.deps.jobs
        .transition(job.id, {
          expectedVersion: job.version,
          to: 'failed',
          patch: { error: { code: 'processing_failed', message: 'the job could not be queued: create a new job' }, finishedAt: this.now().toISOString() },
        })
        .catch(() => undefined);
      await this.deleteQuietly(inputKey, job.id);
      throw new RetryableError('the job could not be queued: create a new job and upload again', { code: 'queue_unavailable', context: { jobId: job.id }, cause: error });
    }
  }

  /**
   * Returns the caller's job, moving a job whose upload URL lapsed unused to `expired` first.
   * Throws NotFoundError for unknown ids, malformed ids and other tenants' jobs alike.
   */
  // NOTE: jobs expire only when read here; no sweeper expires or removes jobs that nobody reads again.
  async get(tenant: string, jobId: string): Promise<JobRecord> {
    for (let attempt = 0; ; attempt += 1) {
      const record = await this.getOwned(tenant, jobId);
      const lapsed = record.state === 'awaiting_upload' && this.now().getTime() >= Date.parse(record.upload.expiresAt);
      if (!lapsed) return record;

      try {
        const expired = await this.deps.jobs.transition(jobId, { expectedVersion: record.version, to: 'expired', patch: { finishedAt: this.now().toISOString() } });
        this.deps.logger.info({ event: LogEvents.jobExpired, jobId, tenant }, 'upload URL lapsed without an upload');
        return expired;
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= maxConflictRetries) throw error;
      }
    }
  }

  private async getOwned(tenant: string, jobId: string): Promise<JobRecord> {
    const record = isJobId(jobId) ? await this.deps.jobs.get(jobId) : null;
    if (!record || record.tenant !== tenant) throw new NotFoundError(`job ${jobId} not found`, { context: { jobId } });
    return record;
  }

  /** Returns the stored result document of a succeeded job. */
  async readResult(record: JobRecord): Promise<unknown> {
    const object = await this.deps.blobs.get(jobKeys.result(record.id));
    if (!object) throw new RetryableError(`result of job ${record.id} is missing from storage`, { code: 'result_unavailable', context: { jobId: record.id } });
    return JSON.parse(new TextDecoder().decode(object.body)) as unknown;
  }

  /** Returns the PNG of face `faceIndex`'s parsing mask. */
  async readMask(tenant: string, jobId: string, faceIndex: number): Promise<Uint8Array> {
    const record = await this.getOwned(tenant, jobId);
    const missing = () => new NotFoundError(`job ${jobId} has no parsing mask for face ${faceIndex}`, { context: { jobId } });
    if (record.state !== 'succeeded' || !record.parsingMasks.includes(faceIndex)) throw missing();

    const object = await this.deps.blobs.get(jobKeys.parsingMask(jobId, faceIndex));
    if (!object) throw missing();
    return object.body;
  }

  /**
   * Deletes a job: cancels it if it has not finished (so a worker holding it cannot complete it),
   * removes its input, result and masks, then its record.
   */
  async delete(tenant: string, jobId: string): Promise<void> {
    let record = await this.getOwned(tenant, jobId);
    for (let attempt = 0; !isFinalState(record.state); attempt += 1) {
      try {
        record = await this.deps.jobs.transition(jobId, { expectedVersion: record.version, to: 'canceled', patch: { finishedAt: this.now().toISOString() } });
        this.deps.logger.info({ event: LogEvents.jobCanceled, jobId, tenant }, 'job canceled by delete');
      } catch (error) {
        if (!(error instanceof ConflictError) || attempt >= maxConflictRetries) throw error;
        record = await this.getOwned(tenant, jobId);
      }
    }

    for (const key of await this.deps.blobs.list(jobKeys.prefix(jobId))) await this.deps.blobs.delete(key);
    await this.deps.jobs.delete(jobId);
    this.deps.logger.info({ event: LogEvents.jobDeleted, jobId, tenant }, 'job deleted');
  }

  private uploadExists(jobId: string): ConflictError {
    return new ConflictError(`job ${jobId} already has an upload or was canceled: create a new job to analyze another image`, {
      code: 'upload_exists',
      context: { jobId },
    });
  }

  private async deleteQuietly(key: string, jobId: string): Promise<void> {
    try {
      await this.deps.blobs.delete(key);
    } catch (error) {
      this.deps.logger.warn({ event: LogEvents.cleanupFailed, jobId, key, ...errorFields(error) }, 'deleting an object failed');
    }
  }
}
