import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { photosDir } from '../support/requirements.ts';
import { request, submitImage, waitFor, waitForJob } from './support/http.ts';
import { ServiceProcess } from './support/service-process.ts';

// The service as a child process: the same entry code as `npm start` (configuration from the
// environment, signals, exit codes), with the test analyzer so that a test controls how long a job takes.

const script = 'test/service/support/test-service-main.ts';
const apiKey = 'process-test-key-0123456789abcdef';

describe('embedded service process', () => {
  let dataDir: string;
  let callsFile: string;
  let processes: ServiceProcess[];
  let jpeg: Uint8Array;

  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), 'faceptor-process-'));
    callsFile = path.join(dataDir, 'analyzer-calls.txt');
    processes = [];
    jpeg = new Uint8Array(await readFile(path.join(photosDir, 'dlib-examples', '2008_001322.jpg')));
  });

  afterEach(async () => {
    for (const service of processes) await service.kill();
    await rm(dataDir, { recursive: true, force: true });
  });

  async function start(env: Record<string, string> = {}): Promise<ServiceProcess> {
    const service = await ServiceProcess.start({
      script,
      env: { FACEPTOR_DATA_DIR: path.join(dataDir, 'data'), TEST_ANALYZER_CALLS_FILE: callsFile, FACEPTOR_RECEIVE_WAIT_MS: '200', ...env },
    });
    processes.push(service);
    await waitFor('service to be ready', async () => (await request(`${service.url}/healthz`)).status === 200, { timeoutMs: 30_000 });
    return service;
  }

  async function analyzerCalls(jobId: string): Promise<number> {
    const text = existsSync(callsFile) ? await readFile(callsFile, 'utf8') : '';
    return text.split('\n').filter((line) => line === jobId).length;
  }

  function processingLogs(service: ServiceProcess, jobId: string) {
    return service.lines.filter((line) => line.log?.event === 'job.processing' && line.log.jobId === jobId).map((line) => line.log!);
  }

  it('keeps jobs, results and keys across a restart', async () => {
    const first = await start();
    const keyLines = first.grep(/^API key for tenant /);
    const createdKey = /(fk_[A-Za-z0-9_-]+)$/.exec(keyLines[0] ?? '')?.[1] ?? '';
    const id = await submitImage(first.url, createdKey, jpeg, ['parsing', 'age']);
    const before = await waitForJob(first.url, createdKey, id, ['succeeded', 'failed']);
    const stopped = await first.stop('SIGTERM');

    const second = await start();
    const after = await request(`${second.url}/v1/jobs/${id}`, { apiKey: createdKey });
    const mask = await fetch(`${second.url}/v1/jobs/${id}/parsing/0.png`, { headers: { Authorization: `Bearer ${createdKey}` } });

    expect(keyLines).toHaveLength(1);
    expect(createdKey).toMatch(/^fk_/);
    expect(before.status).toBe('succeeded');
    expect(stopped).toEqual({ code: 0, signal: null });
    expect(first.grep(/"event":"server.stopped"/)).toHaveLength(1);
    expect(second.grep(/API key/)).toHaveLength(0);
    expect(after.status).toBe(200);
    expect(after.json.status).toBe('succeeded');
    expect(after.json.result.faces[0].age).toEqual(before.result.faces[0].age);
    expect(after.json.result.faces[0].parsing.mask).toBe(`${second.url}/v1/jobs/${id}/parsing/0.png`);
    expect(mask.status).toBe(200);
  });

  it('redoes a job once after its worker is killed', async () => {
    const visibilityTimeoutSec = 3;
    const timing = { FACEPTOR_API_KEYS: apiKey, FACEPTOR_VISIBILITY_TIMEOUT_SEC: String(visibilityTimeoutSec), FACEPTOR_HEARTBEAT_SEC: '1' };
    const first = await start({ ...timing, TEST_ANALYZER_DELAY_MS: '600000' });
    const id = await submitImage(first.url, apiKey, jpeg);
    await waitForJob(first.url, apiKey, id, ['processing']);
    // Let at least one heartbeat extend the visibility, so the redelivery below depends on the timeout.
    await new Promise((resolve) => setTimeout(resolve, 1500));

    const killed = await first.stop('SIGKILL');
    const killedAt = Date.now();
    const second = await start({ ...timing, TEST_ANALYZER_DELAY_MS: '0' });
    const done = await waitForJob(second.url, apiKey, id, ['succeeded', 'failed'], 30_000);
    const [redo] = processingLogs(second, id);

    expect(killed.signal).toBe('SIGKILL');
    expect(done.status).toBe('succeeded');
    expect(processingLogs(first, id)).toHaveLength(1);
    expect(processingLogs(second, id)).toHaveLength(1);
    expect(redo?.attempt).toBe(2);
    expect(redo?.receiveCount).toBe(2);
    expect(Date.parse(String(redo?.time)) - killedAt).toBeGreaterThan(1000);
    expect(await analyzerCalls(id)).toBe(2);
    expect(second.grep(new RegExp(`"event":"job.succeeded","jobId":"${id}"`))).toHaveLength(1);
    // One result and one mask (all six tasks by default); the input is gone and no temporary file is left.
    expect(await readdir(path.join(dataDir, 'data', 'objects', 'jobs', id))).toEqual(['parsing-0.png', 'result.json']);
  });

  it('finishes the job in flight on SIGTERM', async () => {
    const first = await start({ FACEPTOR_API_KEYS: apiKey, TEST_ANALYZER_DELAY_MS: '1500' });
    const id = await submitImage(first.url, apiKey, jpeg);
    await waitForJob(first.url, apiKey, id, ['processing']);

    const stopped = await first.stop('SIGTERM');
    const second = await start({ FACEPTOR_API_KEYS: apiKey });
    const job = await request(`${second.url}/v1/jobs/${id}`, { apiKey });

    expect(stopped).toEqual({ code: 0, signal: null });
    expect(first.grep(/"event":"worker.stopped".*"finishedBatch":true/)).toHaveLength(1);
    expect(job.json.status).toBe('succeeded');
    expect(await analyzerCalls(id)).toBe(1);
  });

  it('releases the job in flight when SIGTERM overruns', async () => {
    const slow = { FACEPTOR_API_KEYS: apiKey, FACEPTOR_VISIBILITY_TIMEOUT_SEC: '120', FACEPTOR_SHUTDOWN_TIMEOUT_MS: '300' };
    const first = await start({ ...slow, TEST_ANALYZER_DELAY_MS: '600000' });
    const id = await submitImage(first.url, apiKey, jpeg);
    await waitForJob(first.url, apiKey, id, ['processing']);

    const stopped = await first.stop('SIGTERM', 15_000);
    const second = await start({ ...slow, TEST_ANALYZER_DELAY_MS: '0' });
    // A visibility timeout of 120 s would outlast this wait: only the release makes the job visible.
    const done = await waitForJob(second.url, apiKey, id, ['succeeded', 'failed'], 20_000);

    expect(stopped).toEqual({ code: 0, signal: null });
    expect(first.grep(/"event":"message.released"/)).toHaveLength(1);
    expect(done.status).toBe('succeeded');
    expect(await analyzerCalls(id)).toBe(2);
  });

  it('exits with code 2 on an invalid configuration', async () => {
    const started = ServiceProcess.start({ script, env: { FACEPTOR_DATA_DIR: path.join(dataDir, 'data'), FACEPTOR_HEARTBEAT_SEC: '500' }, startTimeoutMs: 30_000 });

    await expect(started).rejects.toThrow(/FACEPTOR_HEARTBEAT_SEC=500 must be less than FACEPTOR_VISIBILITY_TIMEOUT_SEC=120/);
  });
});
