import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.ts';

/** ONNX Runtime execution providers the worker may ask for, in the names onnxruntime-node uses. */
export const EXECUTION_PROVIDERS = ['cuda', 'tensorrt', 'cpu'] as const;
export type ExecutionProvider = (typeof EXECUTION_PROVIDERS)[number];

/** pino level names accepted by FACEPTOR_LOG_LEVEL. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Service configuration, read once at startup by {@link loadConfig}. Paths are absolute. */
export interface Config {
  /** TCP port of the HTTP server; 0 picks a free port. */
  port: number;
  /** Address the HTTP server binds to. */
  host: string;
  /** Base URL that upload URLs start with, or null to use the address the server bound. */
  publicUrl: string | null;
  /** Folder of the embedded mode's objects, database, API keys and signing secret. */
  dataDir: string;
  /** API keys from FACEPTOR_API_KEYS. Empty means keys come from the data folder. */
  apiKeys: string[];
  modelDir: string;
  detectorDir: string;
  executionProviders: ExecutionProvider[];
  logLevel: LogLevel;
  uploadMaxBytes: number;
  uploadUrlTtlSec: number;
  /** How long a received message stays hidden from other workers before it is delivered again. */
  visibilityTimeoutSec: number;
  /** Interval at which a worker extends the visibility of the messages it is processing. */
  heartbeatSec: number;
  /** Receives after which a message moves to the dead-letter queue and its job fails. */
  maxReceiveCount: number;
  /** Maximum wait of one long poll of the queue. */
  receiveWaitMs: number;
  maxBatchImages: number;
  /** Maximum time the worker waits to fill a batch after the first message arrived. */
  maxBatchWaitMs: number;
  /** First retry delay; each further receive doubles it up to `retryMaxDelaySec`. */
  retryBaseDelaySec: number;
  retryMaxDelaySec: number;
  /** Time that a graceful stop allows the batch in flight before releasing its messages. */
  shutdownTimeoutMs: number;
}

const MiB = 1024 * 1024;

/** Largest object a single S3 PUT accepts, 5 GiB. */
const maxUploadBytesLimit = 5 * 1024 * MiB;

/** SQS limit on a message's visibility timeout and delay, 12 hours. */
const maxVisibilitySec = 43_200;

/** One environment variable: its zod schema (input is the raw string or undefined) and whether it is a secret. */
interface VariableSpec {
  schema: z.ZodType;
  secret?: boolean;
}

function integer(min: number, max: number, fallback: number): z.ZodType<number> {
  const range = `an integer from ${min} to ${max}`;
  return z
    .string()
    .optional()
    .transform((raw, context) => {
      if (raw === undefined) return fallback;
      const value = /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
      if (!Number.isSafeInteger(value) || value < min || value > max) {
        context.addIssue({ code: 'custom', message: `expected ${range}` });
        return z.NEVER;
      }
      return value;
    });
}

function text(fallback: string): z.ZodType<string> {
  return z
    .string()
    .optional()
    .transform((raw) => raw ?? fallback);
}

function oneOf<const T extends readonly string[]>(values: T, fallback: T[number]): z.ZodType<T[number]> {
  return z
    .string()
    .optional()
    .transform((raw, context) => {
      if (raw === undefined) return fallback;
      const value = raw.trim().toLowerCase();
      if (!(values as readonly string[]).includes(value)) {
        context.addIssue({ code: 'custom', message: `expected one of ${values.join(', ')}` });
        return z.NEVER;
      }
      return value as T[number];
    });
}

function splitList(raw: string): string[] {
  return raw
    .split(',')
    .map((item) => item.trim())
    .filter((item) => item.length > 0);
}

const apiKeyPattern = /^[A-Za-z0-9._~+/=-]{16,256}$/;

const apiKeys: z.ZodType<string[]> = z
  .string()
  .optional()
  .transform((raw, context) => {
    const keys = raw === undefined ? [] : splitList(raw);
    keys.forEach((key, index) => {
      if (!apiKeyPattern.test(key)) {
        // The key itself is a secret, so the message gives its position and length only.
        context.addIssue({
          code: 'custom',
          message: `entry ${index + 1} (${key.length} characters) is invalid: each key must be 16 to 256 characters from A-Z a-z 0-9 . _ ~ + / = -`,
        });
      }
    });
    return keys;
  });

