import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openLocalAdapters, StaticApiKeyStore, type LocalAdapters } from '@faceptor/core/adapters/local';
import { createLogger, jobKeys, silentLogger, TASKS, type Logger, type WorkMessage } from '@faceptor/core';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { photosDir } from '../../test/support/requirements.ts';
import { createApp } from './app.ts';
import { UploadTokenSigner } from './upload-token.ts';

const apiKey = 'test-key-aaaaaaaaaaaaaaaaaaaa';
const otherKey = 'test-key-bbbbbbbbbbbbbbbbbbbb';
const baseUrl = 'http://127.0.0.1:8787';
const uploadMaxBytes = 200_000;

interface Harness {
  app: ReturnType<typeof createApp>;
  local: LocalAdapters;
  clock: { now: Date };
  ready: { value: boolean };
}

async function createHarness(folder: string, logger: Logger = silentLogger()): Promise<Harness> {
  const local = await openLocalAdapters({ dataDir: folder, visibilityTimeoutSec: 30, maxReceiveCount: 3 });
  const clock = { now: new Date('2030-01-01T00:00:00Z') };
  const ready = { value: true };
  const app = createApp({
    jobs: local.jobs,
    blobs: local.blobs,
    queue: local.queue,
    apiKeys: StaticApiKeyStore.fromKeys([apiKey, otherKey]),
    uploadSigner: new UploadTokenSigner(local.uploadSecret),
    logger,
    baseUrl: () => baseUrl,
    uploadMaxBytes,
    uploadUrlTtlSec: 900,
    isReady: () => ready.value,
    now: () => clock.now,
  });
  return { app, local, clock, ready };
}

const auth = (key = apiKey) => ({ Authorization: `Bearer ${key}` });

