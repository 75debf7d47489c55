/**
 * Child-process entry of the service tests: the same startup, configuration, signal handling and
 * exit codes as `npm start`, with the test analyzer in place of the model, so that a test can kill
 * the process in the middle of a job.
 *
 * TEST_ANALYZER_DELAY_MS sets how long each batch takes; TEST_ANALYZER_CALLS_FILE, when set, receives
 * one line per analyzed job id, so a test can count analyses across processes.
 */
import { appendFileSync } from 'node:fs';
import { runService } from '@faceptor/functions/embedded';
import { TestAnalyzer } from '../../../gpu-worker/src/worker/test-analyzer.ts';

const delayMs = Number(process.env.TEST_ANALYZER_DELAY_MS ?? '0');
const callsFile = process.env.TEST_ANALYZER_CALLS_FILE;

await runService(
  async () =>
    new TestAnalyzer({
      delayMs,
      onBatch: (requests) => {
        if (callsFile) appendFileSync(callsFile, requests.map((request) => `${request.id}\n`).join(''));
      },
    }),
);
