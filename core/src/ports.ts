import type { JobPatch, JobRecord, JobState, WorkMessage } from './job.ts';

/** Metadata of a stored object. */
export interface BlobMeta {
  key: string;
  /** Size in bytes. */
  size: number;
  /** Opaque version tag: it changes whenever the object is replaced. */
  etag: string;
}

/** Conditions of {@link BlobStore.put}; at most one may be given. */
export interface PutOptions {
  /** `'*'`: write only if no object exists at the key. */
  ifNoneMatch?: '*';
  /** Write only if the current object has this ETag. */
  ifMatch?: string;
}

/**
 * Object storage: S3, or files under the data folder in embedded mode. Keys are `/`-separated segments
 * of letters, digits, `.`, `_` and `-`, and no segment is empty or starts with `.`. Adapters reject other
 * keys with a TypeError. A reader never sees a partially written object.
 */
export interface BlobStore {
  /** Stores `body` at `key`. Throws PreconditionFailedError when a condition does not hold. */
  put(key: string, body: Uint8Array, options?: PutOptions): Promise<BlobMeta>;
  /** Returns the object, or null when there is none. */
  get(key: string): Promise<{ body: Uint8Array; meta: BlobMeta } | null>;
  /** Returns the object's metadata, or null when there is none. */
  head(key: string): Promise<BlobMeta | null>;
  /** Removes the object; removing a missing object succeeds. */
  delete(key: string): Promise<void>;
  /** Returns the keys that start with `prefix`, sorted. */
  list(prefix: string): Promise<string[]>;
}

/** A requested state change of a job. */
export interface JobTransition {
  /** The version the caller read; the transition fails with VersionConflictError if the job moved on since. */
  expectedVersion: number;
  to: JobState;
  patch?: JobPatch;
}

/**
 * Job records with conditional transitions (S3 `If-Match` on the record's ETag; a version column in
 * embedded mode). A transition applies only if the stored version equals `expectedVersion` and the
 * state machine in `JOB_TRANSITIONS` allows the move, so a finished job never moves back and two
 * workers never both finish one job.
 */
export interface JobStore {
  /** Stores a new record. Throws ConflictError when the id exists. */
  create(job: JobRecord): Promise<void>;
  /** Returns the record, or null when there is none. */
  get(jobId: string): Promise<JobRecord | null>;
  /**
   * Applies `change` and returns the new record with `version` one higher and `updatedAt` set.
   * Throws NotFoundError, VersionConflictError or InvalidTransitionError.
   */
  transition(jobId: string, change: JobTransition): Promise<JobRecord>;
  /** Removes the record; removing a missing record succeeds. */
  delete(jobId: string): Promise<void>;
}

/** A message handed out by {@link WorkQueue.receive}. */
export interface ReceivedMessage {
  messageId: string;
  /** Handle for this delivery; a later delivery of the same message gets a new one. */
  receiptHandle: string;
  /** Deliveries so far, this one included (SQS `ApproximateReceiveCount`). */
  receiveCount: number;
  /** Raw message body; the worker parses it with WorkMessageSchema so that a bad body is logged, not thrown. */
  body: unknown;
  sentAt: Date;
}

/**
 * A queue with SQS semantics: at-least-once delivery, a visibility timeout per delivery, and a
 * dead-letter queue. A message whose receive count has reached `maxReceiveCount` moves to the
 * dead-letter queue on its next receive instead of being delivered again.
 */
export interface WorkQueue {
  /** Sends a message, hidden for `delaySec` seconds first. Returns the message id. */
  send(body: WorkMessage, options?: { delaySec?: number }): Promise<string>;
  /**
   * Returns up to `maxMessages` visible messages and hides them for the visibility timeout. Waits up to
   * `waitMs` for the first message (long poll) and returns an empty list when none came or `signal` aborted.
   */
  receive(maxMessages: number, waitMs: number, signal?: AbortSignal): Promise<ReceivedMessage[]>;
  /** Hides a received message for `timeoutSec` more seconds from now. Throws MessageNotInFlightError for a stale handle. */
  extendVisibility(receiptHandle: string, timeoutSec: number): Promise<void>;
  /** Makes a received message visible again after `delaySec` seconds (0: at once). Throws MessageNotInFlightError for a stale handle. */
  release(receiptHandle: string, delaySec?: number): Promise<void>;
  /**
   * Deletes a received message. A stale handle (the message was delivered again since) deletes
   * nothing and does not throw, as in SQS.
   */
  delete(receiptHandle: string): Promise<void>;
}

/** Maps API keys to tenants. Keys are stored as SHA-256 hashes, never in plain text. */
export interface ApiKeyStore {
  /** Returns the tenant of `apiKey`, or null when the key is unknown. */
  tenantFor(apiKey: string): Promise<string | null>;
}