async function createJob(harness: Harness, body: unknown = { tasks: ['age', 'identity'] }, key = apiKey) {
  const response = await harness.app.request('/v1/jobs', {
    method: 'POST',
    headers: { ...auth(key), 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { response, json: (await response.json()) as Record<string, any> };
}

function uploadPath(url: string): string {
  return new URL(url).pathname;
}

async function upload(harness: Harness, url: string, body: Uint8Array, headers: Record<string, string> = {}) {
  const response = await harness.app.request(uploadPath(url), { method: 'PUT', body: body as Uint8Array<ArrayBuffer>, headers });
  return { response, json: (await response.json()) as Record<string, any> };
}

const jpegPath = path.join(photosDir, 'dlib-examples', '2008_001322.jpg');

describe('createApp', () => {
  let folder: string;
  let harness: Harness;

  beforeEach(async () => {
    folder = await mkdtemp(path.join(tmpdir(), 'faceptor-app-'));
    harness = await createHarness(folder);
  });

  afterEach(async () => {
    harness.local.close();
    await rm(folder, { recursive: true, force: true });
  });

  describe('POST /v1/jobs', () => {
    it('creates a job with an upload URL', async () => {
      const { response, json } = await createJob(harness);

      expect(response.status).toBe(201);
      expect(json.id).toMatch(/^[0-9a-f]{32}$/);
      expect(json.status).toBe('awaiting_upload');
      expect(json.tasks).toEqual(['age', 'identity']);
      expect(json.upload.method).toBe('PUT');
      expect(json.upload.url).toMatch(new RegExp(`^${baseUrl}/uploads/${json.id}\\.`));
      expect(json.upload.headers).toEqual({});
      expect(json.upload.maxBytes).toBe(uploadMaxBytes);
      expect(json.upload.expiresAt).toBe('2030-01-01T00:15:00.000Z');
      expect(response.headers.get('location')).toBe(`/v1/jobs/${json.id}`);
    });

    it('defaults to all six tasks', async () => {
      const response = await harness.app.request('/v1/jobs', { method: 'POST', headers: auth() });
      const json = (await response.json()) as Record<string, unknown>;

      expect(response.status).toBe(201);
      expect(json.tasks).toEqual([...TASKS]);
    });

    it('gives each job a different id', async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 5; i += 1) ids.add((await createJob(harness)).json.id as string);

      expect(ids.size).toBe(5);
    });

    it('rejects an unknown task naming the valid set', async () => {
      const { response, json } = await createJob(harness, { tasks: ['age', 'gender'] });

      expect(response.status).toBe(400);
      expect(json.error.code).toBe('invalid_request');
      expect(json.error.message).toMatch(/tasks\[1\]: invalid task "gender": valid tasks are landmarks, parsing, age, expression, attributes, identity/);
    });

    it('rejects an empty task list', async () => {
      const { response, json } = await createJob(harness, { tasks: [] });

      expect(response.status).toBe(400);
      expect(json.error.message).toMatch(/tasks: tasks must name at least one task/);
    });

    it('rejects unknown fields by name', async () => {
      const { response, json } = await createJob(harness, { tasks: ['age'], webhok: 'https://example.com' });

      expect(response.status).toBe(400);
      expect(json.error.message).toMatch(/webhok/);
    });

    it('rejects invalid JSON', async () => {
      const response = await harness.app.request('/v1/jobs', {
        method: 'POST',
        headers: { ...auth(), 'Content-Type': 'application/json' },
        body: '{"tasks": [',
      });
      const json = (await response.json()) as Record<string, any>;

      expect(response.status).toBe(400);
      expect(json.error.code).toBe('invalid_json');
    });

    it('rejects a non-JSON content type', async () => {
      const response = await harness.app.request('/v1/jobs', { method: 'POST', headers: { ...auth(), 'Content-Type': 'text/plain' }, body: 'age' });

      expect(response.status).toBe(415);
    });

    it('requires an API key', async () => {
      const cases: [string, Record<string, string>][] = [
        ['missing header', {}],
        ['basic scheme', { Authorization: `Basic ${apiKey}` }],
        ['unknown key', { Authorization: 'Bearer not-a-real-key-0000000000' }],
        ['empty bearer', { Authorization: 'Bearer ' }],
      ];
      for (const [name, headers] of cases) {
        const response = await harness.app.request('/v1/jobs', { method: 'POST', headers });
        const json = (await response.json()) as Record<string, any>;

        expect(response.status, name).toBe(401);
        expect(json.error.code, name).toBe('unauthorized');
        expect(response.headers.get('www-authenticate'), name).toBe('Bearer');
      }
    });
  });

  describe('PUT /uploads/<token>', () => {
    it('stores the input, queues the job and sends the message', async () => {
      const { json: job } = await createJob(harness);
      const image = new Uint8Array(await readFile(jpegPath));

      const { response, json } = await upload(harness, job.upload.url, image);

      expect(response.status).toBe(200);
      expect(json).toEqual({ id: job.id, status: 'queued' });
      const stored = await harness.local.blobs.get(jobKeys.input(job.id));
      expect(stored?.meta.size).toBe(image.byteLength);
      const record = await harness.local.jobs.get(job.id);
      expect(record?.state).toBe('queued');
      expect(record?.input).toMatchObject({ bytes: image.byteLength, mediaType: 'image/jpeg' });
      const [message] = (await harness.local.queue.receive(10, 0)).map((item) => item.body as WorkMessage);
      expect(message).toMatchObject({ v: 1, jobId: job.id, tenant: expect.stringMatching(/^key-/), tasks: ['age', 'identity'], inputKey: jobKeys.input(job.id) });
    });

    it('rejects a second upload with 409', async () => {
      const { json: job } = await createJob(harness);
      const image = new Uint8Array(await readFile(jpegPath));
      await upload(harness, job.upload.url, image);

      const { response, json } = await upload(harness, job.upload.url, image);

      expect(response.status).toBe(409);
      expect(json.error.code).toBe('upload_exists');
      expect(harness.local.queue.counts().total).toBe(1);
    });

    it('rejects a forged signature with 403', async () => {
      const { json: job } = await createJob(harness);
      const url = job.upload.url as string;
      const middle = url.length - 20;
      const swapped = url[middle] === 'A' ? 'B' : 'A';

      const { response, json } = await upload(harness, `${url.slice(0, middle)}${swapped}${url.slice(middle + 1)}`, new Uint8Array([0xff, 0xd8, 0xff]));

      expect(response.status).toBe(403);
      expect(json.error.code).toBe('invalid_signature');
      expect(await harness.local.blobs.head(jobKeys.input(job.id))).toBeNull();
    });

    it('rejects a raised size limit with 403', async () => {
      const { json: job } = await createJob(harness);
      const tampered = (job.upload.url as string).replace(`.${uploadMaxBytes}.`, `.${uploadMaxBytes * 10}.`);

      const { response } = await upload(harness, tampered, new Uint8Array([0xff, 0xd8, 0xff]));

      expect(response.status).toBe(403);
    });

    it('rejects a malformed token with 403', async () => {
      const response = await harness.app.request('/uploads/not-a-token', { method: 'PUT', body: 'x' });

      expect(response.status).toBe(403);
    });

    it('rejects an expired URL with 403', async () => {
      const { json: job } = await createJob(harness);
      harness.clock.now = new Date('2030-01-01T00:15:00Z');

      const { response, json } = await upload(harness, job.upload.url, new Uint8Array(await readFile(jpegPath)));

      expect(response.status).toBe(403);
      expect(json.error.code).toBe('upload_url_expired');
      expect(await harness.local.blobs.head(jobKeys.input(job.id))).toBeNull();
    });

    it('rejects an oversized body with 413 and stores nothing', async () => {
      const { json: job } = await createJob(harness);
      const big = new Uint8Array(uploadMaxBytes + 1);
      big.set([0xff, 0xd8, 0xff]);

      const { response, json } = await upload(harness, job.upload.url, big);

      expect(response.status).toBe(413);
      expect(json.error.code).toBe('payload_too_large');
      expect(json.error.message).toMatch(/limit of 200000 bytes/);
      expect(await harness.local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
      expect((await harness.local.jobs.get(job.id))?.state).toBe('awaiting_upload');
    });

    it('rejects an oversized stream without Content-Length', async () => {
      const { json: job } = await createJob(harness);
      const chunk = new Uint8Array(64 * 1024);
      let sent = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(controller) {
          // Ten times the limit; the reader must stop long before the end.
          if (sent >= uploadMaxBytes * 10) return controller.close();
          sent += chunk.byteLength;
          controller.enqueue(chunk);
        },
      });

      const response = await harness.app.request(uploadPath(job.upload.url), { method: 'PUT', body: stream, duplex: 'half' } as RequestInit);

      expect(response.status).toBe(413);
      expect(sent).toBeLessThan(uploadMaxBytes * 2);
      expect(await harness.local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
    });

    it('rejects a non-image with 415 and stores nothing', async () => {
      const { json: job } = await createJob(harness);

      const { response, json } = await upload(harness, job.upload.url, new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"/>'));

      expect(response.status).toBe(415);
      expect(json.error.code).toBe('unsupported_media_type');
      expect(await harness.local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
      expect(harness.local.queue.counts().total).toBe(0);
    });

    it('accepts an upload after a rejected one', async () => {
      const { json: job } = await createJob(harness);
      await upload(harness, job.upload.url, new TextEncoder().encode('not an image'));

      const { response } = await upload(harness, job.upload.url, new Uint8Array(await readFile(jpegPath)));

      expect(response.status).toBe(200);
      expect((await harness.local.jobs.get(job.id))?.input?.mediaType).toBe('image/jpeg');
    });
  });

  describe('GET /v1/jobs/<id>', () => {
    it('returns the status of a new job', async () => {
      const { json: job } = await createJob(harness);

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth() });
      const json = (await response.json()) as Record<string, any>;

      expect(response.status).toBe(200);
      expect(json).toMatchObject({ id: job.id, status: 'awaiting_upload', tasks: ['age', 'identity'], upload: { maxBytes: uploadMaxBytes } });
      expect(json.result).toBeUndefined();
    });

    it('returns 404 for another tenant', async () => {
      const { json: job } = await createJob(harness);

      const other = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth(otherKey) });
      const unknown = await harness.app.request(`/v1/jobs/${'0'.repeat(32)}`, { headers: auth(otherKey) });

      expect(other.status).toBe(404);
      expect(unknown.status).toBe(404);
      expect(await other.json()).toEqual({ error: { code: 'not_found', message: `job ${job.id} not found` } });
    });

    it('returns 404 for a malformed id', async () => {
      const response = await harness.app.request('/v1/jobs/..%2F..%2Fetc', { headers: auth() });

      expect(response.status).toBe(404);
    });

    it('expires a job whose upload URL lapsed', async () => {
      const { json: job } = await createJob(harness);
      harness.clock.now = new Date('2030-01-01T00:16:00Z');

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth() });
      const json = (await response.json()) as Record<string, any>;

      expect(json.status).toBe('expired');
      expect(json.upload).toBeUndefined();
    });

    it('returns the result with mask URLs once succeeded', async () => {
      const { json: job } = await createJob(harness, { tasks: ['parsing'] });
      const result = { schema: 'faceptor.result/v1', faces: [{ parsing: { scheme: 'lapa-11', mask: jobKeys.parsingMask(job.id, 0) } }, { score: 0.5 }] };
      await harness.local.blobs.put(jobKeys.result(job.id), new TextEncoder().encode(JSON.stringify(result)));
      await harness.local.blobs.put(jobKeys.parsingMask(job.id, 0), new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
      await harness.local.jobs.transition(job.id, { expectedVersion: 1, to: 'queued' });
      await harness.local.jobs.transition(job.id, { expectedVersion: 2, to: 'processing' });
      await harness.local.jobs.transition(job.id, { expectedVersion: 3, to: 'succeeded', patch: { parsingMasks: [0] } });

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth() });
      const json = (await response.json()) as Record<string, any>;
      const mask = await harness.app.request(`/v1/jobs/${job.id}/parsing/0.png`, { headers: auth() });
      const missingMask = await harness.app.request(`/v1/jobs/${job.id}/parsing/1.png`, { headers: auth() });
      const otherTenantMask = await harness.app.request(`/v1/jobs/${job.id}/parsing/0.png`, { headers: auth(otherKey) });

      expect(json.status).toBe('succeeded');
      expect(json.result.faces[0].parsing.mask).toBe(`${baseUrl}/v1/jobs/${job.id}/parsing/0.png`);
      expect(json.result.faces[1]).toEqual({ score: 0.5 });
      expect(mask.status).toBe(200);
      expect(mask.headers.get('content-type')).toBe('image/png');
      expect(new Uint8Array(await mask.arrayBuffer())).toEqual(new Uint8Array([0x89, 0x50, 0x4e, 0x47]));
      expect(missingMask.status).toBe(404);
      expect(otherTenantMask.status).toBe(404);
    });

    it('returns the error of a failed job', async () => {
      const { json: job } = await createJob(harness);
      await harness.local.jobs.transition(job.id, {
        expectedVersion: 1,
        to: 'failed',
        patch: { error: { code: 'invalid_image', message: 'image could not be decoded' } },
      });

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth() });
      const json = (await response.json()) as Record<string, any>;

      expect(json.status).toBe('failed');
      expect(json.error).toEqual({ code: 'invalid_image', message: 'image could not be decoded' });
    });
  });

  describe('DELETE /v1/jobs/<id>', () => {
    it('removes input, result, masks and record', async () => {
      const { json: job } = await createJob(harness);
      await upload(harness, job.upload.url, new Uint8Array(await readFile(jpegPath)));
      await harness.local.blobs.put(jobKeys.parsingMask(job.id, 0), new Uint8Array([1]));

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: auth() });
      const after = await harness.app.request(`/v1/jobs/${job.id}`, { headers: auth() });

      expect(response.status).toBe(204);
      expect(await harness.local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
      expect(await harness.local.jobs.get(job.id)).toBeNull();
      expect(after.status).toBe(404);
    });

    it('returns 404 for another tenant and keeps the job', async () => {
      const { json: job } = await createJob(harness);

      const response = await harness.app.request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: auth(otherKey) });

      expect(response.status).toBe(404);
      expect(await harness.local.jobs.get(job.id)).not.toBeNull();
    });

    it('makes the upload URL unusable', async () => {
      const { json: job } = await createJob(harness);
      await harness.app.request(`/v1/jobs/${job.id}`, { method: 'DELETE', headers: auth() });

      const { response } = await upload(harness, job.upload.url, new Uint8Array(await readFile(jpegPath)));

      expect(response.status).toBe(404);
      expect(await harness.local.blobs.list(jobKeys.prefix(job.id))).toEqual([]);
    });
  });

  describe('other routes', () => {
    it('healthz is 503 until ready', async () => {
      harness.ready.value = false;
      const before = await harness.app.request('/healthz');
      harness.ready.value = true;
      const after = await harness.app.request('/healthz');

      expect(before.status).toBe(503);
      expect(((await before.json()) as Record<string, any>).error.code).toBe('not_ready');
      expect(after.status).toBe(200);
      expect(await after.json()).toEqual({ status: 'ok' });
    });

    it('unknown routes return JSON 404', async () => {
      for (const [method, route] of [['GET', '/'], ['GET', '/nope'], ['POST', '/healthz'], ['GET', '/uploads/x']]) {
        const response = await harness.app.request(route!, { method });
        const json = (await response.json()) as Record<string, any>;

        expect(response.status, `${method} ${route}`).toBe(404);
        expect(json.error.code, `${method} ${route}`).toBe('not_found');
      }
    });
  });

  describe('logging', () => {
    it('logs route patterns, never tokens or keys', async () => {
      const lines: string[] = [];
      const destination = new Writable({
        write(chunk, _encoding, callback) {
          lines.push(String(chunk));
          callback();
        },
      });
      harness.local.close();
      harness = await createHarness(folder, createLogger({ destination }));
      const { json: job } = await createJob(harness);
      const token = uploadPath(job.upload.url).split('/').pop()!;
      await upload(harness, job.upload.url, new Uint8Array(await readFile(jpegPath)));

      const text = lines.join('');
      const routes = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.event === 'http.request').map((line) => line.route);

      expect(routes).toEqual(['/v1/jobs', '/uploads/:token']);
      expect(text).not.toContain(token);
      expect(text).not.toContain(apiKey);
    });
  });
});
