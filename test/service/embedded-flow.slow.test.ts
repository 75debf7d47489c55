import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadConfig, silentLogger } from '@faceptor/core';
import { startLocalService, type LocalService } from '@faceptor/functions/embedded';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TestAnalyzer } from '../../gpu-worker/src/worker/test-analyzer.ts';
import { photosDir } from '../support/requirements.ts';
import { request, submitImage, waitForJob } from './support/http.ts';

// The embedded service in this process, over real HTTP on 127.0.0.1, with a test analyzer that decodes
// nothing: these tests cover the API, storage, queue and worker, not the model.

const apiKey = 'flow-test-key-0123456789abcdef';
const otherKey = 'flow-test-key-fedcba9876543210';
const uploadMaxBytes = 1_000_000;

describe('embedded service flow', () => {
  let dataDir: string;
  let service: LocalService;
  let analyzer: TestAnalyzer;
  let jpeg: Uint8Array;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'faceptor-flow-'));
    jpeg = new Uint8Array(await readFile(path.join(photosDir, 'dlib-examples', '2008_001322.jpg')));
    analyzer = new TestAnalyzer();
    const config = loadConfig({
      PORT: '0',
      FACEPTOR_DATA_DIR: dataDir,
      FACEPTOR_API_KEYS: `${apiKey},${otherKey}`,
      FACEPTOR_UPLOAD_MAX_BYTES: String(uploadMaxBytes),
      FACEPTOR_RECEIVE_WAIT_MS: '200',
    });
    service = await startLocalService({ config, createAnalyzer: async () => analyzer, logger: silentLogger() });
    await service.ready;
  });

  afterAll(async () => {
    await service?.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('runs create, upload, poll to succeeded', async () => {
    const id = await submitImage(service.url, apiKey, jpeg, ['age', 'parsing']);

    const job = await waitForJob(service.url, apiKey, id, ['succeeded', 'failed']);
    const mask = await fetch(job.result.faces[0].parsing.mask, { headers: { Authorization: `Bearer ${apiKey}` } });

    expect(job.status).toBe('succeeded');
    expect(job.result.schema).toBe('faceptor.result/v1');
    expect(job.result.faces[0].age).toEqual({ years: 30 });
    expect(job.result.faces[0].parsing.mask).toBe(`${service.url}/v1/jobs/${id}/parsing/0.png`);
    expect(mask.status).toBe(200);
    expect(mask.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await mask.arrayBuffer()).subarray(1, 4).toString()).toBe('PNG');
    expect(await readdir(path.join(dataDir, 'objects', 'jobs', id))).toEqual(['parsing-0.png', 'result.json']);
  });

  it('fails a corrupt image and keeps serving', async () => {
    const corrupt = jpeg.subarray(0, 5000);
    const badId = await submitImage(service.url, apiKey, corrupt);

    const bad = await waitForJob(service.url, apiKey, badId, ['succeeded', 'failed']);
    const goodId = await submitImage(service.url, apiKey, jpeg);
    const good = await waitForJob(service.url, apiKey, goodId, ['succeeded', 'failed']);
    const health = await request(`${service.url}/healthz`);

    expect(bad.status).toBe('failed');
    expect(bad.error.code).toBe('invalid_image');
    expect(bad.result).toBeUndefined();
    expect(good.status).toBe('succeeded');
    expect(health.status).toBe(200);
  });

  it('returns 401 without a valid key', async () => {
    const missing = await request(`${service.url}/v1/jobs`, { method: 'POST' });
    const wrong = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey: 'not-a-key-0000000000000' });

    expect(missing.status).toBe(401);
    expect(missing.json.error.code).toBe('unauthorized');
    expect(wrong.status).toBe(401);
  });

  it("returns 404 for another tenant's job", async () => {
    const id = await submitImage(service.url, apiKey, jpeg);

    const other = await request(`${service.url}/v1/jobs/${id}`, { apiKey: otherKey });
    const unknown = await request(`${service.url}/v1/jobs/${'a'.repeat(32)}`, { apiKey });
    const deleteOther = await request(`${service.url}/v1/jobs/${id}`, { method: 'DELETE', apiKey: otherKey });

    expect(other.status).toBe(404);
    expect(other.json).toEqual({ error: { code: 'not_found', message: `job ${id} not found` } });
    expect(unknown.status).toBe(404);
    expect(deleteOther.status).toBe(404);
  });

  it('returns 403 for a tampered upload URL', async () => {
    const created = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey });
    const url = (created.json.upload.url as string).replace(/.$/, (last) => (last === 'A' ? 'B' : 'A'));

    const response = await request(url, { method: 'PUT', body: jpeg as Uint8Array<ArrayBuffer> });

    expect(response.status).toBe(403);
    expect(response.json.error.code).toBe('invalid_signature');
  });

  it('returns 413 for an oversized upload and stores nothing', async () => {
    const created = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey });
    const big = new Uint8Array(uploadMaxBytes * 3);
    big.set(jpeg.subarray(0, 3));

    const response = await request(created.json.upload.url, { method: 'PUT', body: big });
    const job = await request(`${service.url}/v1/jobs/${created.json.id}`, { apiKey });

    expect(response.status).toBe(413);
    expect(response.json.error.code).toBe('payload_too_large');
    expect(job.json.status).toBe('awaiting_upload');
    await expect(readdir(path.join(dataDir, 'objects', 'jobs', created.json.id))).rejects.toThrow(/ENOENT/);
  });

  it('returns 413 for a chunked upload past the limit', async () => {
    const created = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey });
    const url = new URL(created.json.upload.url as string);
    const chunk = Buffer.alloc(64 * 1024, 1);
    chunk.set(jpeg.subarray(0, 3));

    // Transfer-Encoding: chunked, so the server cannot reject on Content-Length and must stop reading.
    const status = await new Promise<number>((resolve, reject) => {
      const outgoing = httpRequest(url, { method: 'PUT', headers: { 'Transfer-Encoding': 'chunked' } }, (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      });
      outgoing.on('error', reject);
      let sent = 0;
      const writeMore = () => {
        while (sent < uploadMaxBytes * 3) {
          sent += chunk.length;
          if (!outgoing.write(chunk)) return void outgoing.once('drain', writeMore);
        }
        outgoing.end();
      };
      writeMore();
    });
    const job = await request(`${service.url}/v1/jobs/${created.json.id}`, { apiKey });

    expect(status).toBe(413);
    expect(job.json.status).toBe('awaiting_upload');
  });

  it('returns 415 for a non-image and stores nothing', async () => {
    const created = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey });

    const response = await request(created.json.upload.url, { method: 'PUT', body: 'GIF89a not accepted' });
    const job = await request(`${service.url}/v1/jobs/${created.json.id}`, { apiKey });

    expect(response.status).toBe(415);
    expect(response.json.error.code).toBe('unsupported_media_type');
    expect(job.json.status).toBe('awaiting_upload');
  });

  it('returns 409 for a second upload', async () => {
    const created = await request(`${service.url}/v1/jobs`, { method: 'POST', apiKey });
    await request(created.json.upload.url, { method: 'PUT', body: jpeg as Uint8Array<ArrayBuffer> });

    const second = await request(created.json.upload.url, { method: 'PUT', body: jpeg as Uint8Array<ArrayBuffer> });

    expect(second.status).toBe(409);
    expect(second.json.error.code).toBe('upload_exists');
  });

  it('deletes a finished job and its files', async () => {
    const id = await submitImage(service.url, apiKey, jpeg, ['parsing']);
    await waitForJob(service.url, apiKey, id, ['succeeded']);

    const deleted = await request(`${service.url}/v1/jobs/${id}`, { method: 'DELETE', apiKey });
    const after = await request(`${service.url}/v1/jobs/${id}`, { apiKey });

    expect(deleted.status).toBe(204);
    expect(after.status).toBe(404);
    await expect(readdir(path.join(dataDir, 'objects', 'jobs', id))).rejects.toThrow(/ENOENT/);
  });

  it('answers garbage with JSON errors', async () => {
    const cases: [string, RequestInit & { apiKey?: string }][] = [
      ['/v1/jobs', { method: 'POST', apiKey, headers: { 'Content-Type': 'application/json' }, body: '{"tasks":' }],
      ['/v1/jobs', { method: 'POST', apiKey, headers: { 'Content-Type': 'application/json' }, body: '{"tasks":"age"}' }],
      ['/v1/jobs', { method: 'POST', apiKey, headers: { 'Content-Type': 'application/json' }, body: '[1,2,3]' }],
      ['/v1/jobs/%00%ff', { apiKey }],
      ['/uploads/%E0%A4%A', { method: 'PUT', body: 'x' }],
      ['/nothing/here', {}],
    ];
    for (const [route, init] of cases) {
      const response = await request(`${service.url}${route}`, init);

      expect(response.status, route).toBeGreaterThanOrEqual(400);
      expect(response.status, route).toBeLessThan(500);
      expect(typeof response.json.error.code, route).toBe('string');
    }
    expect((await request(`${service.url}/healthz`)).status).toBe(200);
  });
});
