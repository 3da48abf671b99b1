import type { IncomingHttpHeaders } from 'node:http';

const AUTHORIZATION = /^(?:ApiKey|Bearer) +([^\s]+) *$/i;

/**
 * The API key a request presents: `X-API-Key: <key>`, `Authorization: ApiKey <key>` or
 * `Authorization: Bearer <key>`, in that order. Shared by the verify routes and the glue for
 * other servers (Fastify, Express), so all of them read keys the same way.
 */
export function presentedKey(headers: IncomingHttpHeaders): string | undefined {
  const header = headers['x-api-key'];
  const fromHeader = (Array.isArray(header) ? header[0] : header)?.trim();
  if (fromHeader) return fromHeader;
  const authorization = headers.authorization;
  return authorization === undefined ? undefined : AUTHORIZATION.exec(authorization)?.[1];
}

export const NO_KEY_DETAIL =
  'No API key: send it as "X-API-Key: <key>", "Authorization: ApiKey <key>" or "Authorization: Bearer <key>"';
