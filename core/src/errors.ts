/** Ids that locate an error: which job, queue message, tenant or object it concerns. */
export interface ErrorContext {
  jobId?: string;
  messageId?: string;
  tenant?: string;
  key?: string;
}

/** Options shared by every {@link FaceptorError} constructor. */
export interface FaceptorErrorOptions {
  context?: ErrorContext;
  cause?: unknown;
}

/**
 * Base class of the service's typed errors. `code` is the stable machine-readable name that the API
 * returns in `{"error": {"code", "message"}}`, and `status` is the HTTP status it maps to.
 * `retryable` decides whether the worker returns the message to the queue or fails the job.
 */
export class FaceptorError extends Error {
  override readonly name: string = 'FaceptorError';
  readonly code: string;
  readonly status: number;
  readonly retryable: boolean;
  readonly context: ErrorContext;

  constructor(code: string, status: number, message: string, options: FaceptorErrorOptions & { retryable?: boolean } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.status = status;
    this.retryable = options.retryable ?? false;
    this.context = options.context ?? {};
  }
}

/** A request field is missing or invalid (400). The message names the field and the valid values. */
export class InvalidRequestError extends FaceptorError {
  override readonly name = 'InvalidRequestError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'invalid_request', 400, message, options);
  }
}

/** The uploaded bytes are not a decodable image (422 in the API; fails the job with `invalid_image`). */
export class InvalidImageError extends FaceptorError {
  override readonly name = 'InvalidImageError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('invalid_image', 422, message, options);
  }
}

/** Missing or unknown API key (401). */
export class UnauthorizedError extends FaceptorError {
  override readonly name = 'UnauthorizedError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('unauthorized', 401, message, options);
  }
}

/** Invalid or expired signature on an upload URL (403). `code` is `invalid_signature` or `upload_url_expired`. */
export class ForbiddenError extends FaceptorError {
  override readonly name = 'ForbiddenError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'forbidden', 403, message, options);
  }
}

/** No such resource for this caller (404). Another tenant's job is reported the same way. */
export class NotFoundError extends FaceptorError {
  override readonly name = 'NotFoundError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('not_found', 404, message, options);
  }
}

/** The request conflicts with the current state of a resource (409). */
export class ConflictError extends FaceptorError {
  override readonly name: string = 'ConflictError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'conflict', 409, message, options);
  }
}

/** A conditional job transition found a different version than the caller read (409, `version_conflict`). */
export class VersionConflictError extends ConflictError {
  override readonly name = 'VersionConflictError';
  readonly expectedVersion: number;
  readonly actualVersion: number;
  constructor(jobId: string, expectedVersion: number, actualVersion: number) {
    super(`job ${jobId} is at version ${actualVersion}, not the expected version ${expectedVersion}: read the job again`, {
      code: 'version_conflict',
      context: { jobId },
    });
    this.expectedVersion = expectedVersion;
    this.actualVersion = actualVersion;
  }
}

/** A job transition that the state machine does not allow, such as leaving a finished state (409). */
export class InvalidTransitionError extends ConflictError {
  override readonly name = 'InvalidTransitionError';
  readonly from: string;
  readonly to: string;
  constructor(jobId: string, from: string, to: string, allowed: readonly string[]) {
    const valid = allowed.length === 0 ? 'none, because the job is finished' : allowed.join(', ');
    super(`job ${jobId} cannot move from ${from} to ${to}: valid next states are ${valid}`, {
      code: 'invalid_transition',
      context: { jobId },
    });
    this.from = from;
    this.to = to;
  }
}

/** A conditional object write found an existing object or a different ETag (412). */
export class PreconditionFailedError extends FaceptorError {
  override readonly name = 'PreconditionFailedError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('precondition_failed', 412, message, options);
  }
}

/** The request body is larger than the limit (413). */
export class PayloadTooLargeError extends FaceptorError {
  override readonly name = 'PayloadTooLargeError';
  readonly maxBytes: number;
  constructor(maxBytes: number, options?: FaceptorErrorOptions) {
    super('payload_too_large', 413, `request body is larger than the limit of ${maxBytes} bytes`, options);
    this.maxBytes = maxBytes;
  }
}

/** The uploaded bytes are not in any accepted image format (415). */
export class UnsupportedMediaTypeError extends FaceptorError {
  override readonly name = 'UnsupportedMediaTypeError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('unsupported_media_type', 415, message, options);
  }
}

/** The service is starting or stopping and cannot take this request yet (503). */
export class ServiceUnavailableError extends FaceptorError {
  override readonly name = 'ServiceUnavailableError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'not_ready', 503, message, { ...options, retryable: true });
  }
}

/**
 * A failure that may pass on its own (storage 5xx, throttling, a busy database). The worker returns
 * the message to the queue with backoff; after the maximum receive count it goes to the dead-letter queue.
 */
export class RetryableError extends FaceptorError {
  override readonly name = 'RetryableError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'temporarily_unavailable', 503, message, { ...options, retryable: true });
  }
}

/**
 * A failure that repeating cannot fix (no such job, input missing). The worker fails the job at once
 * with this error's code and deletes the message.
 */
export class UnrecoverableError extends FaceptorError {
  override readonly name = 'UnrecoverableError';
  constructor(message: string, options?: FaceptorErrorOptions & { code?: string }) {
    super(options?.code ?? 'processing_failed', 500, message, { ...options, retryable: false });
  }
}

/** A configuration variable is missing or invalid. The message lists every bad variable at once. */
export class ConfigError extends FaceptorError {
  override readonly name = 'ConfigError';
  readonly problems: string[];
  constructor(problems: string[]) {
    super('invalid_config', 500, `invalid configuration:\n  ${problems.join('\n  ')}`);
    this.problems = problems;
  }
}

/**
 * Returns true when a failure may pass on a later attempt. Errors that are not {@link FaceptorError}s
 * count as retryable, because an unknown failure (a bug, a model graph crash) is bounded by the
 * queue's maximum receive count and ends in the dead-letter queue instead of failing the job on the first try.
 */
export function isRetryable(error: unknown): boolean {
  if (error instanceof FaceptorError) return error.retryable;
  return true;
}

/** A queue operation used a receipt handle whose delivery is over: the message was deleted or delivered again. */
export class MessageNotInFlightError extends FaceptorError {
  override readonly name = 'MessageNotInFlightError';
  constructor(message: string, options?: FaceptorErrorOptions) {
    super('message_not_in_flight', 409, message, options);
  }
}
