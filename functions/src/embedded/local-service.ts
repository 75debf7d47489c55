import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createAdaptorServer } from '@hono/node-server';
import { LogEvents, createLogger, errorFields, type ApiKeyStore, type Config, type ImageAnalyzer, type Logger } from '@faceptor/core';
import { dataDirLayout, openLocalAdapters, StaticApiKeyStore, type LocalAdapters } from '@faceptor/core/adapters/local';
import { QueueWorker, queueWorkerOptions } from '@faceptor/gpu-worker';
import { createApp } from '../app.ts';
import { UploadTokenSigner } from '../upload-token.ts';

/** Builds the analyzer once the server listens; models load while /healthz returns 503. */
export type AnalyzerFactory = (config: Config) => Promise<ImageAnalyzer>;

/** Options of {@link startLocalService}. */
export interface LocalServiceOptions {
  config: Config;
  /** Builds the analyzer of the in-process worker; null runs the API alone, without a worker. */
  createAnalyzer: AnalyzerFactory | null;
  logger?: Logger;
  /** Prints the notice of a created API key; it goes to standard output when absent. */
  announceApiKey?: (notice: string) => void;
}

/** A running local service. */
export interface LocalService {
  /** Address the server listens at, such as http://127.0.0.1:8787. */
  url: string;
  port: number;
  /** Resolves once the analyzer is loaded and the worker runs; rejects when loading fails. */
  ready: Promise<void>;
  /** Stops the worker, the HTTP server, the analyzer and the database. Idempotent. */
  close(): Promise<void>;
}

/** Time that closing the HTTP server waits for open requests before dropping their connections. */
const serverCloseTimeoutMs = 5000;

function hostForUrl(host: string): string {
  return host.includes(':') ? `[${host}]` : host;
}

/**
 * Returns the API key store: the keys of FACEPTOR_API_KEYS when set, otherwise the hashed keys in
 * the data folder, creating and announcing one key when there is none yet.
 */
/** Choose the key store that requests are checked against: the configured keys, else the data folder's file. */
function apiKeyStore(config: Config, local: LocalAdapters): ApiKeyStore {
  return config.apiKeys.length > 0 ? StaticApiKeyStore.fromKeys(config.apiKeys) : local.apiKeys;
}

/**
 * Create and print the first API key when no key is configured or stored. Runs only after the server
 * listens, so a start that fails (a busy port, say) never prints a key it then loses.
 */
async function createFirstApiKey(config: Config, local: LocalAdapters, logger: Logger, announce: (notice: string) => void): Promise<void> {
  if (config.apiKeys.length > 0 || local.apiKeys.size > 0) return;

  const { apiKey, tenant } = await local.apiKeys.createKey();
  const file = dataDirLayout(config.dataDir).apiKeysFile;
  logger.info({ event: LogEvents.apiKeyCreated, tenant, file }, 'created the first API key');
  announce(`API key for tenant ${tenant} (shown only this once; ${file} stores its SHA-256 hash): ${apiKey}`);
}

function listen(server: Server, port: number, host: string): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    const fail = (error: Error) =>
      reject(new Error(`cannot listen on ${host}:${port}: ${error.message}; set PORT (or HOST) to a free address`, { cause: error }));
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      resolve(server.address() as AddressInfo);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), serverCloseTimeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}

/**
 * Starts the embedded service in this process: the API on `config.host:config.port` over the local
 * adapters in `config.dataDir`, and one queue worker once `createAnalyzer` has loaded the models.
 * Resolves when the server listens, before the models are loaded.
 */
export async function startLocalService(options: LocalServiceOptions): Promise<LocalService> {
  const { config } = options;
  const logger = options.logger ?? createLogger({ level: config.logLevel, component: 'embedded' });
  const announce = options.announceApiKey ?? ((notice: string) => process.stdout.write(`${notice}\n`));

  const local = await openLocalAdapters({ dataDir: config.dataDir, visibilityTimeoutSec: config.visibilityTimeoutSec, maxReceiveCount: config.maxReceiveCount });
  let server: Server | null = null;
  let address: AddressInfo;
  let baseUrl = config.publicUrl ?? '';
  const state = { ready: false, closing: false };
  try {
    const apiKeys = apiKeyStore(config, local);
    const app = createApp({
      jobs: local.jobs,
      blobs: local.blobs,
      queue: local.queue,
      apiKeys,
      uploadSigner: new UploadTokenSigner(local.uploadSecret),
      logger: logger.child({ module: 'api' }),
      baseUrl: () => baseUrl,
      uploadMaxBytes: config.uploadMaxBytes,
      uploadUrlTtlSec: config.uploadUrlTtlSec,
      isReady: () => state.ready && !state.closing,
    });
    server = createAdaptorServer({ fetch: app.fetch, hostname: config.host }) as Server;
    address = await listen(server, config.port, config.host);
    await createFirstApiKey(config, local, logger, announce);
  } catch (error) {
    if (server) await closeServer(server);
    local.close();
    throw error;
  }

  const url = `http://${hostForUrl(config.host)}:${address.port}`;
  if (!config.publicUrl) baseUrl = url;
  logger.info({ event: LogEvents.serverListening, url, dataDir: config.dataDir }, 'server listening');

  let analyzer: ImageAnalyzer | null = null;
  let worker: QueueWorker | null = null;
  const ready = (async () => {
    if (options.createAnalyzer) {
      const loaded = await options.createAnalyzer(config);
      if (state.closing) {
        await loaded.close();
        return;
      }
      analyzer = loaded;
      worker = new QueueWorker(
        { queue: local.queue, deadLetters: local.deadLetters, jobs: local.jobs, blobs: local.blobs, analyzer, logger: logger.child({ module: 'worker' }) },
        queueWorkerOptions(config),
      );
      worker.start();
    }
    state.ready = true;
    logger.info({ event: LogEvents.serverReady, url, worker: worker !== null }, 'service ready');
  })();
  // The entry observes `ready`; this handler only keeps an early failure from being reported as unhandled.
  ready.catch(() => undefined);

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      state.closing = true;
      logger.info({ event: LogEvents.serverStopping }, 'service stopping');
      const steps: [string, () => Promise<void> | void][] = [
        ['worker', async () => worker?.close()],
        ['http server', () => closeServer(server!)],
        ['analyzer', async () => analyzer?.close()],
        ['database', () => local.close()],
      ];
      for (const [name, step] of steps) {
        try {
          await step();
        } catch (error) {
          logger.error({ event: LogEvents.cleanupFailed, step: name, ...errorFields(error) }, `closing the ${name} failed`);
        }
      }
      logger.info({ event: LogEvents.serverStopped }, 'service stopped');
    })();
    return closing;
  };

  return { url, port: address.port, ready, close };
}
