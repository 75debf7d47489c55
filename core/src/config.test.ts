import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from './config.ts';
import { ConfigError } from './errors.ts';

const cwd = '/srv/faceptor';

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env, cwd);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('loadConfig accepted an invalid environment');
}

describe('loadConfig', () => {
  it('applies defaults to an empty environment', () => {
    const config = loadConfig({}, cwd);

    expect(config.port).toBe(8787);
    expect(config.host).toBe('127.0.0.1');
    expect(config.dataDir).toBe(path.join(cwd, '.data'));
    expect(config.modelDir).toBe(path.join(cwd, 'models/faceptor-tiny'));
    expect(config.detectorDir).toBe(path.join(cwd, 'models/ultraface-rfb320'));
    expect(config.apiKeys).toEqual([]);
    expect(config.executionProviders).toEqual(['cuda', 'cpu']);
    expect(config.uploadMaxBytes).toBe(20 * 1024 * 1024);
    expect(config.uploadUrlTtlSec).toBe(900);
    expect(config.heartbeatSec).toBeLessThan(config.visibilityTimeoutSec);
    expect(config.publicUrl).toBeNull();
  });

  it('reads every override', () => {
    const config = loadConfig(
      {
        PORT: '9000',
        HOST: '0.0.0.0',
        FACEPTOR_DATA_DIR: '/var/lib/faceptor',
        FACEPTOR_API_KEYS: 'key-one-0123456789abcdef, key-two-0123456789abcdef',
        FACEPTOR_EXECUTION_PROVIDERS: 'CPU',
        FACEPTOR_VISIBILITY_TIMEOUT_SEC: '30',
        FACEPTOR_HEARTBEAT_SEC: '10',
        FACEPTOR_MAX_BATCH_IMAGES: '16',
        FACEPTOR_PUBLIC_URL: 'https://faces.example.com/',
      },
      cwd,
    );

    expect(config.port).toBe(9000);
    expect(config.host).toBe('0.0.0.0');
    expect(config.dataDir).toBe('/var/lib/faceptor');
    expect(config.apiKeys).toEqual(['key-one-0123456789abcdef', 'key-two-0123456789abcdef']);
    expect(config.executionProviders).toEqual(['cpu']);
    expect(config.visibilityTimeoutSec).toBe(30);
    expect(config.heartbeatSec).toBe(10);
    expect(config.maxBatchImages).toBe(16);
    expect(config.publicUrl).toBe('https://faces.example.com');
  });

  it('treats empty variables as unset', () => {
    expect(loadConfig({ PORT: '', FACEPTOR_API_KEYS: '' }, cwd).port).toBe(8787);
  });

  it('names variable, value and range', () => {
    const error = configError({ PORT: '70000' });

    expect(error.problems).toEqual(['PORT="70000" is invalid: expected an integer from 0 to 65535']);
  });

  it('rejects non-integers', () => {
    const error = configError({ FACEPTOR_MAX_BATCH_IMAGES: '2.5' });

    expect(error.message).toMatch(/FACEPTOR_MAX_BATCH_IMAGES="2.5" is invalid: expected an integer from 1 to 256/);
  });

  it('lists every invalid variable at once', () => {
    const error = configError({ PORT: 'http', FACEPTOR_MAX_RECEIVE_COUNT: '0', FACEPTOR_LOG_LEVEL: 'loud' });

    expect(error.problems).toHaveLength(3);
    expect(error.message).toMatch(/PORT="http"/);
    expect(error.message).toMatch(/FACEPTOR_MAX_RECEIVE_COUNT="0" is invalid: expected an integer from 1 to 1000/);
    expect(error.message).toMatch(/FACEPTOR_LOG_LEVEL="loud" is invalid: expected one of fatal, error, warn, info, debug, trace, silent/);
  });

  it('rejects heartbeat not below visibility timeout', () => {
    const error = configError({ FACEPTOR_VISIBILITY_TIMEOUT_SEC: '20', FACEPTOR_HEARTBEAT_SEC: '20' });

    expect(error.message).toMatch(/FACEPTOR_HEARTBEAT_SEC=20 must be less than FACEPTOR_VISIBILITY_TIMEOUT_SEC=20/);
  });

  it('rejects retry base delay above maximum', () => {
    const error = configError({ FACEPTOR_RETRY_BASE_DELAY_SEC: '60', FACEPTOR_RETRY_MAX_DELAY_SEC: '10' });

    expect(error.message).toMatch(/FACEPTOR_RETRY_BASE_DELAY_SEC=60 must not exceed FACEPTOR_RETRY_MAX_DELAY_SEC=10/);
  });

  it('rejects unknown execution providers', () => {
    const error = configError({ FACEPTOR_EXECUTION_PROVIDERS: 'cuda,rocm' });

    expect(error.message).toMatch(/FACEPTOR_EXECUTION_PROVIDERS="cuda,rocm" is invalid: expected a comma-separated list from cuda, tensorrt, cpu \(unknown: rocm\)/);
  });

  it('hides API keys in messages', () => {
    const error = configError({ FACEPTOR_API_KEYS: 'short-secret,valid-key-0123456789abcdef' });

    expect(error.message).toMatch(/FACEPTOR_API_KEYS \(value not shown\) is invalid: entry 1 \(12 characters\)/);
    expect(error.message).not.toContain('short-secret');
  });

  it('rejects a public URL without http', () => {
    const error = configError({ FACEPTOR_PUBLIC_URL: 'ftp://faces.example.com' });

    expect(error.message).toMatch(/FACEPTOR_PUBLIC_URL="ftp:\/\/faces.example.com" is invalid: expected an http or https URL/);
  });
});
