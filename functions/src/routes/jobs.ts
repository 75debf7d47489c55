import { InvalidRequestError, TaskListSchema, TASKS, UnsupportedMediaTypeError } from '@faceptor/core';
import { Hono } from 'hono';
import { z } from 'zod';
import type { AppEnv } from '../app-env.ts';
import type { JobService } from '../job-service.ts';
import { toJobView } from '../job-view.ts';
import { readBodyWithLimit } from '../read-body.ts';

/** Largest JSON body accepted by POST /v1/jobs. */
const maxCreateBodyBytes = 64 * 1024;

const CreateJobSchema = z.strictObject({
  tasks: TaskListSchema.optional(),
  retainInput: z.boolean().optional(),
});

/** Options of {@link jobRoutes}. */
export interface JobRoutesOptions {
  service: JobService;
  /** Absolute URL the server is reached at, without a trailing slash. */
  baseUrl: () => string;
}

/** Formats a field path as it reads in JSON: `tasks[1]`, `retainInput`, or `body` for the whole body. */
function fieldName(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  const parts = path.map((part) => (typeof part === 'number' ? `[${part}]` : `.${String(part)}`));
  return parts.join('').replace(/^\./, '');
}

function formatIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${fieldName(issue.path)}: ${issue.message}`).join('; ');
}

async function parseCreateRequest(request: Request): Promise<z.output<typeof CreateJobSchema>> {
  const body = await readBodyWithLimit(request, maxCreateBodyBytes);
  const text = new TextDecoder().decode(body).trim();
  if (text.length === 0) return {};

  const contentType = request.headers.get('content-type');
  if (contentType && !/^application\/json\s*(;|$)/i.test(contentType)) {
    throw new UnsupportedMediaTypeError(`Content-Type ${contentType} is not supported: send the job request as application/json`);
  }

  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new InvalidRequestError('request body is not valid JSON: send an object such as {"tasks": ["age", "identity"]}', { code: 'invalid_json' });
  }
  const parsed = CreateJobSchema.safeParse(json);
  if (!parsed.success) throw new InvalidRequestError(`invalid job request: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** Routes under /v1/jobs; the caller mounts them behind the auth middleware. */
export function jobRoutes({ service, baseUrl }: JobRoutesOptions): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.post('/', async function createJob(c) {
    const request = await parseCreateRequest(c.req.raw);
    const { record, uploadToken } = await service.create(c.get('tenant'), { tasks: request.tasks ?? [...TASKS], retainInput: request.retainInput });

    const view = toJobView(record, { baseUrl: baseUrl() });
    const upload = {
      method: 'PUT' as const,
      url: `${baseUrl()}/uploads/${uploadToken}`,
      headers: {},
      expiresAt: record.upload.expiresAt,
      maxBytes: record.upload.maxBytes,
    };
    return c.json({ ...view, upload }, 201, { Location: `/v1/jobs/${record.id}` });
  });

  routes.get('/:id', async function getJob(c) {
    const record = await service.get(c.get('tenant'), c.req.param('id'));
    const result = record.state === 'succeeded' ? await service.readResult(record) : undefined;
    return c.json(toJobView(record, { result, baseUrl: baseUrl() }));
  });

  routes.get('/:id/parsing/:file{[0-9]{1,4}\\.png}', async function getParsingMask(c) {
    const faceIndex = Number.parseInt(c.req.param('file'), 10);
    const png = await service.readMask(c.get('tenant'), c.req.param('id'), faceIndex);
    return c.body(png as Uint8Array<ArrayBuffer>, 200, { 'Content-Type': 'image/png', 'Cache-Control': 'private, no-store' });
  });

  routes.delete('/:id', async function deleteJob(c) {
    await service.delete(c.get('tenant'), c.req.param('id'));
    return c.body(null, 204);
  });

  return routes;
}
