/**
 * AWS Lambda entry of the API: the only file that calls hono/aws-lambda's `handle`.
 */
import type { BlobStore, JobStore, WorkQueue, ApiKeyStore } from '@faceptor/core';
import { createLogger, loadConfig } from '@faceptor/core';
import { handle } from 'hono/aws-lambda';
import { createApp } from '../app.ts';
import { UploadTokenSigner } from '../upload-token.ts';

/** The AWS adapters the Lambda API runs on. */
interface AwsDependencies {
  jobs: JobStore;
  blobs: BlobStore;
  queue: WorkQueue;
  apiKeys: ApiKeyStore;
  uploadSecret: Uint8Array;
  publicUrl: string;
}

// TODO: build S3, SQS and API-key adapters here once core/src/adapters/aws exists; until then every
// cold start fails with this message instead of serving requests.
async function openAwsDependencies(): Promise<AwsDependencies> {
  throw new Error('the Lambda entry has no AWS adapters yet: deploy the embedded server (npm start) instead');
}

const config = loadConfig();
const aws = await openAwsDependencies();
const app = createApp({
  jobs: aws.jobs,
  blobs: aws.blobs,
  queue: aws.queue,
  apiKeys: aws.apiKeys,
  uploadSigner: new UploadTokenSigner(aws.uploadSecret),
  logger: createLogger({ level: config.logLevel, component: 'api' }),
  baseUrl: () => aws.publicUrl,
  uploadMaxBytes: config.uploadMaxBytes,
  uploadUrlTtlSec: config.uploadUrlTtlSec,
  isReady: () => true,
});

export const handler = handle(app);
