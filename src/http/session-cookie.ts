import { parse, serialize } from 'cookie';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { StartedSession } from '../auth/web-sessions.js';

// keygate's cookies: HttpOnly (no script reads them), Secure when the request came over https
// (as trustProxy judges it). Read by the routes that take them, never by a hook of every route:
// /verify parses no cookies. The browser session's is SameSite=Strict (no other site's page
// sends it) on Path=/.

export const SESSION_COOKIE = 'keygate_session';

/** A cookie's value, when the request carries it (and it is not empty). */
export function cookieOf(request: FastifyRequest, name: string): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined) return undefined;
  const value = parse(header)[name];
  return value === undefined || value === '' ? undefined : value;
}

export interface CookieToSet {
  name: string;
  value: string;
  maxAgeSeconds: number;
  sameSite: 'strict' | 'lax';
  path: string;
}

/** A Set-Cookie header; Fastify keeps each one an answer sets (a cleared cookie beside a new one). */
export function setCookie(request: FastifyRequest, reply: FastifyReply, cookie: CookieToSet): void {
  const { name, value, maxAgeSeconds, sameSite, path } = cookie;
  reply.header('set-cookie', serialize(name, value, { httpOnly: true, secure: request.protocol === 'https', sameSite, path, maxAge: maxAgeSeconds }));
}

export function sessionCookieOf(request: FastifyRequest): string | undefined {
  return cookieOf(request, SESSION_COOKIE);
}

export function setSessionCookie(request: FastifyRequest, reply: FastifyReply, started: StartedSession): void {
  const maxAgeSeconds = Math.max(0, Math.round((started.expiresAt.getTime() - Date.now()) / 1000));
  setCookie(request, reply, { name: SESSION_COOKIE, value: started.cookieValue, maxAgeSeconds, sameSite: 'strict', path: '/' });
  // An answer that sets a session must never be kept by a cache and handed to another browser.
  reply.header('cache-control', 'no-store');
}

export function clearSessionCookie(request: FastifyRequest, reply: FastifyReply): void {
  setCookie(request, reply, { name: SESSION_COOKIE, value: '', maxAgeSeconds: 0, sameSite: 'strict', path: '/' });
}
