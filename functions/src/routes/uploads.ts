import { Hono } from 'hono';
import type { AppEnv } from '../app-env.ts';
import type { JobService } from '../job-service.ts';
import { readBodyWithLimit } from '../read-body.ts';
import type { UploadTokenSigner } from '../upload-token.ts';

/**
 * Route `PUT /uploads/<token>`: the embedded mode's stand-in for a presigned S3 upload. The token
 * authorizes the request, so there is no API key check.
 */
export function uploadRoutes(options: { service: JobService; signer: UploadTokenSigner; now?: () => Date }): Hono<AppEnv> {
  const routes = new Hono<AppEnv>();

  routes.put('/:token', async function putUpload(c) {
    const grant = options.signer.verify(c.req.param('token'), options.now?.() ?? new Date());
    const record = await options.service.checkUploadable(grant);
    const body = await readBodyWithLimit(c.req.raw, Math.min(grant.maxBytes, record.upload.maxBytes));

    const queued = await options.service.acceptUpload(record, body);
    return c.json({ id: queued.id, status: queued.state }, 200);
  });

  return routes;
}
