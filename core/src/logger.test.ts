import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NotFoundError } from './errors.ts';
import { createLogger, errorFields } from './logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line) as Record<string, unknown>);
      callback();
    },
  });
  return { lines, destination };
}

describe('createLogger', () => {
  it('writes JSON lines with event and ids', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ component: 'api', destination });

    logger.info({ event: 'job.created', jobId: 'abc' }, 'job created');

    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'info', component: 'api', event: 'job.created', jobId: 'abc', msg: 'job created' });
    expect(typeof lines[0]!.time).toBe('string');
  });

  it('redacts keys, images and embeddings', () => {
    const { lines, destination } = capture();
    const logger = createLogger({ destination });

    logger.info({ apiKey: 'fk_secret', image: [1, 2, 3], result: { embedding: [0.1, 0.2] }, headers: { authorization: 'Bearer fk_secret' } });

    const text = JSON.stringify(lines[0]);
    expect(text).not.toContain('fk_secret');
    expect(text).not.toContain('0.1');
    expect(lines[0]).toMatchObject({ apiKey: '[redacted]', image: '[redacted]', result: { embedding: '[redacted]' } });
  });

  it('errorFields keeps code and context', () => {
    const fields = errorFields(new NotFoundError('job x not found', { context: { jobId: 'x' } }));

    expect(fields.error).toMatchObject({ name: 'NotFoundError', code: 'not_found', message: 'job x not found', context: { jobId: 'x' } });
  });
});
