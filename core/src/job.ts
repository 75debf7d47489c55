import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { TaskListSchema } from './tasks.ts';

/** Job states. `succeeded`, `failed`, `canceled` and `expired` are final. */
export const JOB_STATES = ['awaiting_upload', 'queued', 'processing', 'succeeded', 'failed', 'canceled', 'expired'] as const;
export const JobStateSchema = z.enum(JOB_STATES);
export type JobState = z.infer<typeof JobStateSchema>;

/** The states a job may move to from each state; a final state has none, so a finished job never moves back. */
export const JOB_TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  awaiting_upload: ['queued', 'failed', 'canceled', 'expired'],
  queued: ['processing', 'failed', 'canceled'],
  // processing -> processing is a second worker taking over a message whose first worker was lost.
  processing: ['processing', 'succeeded', 'failed', 'canceled'],
  succeeded: [],
  failed: [],
  canceled: [],
  expired: [],
};

/** Returns true for the states a job never leaves. */
export function isFinalState(state: JobState): boolean {
  return JOB_TRANSITIONS[state].length === 0;
}

/** Number of random bits in a job id. */
export const JOB_ID_BITS = 128;

/** A job id: 32 lowercase hex digits, 128 random bits. */
export const JobIdSchema = z.string().regex(/^[0-9a-f]{32}$/, { error: 'job id must be 32 lowercase hex digits' });

/** Returns a new random job id. */
export function newJobId(): string {
  return randomBytes(JOB_ID_BITS / 8).toString('hex');
}

/** Returns true when `value` has the job id format; anything else is no job of ours. */
export function isJobId(value: string): boolean {
  return JobIdSchema.safeParse(value).success;
}

const timestamp = z.iso.datetime();

/** Error of a failed job, as the API returns it. */
export const JobErrorSchema = z.object({ code: z.string().min(1), message: z.string() });
export type JobError = z.infer<typeof JobErrorSchema>;

/** The job record (`jobs/<jobId>/job.json` in object storage, a row in the embedded mode's database). */
export const JobRecordSchema = z.object({
  id: JobIdSchema,
  tenant: z.string().min(1),
  tasks: TaskListSchema,
  state: JobStateSchema,
  /** Incremented by every transition; conditional transitions compare it. */
  version: z.number().int().min(1),
  createdAt: timestamp,
  updatedAt: timestamp,
  upload: z.object({
    maxBytes: z.number().int().positive(),
    expiresAt: timestamp,
  }),
  /** The stored upload, once there is one. */
  input: z
    .object({
      bytes: z.number().int().nonnegative(),
      mediaType: z.string(),
      uploadedAt: timestamp,
    })
    .nullable(),
  /** Keep the input after processing, until the job is deleted. */
  retainInput: z.boolean(),
  /** Processing attempts started, counting a takeover after a lost worker. */
  attempts: z.number().int().nonnegative(),
  startedAt: timestamp.nullable(),
  finishedAt: timestamp.nullable(),
  /** Face indices n whose parsing mask is stored as `parsing-<n>.png`. */
  parsingMasks: z.array(z.number().int().nonnegative()),
  error: JobErrorSchema.nullable(),
});
export type JobRecord = z.infer<typeof JobRecordSchema>;

/** Fields a transition may change besides `state`, `version` and `updatedAt`. */
export type JobPatch = Partial<Omit<JobRecord, 'id' | 'tenant' | 'state' | 'version' | 'createdAt' | 'updatedAt'>>;

/** Fields needed to create a job; the rest start empty. */
export interface NewJob {
  id: string;
  tenant: string;
  tasks: JobRecord['tasks'];
  uploadMaxBytes: number;
  uploadExpiresAt: Date;
  retainInput?: boolean;
  now?: Date;
}

/** Builds the record of a new job in state `awaiting_upload`, version 1. */
export function newJobRecord(job: NewJob): JobRecord {
  const now = (job.now ?? new Date()).toISOString();
  return {
    id: job.id,
    tenant: job.tenant,
    tasks: job.tasks,
    state: 'awaiting_upload',
    version: 1,
    createdAt: now,
    updatedAt: now,
    upload: { maxBytes: job.uploadMaxBytes, expiresAt: job.uploadExpiresAt.toISOString() },
    input: null,
    retainInput: job.retainInput ?? false,
    attempts: 0,
    startedAt: null,
    finishedAt: null,
    parsingMasks: [],
    error: null,
  };
}

/** The work message that the upload path sends and the worker consumes. */
export const WorkMessageSchema = z.object({
  v: z.literal(1),
  jobId: JobIdSchema,
  tenant: z.string().min(1),
  tasks: TaskListSchema,
  inputKey: z.string().min(1),
  enqueuedAt: timestamp,
});
export type WorkMessage = z.infer<typeof WorkMessageSchema>;

/** Object keys of one job, the same in S3 and under the embedded mode's data folder. */
export const jobKeys = {
  prefix: (jobId: string) => `jobs/${jobId}/`,
  record: (jobId: string) => `jobs/${jobId}/job.json`,
  input: (jobId: string) => `jobs/${jobId}/input`,
  result: (jobId: string) => `jobs/${jobId}/result.json`,
  parsingMask: (jobId: string, faceIndex: number) => `jobs/${jobId}/parsing-${faceIndex}.png`,
};