const executionProviders: z.ZodType<ExecutionProvider[]> = z
  .string()
  .optional()
  .transform((raw, context) => {
    const names = splitList(raw ?? 'cuda,cpu').map((name) => name.toLowerCase());
    const unknown = names.filter((name) => !(EXECUTION_PROVIDERS as readonly string[]).includes(name));
    if (names.length === 0 || unknown.length > 0) {
      context.addIssue({
        code: 'custom',
        message: `expected a comma-separated list from ${EXECUTION_PROVIDERS.join(', ')} (unknown: ${unknown.join(', ') || 'none given'})`,
      });
      return z.NEVER;
    }
    return [...new Set(names)] as ExecutionProvider[];
  });

const publicUrl: z.ZodType<string | null> = z
  .string()
  .optional()
  .transform((raw, context) => {
    if (raw === undefined) return null;
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      context.addIssue({ code: 'custom', message: 'expected an absolute http or https URL such as https://faces.example.com' });
      return z.NEVER;
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      context.addIssue({ code: 'custom', message: `expected an http or https URL, not ${url.protocol}` });
      return z.NEVER;
    }
    return raw.replace(/\/+$/, '');
  });

/** Every variable {@link loadConfig} reads, with its default and valid range. */
const variables = {
  PORT: { schema: integer(0, 65_535, 8787) },
  HOST: { schema: text('127.0.0.1') },
  FACEPTOR_PUBLIC_URL: { schema: publicUrl },
  FACEPTOR_DATA_DIR: { schema: text('./.data') },
  FACEPTOR_API_KEYS: { schema: apiKeys, secret: true },
  FACEPTOR_MODEL_DIR: { schema: text('models/faceptor-tiny') },
  FACEPTOR_DETECTOR_DIR: { schema: text('models/ultraface-rfb320') },
  FACEPTOR_EXECUTION_PROVIDERS: { schema: executionProviders },
  FACEPTOR_LOG_LEVEL: { schema: oneOf(LOG_LEVELS, 'info') },
  FACEPTOR_UPLOAD_MAX_BYTES: { schema: integer(1, maxUploadBytesLimit, 20 * MiB) },
  FACEPTOR_UPLOAD_URL_TTL_SEC: { schema: integer(1, 7 * 24 * 3600, 15 * 60) },
  FACEPTOR_VISIBILITY_TIMEOUT_SEC: { schema: integer(1, maxVisibilitySec, 120) },
  FACEPTOR_HEARTBEAT_SEC: { schema: integer(1, maxVisibilitySec - 1, 30) },
  FACEPTOR_MAX_RECEIVE_COUNT: { schema: integer(1, 1000, 5) },
  FACEPTOR_RECEIVE_WAIT_MS: { schema: integer(0, 20_000, 1000) },
  FACEPTOR_MAX_BATCH_IMAGES: { schema: integer(1, 256, 8) },
  FACEPTOR_MAX_BATCH_WAIT_MS: { schema: integer(0, 10_000, 50) },
  FACEPTOR_RETRY_BASE_DELAY_SEC: { schema: integer(0, 900, 2) },
  FACEPTOR_RETRY_MAX_DELAY_SEC: { schema: integer(0, maxVisibilitySec, 300) },
  FACEPTOR_SHUTDOWN_TIMEOUT_MS: { schema: integer(0, 600_000, 10_000) },
} satisfies Record<string, VariableSpec>;

type VariableName = keyof typeof variables;
type ParsedVariables = { [K in VariableName]: z.output<(typeof variables)[K]['schema']> };

/** Names of the environment variables that {@link loadConfig} reads. */
export const CONFIG_VARIABLES = Object.keys(variables) as VariableName[];

function describeValue(name: VariableName, raw: string | undefined): string {
  if ((variables[name] as VariableSpec).secret) return `${name} (value not shown)`;
  return `${name}=${JSON.stringify(raw)}`;
}

