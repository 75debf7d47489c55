import { FaceptorError, errorFields, LogEvents, type Logger } from '@faceptor/core';
import type { Context } from 'hono';
import { routePath } from 'hono/route';
import { HTTPException } from 'hono/http-exception';
import type { ContentfulStatusCode } from 'hono/utils/http-status';

/** The one error body of the API. */
export interface ErrorBody {
  error: { code: string; message: string };
}

/** Builds the JSON error response `{"error": {"code", "message"}}` with the given status. */
export function errorResponse(c: Context, status: ContentfulStatusCode, code: string, message: string, headers?: Record<string, string>): Response {
  return c.json<ErrorBody>({ error: { code, message } }, status, headers);
}

const httpExceptionCodes: Record<number, string> = {
  400: 'invalid_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
};

/**
 * Maps any thrown value to the JSON error response: FaceptorErrors keep their code and status,
 * Hono's HTTPExceptions get a code from their status, and everything else is a logged 500 whose
 * message reveals nothing internal.
 */
export function toErrorResponse(error: unknown, c: Context, logger: Logger): Response {
  if (error instanceof FaceptorError) {
    const headers = error.status === 401 ? { 'WWW-Authenticate': 'Bearer' } : undefined;
    if (error.status >= 500) logger.error({ event: LogEvents.requestFailed, route: routePath(c, -1), ...errorFields(error) }, 'request failed');
    return errorResponse(c, error.status as ContentfulStatusCode, error.code, error.message, headers);
  }
  if (error instanceof HTTPException) {
    const status = error.status as ContentfulStatusCode;
    return errorResponse(c, status, httpExceptionCodes[status] ?? 'http_error', error.message || `HTTP ${status}`);
  }
  logger.error({ event: LogEvents.requestFailed, method: c.req.method, route: routePath(c, -1), ...errorFields(error) }, 'request failed');
  return errorResponse(c, 500, 'internal_error', 'internal error: the request was not completed; retry later');
}
