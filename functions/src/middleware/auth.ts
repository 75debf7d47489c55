import { UnauthorizedError, type ApiKeyStore } from '@faceptor/core';
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from '../app-env.ts';

const bearerPattern = /^Bearer[ ]+([^\s]+)[ ]*$/i;

/**
 * Middleware that resolves `Authorization: Bearer <API key>` to a tenant and stores it as `tenant`.
 * Throws UnauthorizedError (401) for a missing header, another scheme or an unknown key.
 */
export function bearerAuth(apiKeys: ApiKeyStore): MiddlewareHandler<AppEnv> {
  return async function bearerAuthMiddleware(c, next) {
    const header = c.req.header('authorization');
    if (!header) throw new UnauthorizedError('missing Authorization header: send "Authorization: Bearer <API key>"');

    const match = bearerPattern.exec(header);
    if (!match) throw new UnauthorizedError('invalid Authorization header: expected the Bearer scheme, "Authorization: Bearer <API key>"');

    const tenant = await apiKeys.tenantFor(match[1]!);
    if (!tenant) throw new UnauthorizedError('API key is not valid: check the key or create a new one');

    c.set('tenant', tenant);
    await next();
  };
}
