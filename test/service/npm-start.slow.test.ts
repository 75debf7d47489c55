import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { photosDir, repoRoot, requireAll } from '../support/requirements.ts';
import { request, submitImage, waitFor, waitForJob } from './support/http.ts';
import { ServiceProcess } from './support/service-process.ts';

// `npm start` itself: functions/src/entries/embedded.ts with the real analyzer from @faceptor/gpu-worker,
// the default model folders and a real photo. It needs the exported tiny model.

const modelManifest = path.join(repoRoot, 'models', 'faceptor-tiny', 'manifest.json');
const detectorManifest = path.join(repoRoot, 'models', 'ultraface-rfb320', 'manifest.json');
const missing = [modelManifest, detectorManifest].filter((file) => !existsSync(file));
if (missing.length > 0 && requireAll) {
  throw new Error(`npm start test needs ${missing.join(' and ')}: export the models first, or unset FACEPTOR_REQUIRE_ALL to skip`);
}

const suiteName = missing.length > 0 ? `npm start with the real analyzer (skipped: ${missing.join(' and ')} not found)` : 'npm start with the real analyzer';

describe.skipIf(missing.length > 0)(suiteName, () => {
  let dataDir: string;
  let service: ServiceProcess;
  let apiKey: string;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'faceptor-npm-start-'));
    service = await ServiceProcess.start({
      script: 'functions/src/entries/embedded.ts',
      env: { FACEPTOR_DATA_DIR: dataDir, FACEPTOR_EXECUTION_PROVIDERS: 'cpu', FACEPTOR_API_KEYS: '' },
    });
    apiKey = /(fk_[A-Za-z0-9_-]+)$/.exec(service.grep(/^API key for tenant /)[0] ?? '')?.[1] ?? '';
    await waitFor('models to load', async () => (await request(`${service.url}/healthz`)).status === 200, { timeoutMs: 120_000, intervalMs: 250 });
  });

  afterAll(async () => {
    await service?.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  it('analyzes a real photo', async () => {
    const photo = new Uint8Array(await readFile(path.join(photosDir, 'dlib-examples', '2008_001322.jpg')));

    const id = await submitImage(service.url, apiKey, photo);
    const job = await waitForJob(service.url, apiKey, id, ['succeeded', 'failed'], 180_000);

    expect(apiKey).toMatch(/^fk_/);
    expect(job.status).toBe('succeeded');
    expect(job.result.schema).toBe('faceptor.result/v1');
    expect(job.result.faces.length).toBeGreaterThan(0);
    for (const face of job.result.faces) expect(face.box.width).toBeGreaterThan(0);
    const masked = job.result.faces.find((face: any) => typeof face.parsing?.mask === 'string');
    if (masked) {
      const mask = await fetch(masked.parsing.mask, { headers: { Authorization: `Bearer ${apiKey}` } });
      expect(mask.status).toBe(200);
      expect(mask.headers.get('content-type')).toBe('image/png');
    }
  });

  it('returns no faces for a face-free image', async () => {
    const gray = new Uint8Array(await sharp({ create: { width: 96, height: 64, channels: 3, background: { r: 128, g: 128, b: 128 } } }).png().toBuffer());

    const id = await submitImage(service.url, apiKey, gray, ['age']);
    const job = await waitForJob(service.url, apiKey, id, ['succeeded', 'failed'], 60_000);

    expect(job.status).toBe('succeeded');
    expect(job.result.faces).toEqual([]);
  });

  it('fails a truncated photo and keeps serving', async () => {
    const photo = new Uint8Array(await readFile(path.join(photosDir, 'dlib-examples', '2008_001322.jpg')));

    const id = await submitImage(service.url, apiKey, photo.subarray(0, 2000), ['age']);
    const job = await waitForJob(service.url, apiKey, id, ['succeeded', 'failed'], 60_000);

    expect(job.status).toBe('failed');
    expect(job.error.code).toBe('invalid_image');
    expect((await request(`${service.url}/healthz`)).status).toBe(200);
  });

  it('stops gracefully on SIGTERM', async () => {
    const stopped = await service.stop('SIGTERM');

    expect(stopped).toEqual({ code: 0, signal: null });
  });
});
