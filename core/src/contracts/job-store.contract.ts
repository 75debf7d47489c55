import { describe, expect, it } from 'vitest';
import { ConflictError, InvalidTransitionError, NotFoundError, VersionConflictError } from '../errors.ts';
import { newJobId, newJobRecord, type JobRecord } from '../job.ts';
import type { JobStore } from '../ports.ts';

/** A store under test and a function that removes what it stored. */
export interface JobStoreFixture {
  store: JobStore;
  cleanup(): Promise<void>;
}

function sampleJob(overrides: Partial<JobRecord> = {}): JobRecord {
  const record = newJobRecord({
    id: newJobId(),
    tenant: 'tenant-a',
    tasks: ['age', 'identity'],
    uploadMaxBytes: 1000,
    uploadExpiresAt: new Date(Date.now() + 60_000),
  });
  return { ...record, ...overrides };
}

/**
 * Defines the JobStore contract suite: records round-trip, and transitions are conditional on the
 * version and on the state machine. Every adapter runs it with its own factory.
 */
export function describeJobStoreContract(name: string, createFixture: () => Promise<JobStoreFixture>): void {
  describe(`JobStore contract: ${name}`, () => {
    async function withStore(test: (store: JobStore) => Promise<void>): Promise<void> {
      const fixture = await createFixture();
      try {
        await test(fixture.store);
      } finally {
        await fixture.cleanup();
      }
    }

    it('create then get returns the record', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);

        expect(await store.get(job.id)).toEqual(job);
      }));

    it('get of an unknown id returns null', () =>
      withStore(async (store) => {
        expect(await store.get(newJobId())).toBeNull();
      }));

    it('create rejects an existing id', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);

        await expect(store.create({ ...job, tenant: 'tenant-b' })).rejects.toBeInstanceOf(ConflictError);
        expect((await store.get(job.id))?.tenant).toBe('tenant-a');
      }));

    it('transition applies the patch and bumps the version', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);
        const input = { bytes: 12, mediaType: 'image/png', uploadedAt: new Date().toISOString() };

        const queued = await store.transition(job.id, { expectedVersion: 1, to: 'queued', patch: { input } });

        expect(queued.state).toBe('queued');
        expect(queued.version).toBe(2);
        expect(queued.input).toEqual(input);
        expect(queued.createdAt).toBe(job.createdAt);
        expect(Date.parse(queued.updatedAt)).toBeGreaterThanOrEqual(Date.parse(job.updatedAt));
        expect(await store.get(job.id)).toEqual(queued);
      }));

    it('transition with a stale version fails', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);
        await store.transition(job.id, { expectedVersion: 1, to: 'queued' });

        const stale = store.transition(job.id, { expectedVersion: 1, to: 'canceled' });

        await expect(stale).rejects.toBeInstanceOf(VersionConflictError);
        await expect(stale).rejects.toThrow(/version 2, not the expected version 1/);
        expect((await store.get(job.id))?.state).toBe('queued');
      }));

    it('transition never leaves a final state', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);
        await store.transition(job.id, { expectedVersion: 1, to: 'queued' });
        await store.transition(job.id, { expectedVersion: 2, to: 'processing' });
        await store.transition(job.id, { expectedVersion: 3, to: 'succeeded' });

        for (const to of ['processing', 'failed', 'queued', 'succeeded'] as const) {
          const move = store.transition(job.id, { expectedVersion: 4, to });
          await expect(move, `succeeded -> ${to}`).rejects.toBeInstanceOf(InvalidTransitionError);
        }
        const stored = await store.get(job.id);
        expect(stored?.state).toBe('succeeded');
        expect(stored?.version).toBe(4);
      }));

    it('transition rejects a skipped state', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);

        const skip = store.transition(job.id, { expectedVersion: 1, to: 'succeeded' });

        await expect(skip).rejects.toBeInstanceOf(InvalidTransitionError);
        await expect(skip).rejects.toThrow(/cannot move from awaiting_upload to succeeded: valid next states are queued, failed, canceled, expired/);
      }));

    it('concurrent transitions from one version: one wins', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);
        await store.transition(job.id, { expectedVersion: 1, to: 'queued' });
        await store.transition(job.id, { expectedVersion: 2, to: 'processing' });

        const finishers = (['succeeded', 'failed', 'succeeded', 'canceled'] as const).map((to) =>
          store.transition(job.id, { expectedVersion: 3, to }),
        );
        const results = await Promise.allSettled(finishers);

        expect(results.filter((result) => result.status === 'fulfilled')).toHaveLength(1);
        for (const result of results) {
          if (result.status === 'rejected') expect(result.reason).toBeInstanceOf(ConflictError);
        }
        expect((await store.get(job.id))?.version).toBe(4);
      }));

    it('transition of an unknown job fails', () =>
      withStore(async (store) => {
        await expect(store.transition(newJobId(), { expectedVersion: 1, to: 'queued' })).rejects.toBeInstanceOf(NotFoundError);
      }));

    it('delete removes the record and tolerates a missing one', () =>
      withStore(async (store) => {
        const job = sampleJob();
        await store.create(job);
        await store.delete(job.id);
        await store.delete(job.id);

        expect(await store.get(job.id)).toBeNull();
      }));
  });
}
