import { isRetryable } from '@faceptor/core';

/**
 * The worker's acknowledgement and retry policy, in one place.
 *
 * Every received message ends in exactly one outcome, and the outcome alone decides what happens to
 * the message:
 *
 * | outcome     | when                                                              | message                  |
 * |-------------|-------------------------------------------------------------------|--------------------------|
 * | `completed` | this worker moved the job to `succeeded` or `failed`              | delete                   |
 * | `stale`     | the job is gone, finished, canceled or owned by another delivery  | delete                   |
 * | `invalid`   | the body is not a work message, so no job can be named            | delete (logged as error) |
 * | `retry`     | a retryable failure: storage or queue error, model run failure    | release with backoff     |
 *
 * Unrecoverable failures (corrupt image, input missing) fail the job and so end as `completed`.
 * A `retry` at the last allowed receive releases at once, so the queue's next receive moves the
 * message to the dead-letter queue, and the dead-letter handler fails the job with `processing_failed`.
 */
export type MessageOutcome =
  | { kind: 'completed'; state: 'succeeded' | 'failed' }
  | { kind: 'stale'; reason: string }
  | { kind: 'invalid'; reason: string }
  | { kind: 'retry'; error: unknown };

/** Decision on a message: delete it, or release it for another delivery after `delaySec`. */
export type AckDecision = { action: 'delete' } | { action: 'release'; delaySec: number };

/** Retry settings, from the service configuration. */
export interface RetryPolicy {
  maxReceiveCount: number;
  retryBaseDelaySec: number;
  retryMaxDelaySec: number;
}

/**
 * Returns the delay before a released message is visible again: the base delay doubled for each
 * receive after the first, capped at the maximum, and 0 at the last allowed receive.
 */
export function retryDelaySec(receiveCount: number, policy: RetryPolicy): number {
  if (receiveCount >= policy.maxReceiveCount) return 0;
  const exponent = Math.max(0, receiveCount - 1);
  return Math.min(policy.retryMaxDelaySec, policy.retryBaseDelaySec * 2 ** Math.min(exponent, 30));
}

/** Decides the fate of a message from its outcome and receive count (see {@link MessageOutcome}). */
export function decideAck(outcome: MessageOutcome, receiveCount: number, policy: RetryPolicy): AckDecision {
  if (outcome.kind === 'retry') return { action: 'release', delaySec: retryDelaySec(receiveCount, policy) };
  return { action: 'delete' };
}

/**
 * Returns how a failure ends a message: `retry` for retryable errors (and unknown ones, see
 * `isRetryable`), otherwise `fail-job`.
 */
export function classifyFailure(error: unknown): 'retry' | 'fail-job' {
  return isRetryable(error) ? 'retry' : 'fail-job';
}