function parseVariables(env: Record<string, string | undefined>, problems: string[]): Partial<ParsedVariables> {
  const parsed: Partial<Record<VariableName, unknown>> = {};
  for (const name of CONFIG_VARIABLES) {
    // An empty variable counts as unset, so `FOO= npm start` falls back to the default.
    const raw = env[name] === '' ? undefined : env[name];
    const result = (variables[name] as VariableSpec).schema.safeParse(raw);
    if (result.success) {
      parsed[name] = result.data;
      continue;
    }
    for (const issue of result.error.issues) problems.push(`${describeValue(name, raw)} is invalid: ${issue.message}`);
  }
  return parsed as Partial<ParsedVariables>;
}

function checkCrossFieldRules(values: ParsedVariables, problems: string[]): void {
  if (values.FACEPTOR_HEARTBEAT_SEC >= values.FACEPTOR_VISIBILITY_TIMEOUT_SEC) {
    problems.push(
      `FACEPTOR_HEARTBEAT_SEC=${values.FACEPTOR_HEARTBEAT_SEC} must be less than FACEPTOR_VISIBILITY_TIMEOUT_SEC=${values.FACEPTOR_VISIBILITY_TIMEOUT_SEC}, ` +
        'otherwise a message reappears to other workers before its first heartbeat; a third of the visibility timeout is a good value',
    );
  }
  if (values.FACEPTOR_RETRY_BASE_DELAY_SEC > values.FACEPTOR_RETRY_MAX_DELAY_SEC) {
    problems.push(
      `FACEPTOR_RETRY_BASE_DELAY_SEC=${values.FACEPTOR_RETRY_BASE_DELAY_SEC} must not exceed FACEPTOR_RETRY_MAX_DELAY_SEC=${values.FACEPTOR_RETRY_MAX_DELAY_SEC}`,
    );
  }
  if (values.HOST.trim().length === 0) problems.push('HOST="" is invalid: expected an address such as 127.0.0.1');
}

/**
 * Reads and checks the configuration from environment variables.
 *
 * Relative paths are resolved against `cwd`. Throws a {@link ConfigError} that lists every invalid
 * variable with its value (secrets excepted) and its valid range.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env, cwd: string = process.cwd()): Config {
  const problems: string[] = [];
  const parsed = parseVariables(env, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  const values = parsed as ParsedVariables;
  checkCrossFieldRules(values, problems);
  if (problems.length > 0) throw new ConfigError(problems);

  return {
    port: values.PORT,
    host: values.HOST.trim(),
    publicUrl: values.FACEPTOR_PUBLIC_URL,
    dataDir: path.resolve(cwd, values.FACEPTOR_DATA_DIR),
    apiKeys: values.FACEPTOR_API_KEYS,
    modelDir: path.resolve(cwd, values.FACEPTOR_MODEL_DIR),
    detectorDir: path.resolve(cwd, values.FACEPTOR_DETECTOR_DIR),
    executionProviders: values.FACEPTOR_EXECUTION_PROVIDERS,
    logLevel: values.FACEPTOR_LOG_LEVEL,
    uploadMaxBytes: values.FACEPTOR_UPLOAD_MAX_BYTES,
    uploadUrlTtlSec: values.FACEPTOR_UPLOAD_URL_TTL_SEC,
    visibilityTimeoutSec: values.FACEPTOR_VISIBILITY_TIMEOUT_SEC,
    heartbeatSec: values.FACEPTOR_HEARTBEAT_SEC,
    maxReceiveCount: values.FACEPTOR_MAX_RECEIVE_COUNT,
    receiveWaitMs: values.FACEPTOR_RECEIVE_WAIT_MS,
    maxBatchImages: values.FACEPTOR_MAX_BATCH_IMAGES,
    maxBatchWaitMs: values.FACEPTOR_MAX_BATCH_WAIT_MS,
    retryBaseDelaySec: values.FACEPTOR_RETRY_BASE_DELAY_SEC,
    retryMaxDelaySec: values.FACEPTOR_RETRY_MAX_DELAY_SEC,
    shutdownTimeoutMs: values.FACEPTOR_SHUTDOWN_TIMEOUT_MS,
  };
}
