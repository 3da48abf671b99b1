import { parseCookie, stringifySetCookie, type SetCookie } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StartedSession } from '../auth/web-sessions.js';

// The browser session's cookie: HttpOnly (no script reads it), SameSite=Strict (no other site's
// page sends it), Path=/, Secure when the request came over https (as trustProxy judges it).
// Read by the routes that take it, never by a hook of every route: /verify parses no cookies.

export const SESSION_COOKIE = 'keygate_session';

/** The session cookie's value, when the request carries one. */
export function sessionCookieOf(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const value = parseCookie(header)[SESSION_COOKIE];
  return value === undefined || value === '' ? undefined : value;
}

function attributes(request: FastifyRequest): Omit<SetCookie, 'name' | 'value'> {
  return { httpOnly: true, sameSite: 'strict', path: '/', secure: request.protocol === 'https' };
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, started: StartedSession): void {
  const maxAge = Math.max(0, Math.round((started.expiresAt.getTime() - Date.now()) / 1000));
  reply.header('set-cookie', stringifySetCookie({ name: SESSION_COOKIE, value: started.cookieValue, maxAge, ...attributes(request) }));
  // An answer that sets a session must never be kept by a cache and handed to another browser.
  reply.header('cache-control', 'no-store');
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  reply.header('set-cookie', stringifySetCookie({ name: SESSION_COOKIE, value: '', maxAge: 0, ...attributes(request) }));
}
