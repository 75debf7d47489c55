import { describe, expect, it } from 'vitest';
import { JOB_STATES, JOB_TRANSITIONS, JobRecordSchema, WorkMessageSchema, isFinalState, isJobId, jobKeys, newJobId, newJobRecord } from './job.ts';

describe('job', () => {
  it('ids carry 128 random bits', () => {
    const ids = new Set(Array.from({ length: 1000 }, newJobId));

    expect(ids.size).toBe(1000);
    for (const id of ids) expect(isJobId(id)).toBe(true);
  });

  it('isJobId rejects other strings', () => {
    for (const value of ['', '../etc/passwd', 'ABCDEF0123456789ABCDEF0123456789', '0123456789abcdef0123456789abcde']) {
      expect(isJobId(value), value).toBe(false);
    }
  });

  it('final states have no transitions', () => {
    expect(JOB_STATES.filter(isFinalState)).toEqual(['succeeded', 'failed', 'canceled', 'expired']);
    for (const [state, next] of Object.entries(JOB_TRANSITIONS)) {
      for (const target of next) expect(JOB_STATES, `${state} -> ${target}`).toContain(target);
    }
  });

  it('new record is a valid awaiting_upload record', () => {
    const record = newJobRecord({
      id: newJobId(),
      tenant: 'tenant-a',
      tasks: ['identity'],
      uploadMaxBytes: 100,
      uploadExpiresAt: new Date('2030-01-01T00:00:00Z'),
    });

    expect(JobRecordSchema.parse(record)).toEqual(record);
    expect(record.state).toBe('awaiting_upload');
    expect(record.version).toBe(1);
    expect(record.upload).toEqual({ maxBytes: 100, expiresAt: '2030-01-01T00:00:00.000Z' });
  });

  it('work message schema checks version and ids', () => {
    const jobId = newJobId();
    const message = { v: 1, jobId, tenant: 't', tasks: ['age'], inputKey: jobKeys.input(jobId), enqueuedAt: new Date().toISOString() };

    expect(WorkMessageSchema.parse(message)).toEqual(message);
    expect(WorkMessageSchema.safeParse({ ...message, v: 2 }).success).toBe(false);
    expect(WorkMessageSchema.safeParse({ ...message, jobId: 'x' }).success).toBe(false);
    expect(WorkMessageSchema.safeParse({ ...message, tasks: ['gender'] }).success).toBe(false);
  });

  it('keys follow the object layout', () => {
    expect(jobKeys.record('a')).toBe('jobs/a/job.json');
    expect(jobKeys.input('a')).toBe('jobs/a/input');
    expect(jobKeys.result('a')).toBe('jobs/a/result.json');
    expect(jobKeys.parsingMask('a', 2)).toBe('jobs/a/parsing-2.png');
  });
});
