import { pino, type DestinationStream, type Logger as PinoLogger } from 'pino';
import type { LogLevel } from './config.ts';

/** The service's structured logger: JSON lines with an `event` field and ids, never image bytes, embeddings or keys. */
export type Logger = PinoLogger;

/**
 * Stable event names. Dashboards and tests match on these, so rename one only together with its readers.
 */
export const LogEvents = {
  configInvalid: 'config.invalid',
  serverListening: 'server.listening',
  serverReady: 'server.ready',
  serverStopping: 'server.stopping',
  serverStopped: 'server.stopped',
  serverFailed: 'server.failed',
  request: 'http.request',
  requestFailed: 'request.failed',
  apiKeyCreated: 'api_key.created',
  jobCreated: 'job.created',
  jobUploaded: 'job.uploaded',
  jobQueued: 'job.queued',
  jobProcessing: 'job.processing',
  jobSucceeded: 'job.succeeded',
  jobFailed: 'job.failed',
  jobCanceled: 'job.canceled',
  jobExpired: 'job.expired',
  jobDeleted: 'job.deleted',
  jobSkipped: 'job.skipped',
  workerStarted: 'worker.started',
  workerStopping: 'worker.stopping',
  workerStopped: 'worker.stopped',
  workerError: 'worker.error',
  batchStarted: 'batch.started',
  batchFinished: 'batch.finished',
  messageInvalid: 'message.invalid',
  messageReleased: 'message.released',
  messageDeadLettered: 'message.dead_lettered',
  heartbeatFailed: 'heartbeat.failed',
  cleanupFailed: 'cleanup.failed',
} as const;

/**
 * Field paths that are blanked even if a caller passes them by mistake. Image bytes, embeddings,
 * API keys, upload tokens and authorization headers must never reach a log line.
 */
const redactedPaths = [
  'apiKey',
  'token',
  'secret',
  'authorization',
  'image',
  'embedding',
  'png',
  '*.apiKey',
  '*.token',
  '*.secret',
  '*.authorization',
  '*.image',
  '*.embedding',
  '*.png',
  'headers.authorization',
  'req.headers.authorization',
];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  level?: LogLevel;
  /** Component name written into every line as `component`. */
  component?: string;
  /** Destination stream of the lines; standard output when absent. */
  destination?: DestinationStream;
}

/** Creates the JSON-lines logger. Each line has `time` in ISO 8601, `level` as a name and `component`. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const settings = {
    level: options.level ?? 'info',
    base: { component: options.component ?? 'faceptor' },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
    redact: { paths: redactedPaths, censor: '[redacted]' },
  };
  return options.destination ? pino(settings, options.destination) : pino(settings);
}

/** Returns a logger that writes nothing, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

/** Converts an error into log fields: class name, code, message and context ids; never the cause's payloads. */
export function errorFields(error: unknown): Record<string, unknown> {
  if (!(error instanceof Error)) return { error: { message: String(error) } };
  const fields: Record<string, unknown> = { name: error.name, message: error.message };
  const coded = error as Error & { code?: unknown; context?: unknown };
  if (typeof coded.code === 'string') fields.code = coded.code;
  if (coded.context && typeof coded.context === 'object') fields.context = coded.context;
  if (error.stack) fields.stack = error.stack;
  return { error: fields };
}
