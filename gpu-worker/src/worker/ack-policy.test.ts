import { InvalidImageError, RetryableError, UnrecoverableError } from '@faceptor/core';
import { describe, expect, it } from 'vitest';
import { classifyFailure, decideAck, retryDelaySec } from './ack-policy.ts';

const policy = { maxReceiveCount: 5, retryBaseDelaySec: 2, retryMaxDelaySec: 10 };

describe('ack policy', () => {
  it('deletes every outcome except retry', () => {
    expect(decideAck({ kind: 'completed', state: 'succeeded' }, 1, policy)).toEqual({ action: 'delete' });
    expect(decideAck({ kind: 'completed', state: 'failed' }, 1, policy)).toEqual({ action: 'delete' });
    expect(decideAck({ kind: 'stale', reason: 'job already succeeded' }, 2, policy)).toEqual({ action: 'delete' });
    expect(decideAck({ kind: 'invalid', reason: 'bad body' }, 1, policy)).toEqual({ action: 'delete' });
  });

  it('releases a retry with exponential backoff', () => {
    const delays = [1, 2, 3, 4].map((receiveCount) => decideAck({ kind: 'retry', error: new Error('x') }, receiveCount, policy));

    expect(delays).toEqual([
      { action: 'release', delaySec: 2 },
      { action: 'release', delaySec: 4 },
      { action: 'release', delaySec: 8 },
      { action: 'release', delaySec: 10 },
    ]);
  });

  it('releases at once on the last receive', () => {
    expect(retryDelaySec(5, policy)).toBe(0);
    expect(retryDelaySec(9, policy)).toBe(0);
  });

  it('classifies failures', () => {
    expect(classifyFailure(new RetryableError('storage 503'))).toBe('retry');
    expect(classifyFailure(new Error('model graph failed'))).toBe('retry');
    expect(classifyFailure(new InvalidImageError('corrupt'))).toBe('fail-job');
    expect(classifyFailure(new UnrecoverableError('input missing'))).toBe('fail-job');
  });
});
