import { describe, expect, it } from 'vitest';
import { PreconditionFailedError } from '../errors.ts';
import type { BlobStore } from '../ports.ts';

/** A store under test and a function that removes what it stored. */
export interface BlobStoreFixture {
  store: BlobStore;
  cleanup(): Promise<void>;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (data: Uint8Array) => new TextDecoder().decode(data);

/**
 * Defines the BlobStore contract suite. Every adapter (local files, S3) runs it with its own factory,
 * which must return an empty store.
 */
export function describeBlobStoreContract(name: string, createFixture: () => Promise<BlobStoreFixture>): void {
  describe(`BlobStore contract: ${name}`, () => {
    async function withStore(test: (store: BlobStore) => Promise<void>): Promise<void> {
      const fixture = await createFixture();
      try {
        await test(fixture.store);
      } finally {
        await fixture.cleanup();
      }
    }

    it('put then get returns the same bytes', () =>
      withStore(async (store) => {
        const body = new Uint8Array(256).map((_, i) => i);
        const meta = await store.put('jobs/a/input', body);
        const object = await store.get('jobs/a/input');

        expect(meta.size).toBe(256);
        expect(object).not.toBeNull();
        expect(Array.from(object!.body)).toEqual(Array.from(body));
        expect(object!.meta.etag).toBe(meta.etag);
      }));

    it('get and head of a missing key return null', () =>
      withStore(async (store) => {
        expect(await store.get('jobs/missing/input')).toBeNull();
        expect(await store.head('jobs/missing/input')).toBeNull();
      }));

    it('head returns size and ETag', () =>
      withStore(async (store) => {
        const meta = await store.put('jobs/a/result.json', bytes('{"a":1}'));
        const head = await store.head('jobs/a/result.json');

        expect(head).toEqual({ key: 'jobs/a/result.json', size: 7, etag: meta.etag });
      }));

    it('put replaces an object and changes its ETag', () =>
      withStore(async (store) => {
        const first = await store.put('jobs/a/job.json', bytes('one'));
        const second = await store.put('jobs/a/job.json', bytes('two'));
        const object = await store.get('jobs/a/job.json');

        expect(second.etag).not.toBe(first.etag);
        expect(text(object!.body)).toBe('two');
      }));

    it('stores an empty object', () =>
      withStore(async (store) => {
        await store.put('jobs/a/empty', new Uint8Array(0));
        const object = await store.get('jobs/a/empty');

        expect(object?.body.byteLength).toBe(0);
      }));

    it('ifNoneMatch rejects an existing key', () =>
      withStore(async (store) => {
        await store.put('jobs/a/input', bytes('first'), { ifNoneMatch: '*' });
        const second = store.put('jobs/a/input', bytes('second'), { ifNoneMatch: '*' });

        await expect(second).rejects.toBeInstanceOf(PreconditionFailedError);
        await expect(second).rejects.toThrow(/already exists/);
        expect(text((await store.get('jobs/a/input'))!.body)).toBe('first');
      }));

    it('ifNoneMatch lets one of concurrent writers win', () =>
      withStore(async (store) => {
        const writers = Array.from({ length: 8 }, (_, i) => store.put('jobs/a/result.json', bytes(`writer ${i}`), { ifNoneMatch: '*' }));
        const results = await Promise.allSettled(writers);
        const winners = results.flatMap((result, i) => (result.status === 'fulfilled' ? [i] : []));
        const losers = results.filter((result) => result.status === 'rejected');

        expect(winners).toHaveLength(1);
        for (const loser of losers) expect((loser as PromiseRejectedResult).reason).toBeInstanceOf(PreconditionFailedError);
        expect(text((await store.get('jobs/a/result.json'))!.body)).toBe(`writer ${winners[0]}`);
      }));

    it('ifMatch writes only over the expected ETag', () =>
      withStore(async (store) => {
        const first = await store.put('jobs/a/job.json', bytes('v1'));
        const second = await store.put('jobs/a/job.json', bytes('v2'), { ifMatch: first.etag });
        const stale = store.put('jobs/a/job.json', bytes('v3'), { ifMatch: first.etag });

        await expect(stale).rejects.toBeInstanceOf(PreconditionFailedError);
        const object = await store.get('jobs/a/job.json');
        expect(text(object!.body)).toBe('v2');
        expect(object!.meta.etag).toBe(second.etag);
      }));

    it('ifMatch on a missing key fails', () =>
      withStore(async (store) => {
        await expect(store.put('jobs/a/job.json', bytes('v1'), { ifMatch: '0123' })).rejects.toBeInstanceOf(PreconditionFailedError);
        expect(await store.head('jobs/a/job.json')).toBeNull();
      }));

    it('delete removes an object and tolerates a missing one', () =>
      withStore(async (store) => {
        await store.put('jobs/a/input', bytes('x'));
        await store.delete('jobs/a/input');
        await store.delete('jobs/a/input');

        expect(await store.get('jobs/a/input')).toBeNull();
      }));

    it('list returns sorted keys under a prefix only', () =>
      withStore(async (store) => {
        for (const key of ['jobs/a/result.json', 'jobs/a/input', 'jobs/a/parsing-0.png', 'jobs/ab/input', 'jobs/b/input']) {
          await store.put(key, bytes(key));
        }

        expect(await store.list('jobs/a/')).toEqual(['jobs/a/input', 'jobs/a/parsing-0.png', 'jobs/a/result.json']);
        expect(await store.list('jobs/a/parsing-')).toEqual(['jobs/a/parsing-0.png']);
        expect(await store.list('jobs/c/')).toEqual([]);
      }));

    it('list omits deleted objects', () =>
      withStore(async (store) => {
        await store.put('jobs/a/input', bytes('x'));
        await store.put('jobs/a/result.json', bytes('y'));
        await store.delete('jobs/a/input');

        expect(await store.list('jobs/a/')).toEqual(['jobs/a/result.json']);
      }));

    it('rejects keys that leave the key space', () =>
      withStore(async (store) => {
        for (const key of ['', '../outside', 'jobs/../x', '/absolute', 'jobs//input', 'jobs/.hidden']) {
          await expect(store.put(key, bytes('x')), `key ${JSON.stringify(key)}`).rejects.toThrow(/invalid object key/);
        }
      }));
  });
}
