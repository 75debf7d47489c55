import { LogEvents, NotFoundError, ServiceUnavailableError, type ApiKeyStore, type BlobStore, type JobStore, type Logger, type WorkQueue } from '@faceptor/core';
import { Hono } from 'hono';
import { routePath } from 'hono/route';
import type { AppEnv } from './app-env.ts';
import { toErrorResponse } from './http-errors.ts';
import { JobService } from './job-service.ts';
import { bearerAuth } from './middleware/auth.ts';
import { jobRoutes } from './routes/jobs.ts';
import { uploadRoutes } from './routes/uploads.ts';
import type { UploadTokenSigner } from './upload-token.ts';

/** Everything the API needs, passed in so that the app has no runtime adapter of its own. */
export interface AppDependencies {
  jobs: JobStore;
  blobs: BlobStore;
  queue: WorkQueue;
  apiKeys: ApiKeyStore;
  uploadSigner: UploadTokenSigner;
  logger: Logger;
  /** Absolute URL that upload URLs and mask URLs start with, without a trailing slash. */
  baseUrl: () => string;
  uploadMaxBytes: number;
  uploadUrlTtlSec: number;
  /** True once the models are loaded; GET /healthz returns 503 before. */
  isReady: () => boolean;
  now?: () => Date;
}

/**
 * Builds the Hono app of the API. It is a plain `fetch(Request) -> Response`: the Node, Lambda and
 * embedded entries wrap it, and tests call `app.request()`.
 */
export function createApp(deps: AppDependencies): Hono<AppEnv> {
  const app = new Hono<AppEnv>();
  const service = new JobService(deps);

  app.use(async function logRequest(c, next) {
    const started = performance.now();
    await next();
    // The route pattern is logged instead of the path, because upload paths contain signed tokens.
    deps.logger.info(
      { event: LogEvents.request, method: c.req.method, route: routePath(c, -1), status: c.res.status, durationMs: Math.round(performance.now() - started) },
      'request',
    );
  });

  app.get('/healthz', function health(c) {
    if (!deps.isReady()) throw new ServiceUnavailableError('the service is starting: models are still loading, retry shortly');
    return c.json({ status: 'ok' });
  });

  app.use('/v1/*', bearerAuth(deps.apiKeys));
  app.route('/v1/jobs', jobRoutes({ service, baseUrl: deps.baseUrl }));
  app.route('/uploads', uploadRoutes({ service, signer: deps.uploadSigner, now: deps.now }));

  app.notFound(function notFound(c) {
    return toErrorResponse(new NotFoundError(`no route for ${c.req.method} ${c.req.path}`), c, deps.logger);
  });
  app.onError(function handleError(error, c) {
    return toErrorResponse(error, c, deps.logger);
  });

  return app;
}
