import type { FastifyRequest } from 'fastify';
import type { WebSessions } from '../auth/web-sessions.js';
import { Forbidden, Unauthenticated } from '../errors.js';
import type { ExchangeTokens } from '../tokens/exchange-tokens.js';
import type { Caller, UserTokenVerifier } from '../tokens/user-tokens.js';
import { sessionCookieOf } from './session-cookie.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the bearer hook on the routes that need one. */
    caller: Caller;
  }
}

/** What tells who calls a management route: a bearer user token, or a browser session's cookie. */
export interface CallerAuthentication {
  users: UserTokenVerifier;
  exchange: ExchangeTokens;
  sessions: WebSessions;
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/** Methods that change something: a cookie-authenticated request of these must prove it comes from keygate's page. */
const UNSAFE_METHODS = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export const CSRF_HEADER = 'x-csrf-token';

/**
 * An onRequest hook: runs before the body is read, so anonymous callers cost no parsing. The
 * Authorization header wins when there is one; without it, the session cookie.
 */
export function requireBearerUser(authentication: CallerAuthentication) {
  const { users, exchange } = authentication;
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      request.caller = await sessionCaller(authentication, request);
      return;
    }
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new Unauthenticated('Authorization header must have the form "Bearer <token>"');
    // A JWT exchanged for an API key speaks for that key, not for its user's account.
    if (await exchange.isExchangeToken(token)) {
      throw new Forbidden('A token exchanged from an API key cannot manage API keys: use a user token');
    }
    request.caller = await users.verify(token);
  };
}

async function sessionCaller({ users, sessions }: CallerAuthentication, request: FastifyRequest): Promise<Caller> {
  const cookieValue = sessionCookieOf(request);
  if (cookieValue === undefined) throw new Unauthenticated('Not authenticated: send "Authorization: Bearer <token>"');
  const session = await sessions.find(cookieValue);
  if (session === undefined) throw new Unauthenticated('The session has ended or expired: sign in again');
  // The browser sends the cookie with any request to keygate, a forged one from another page's
  // form included (SameSite=Strict aside); only keygate's page knows the token.
  if (UNSAFE_METHODS.has(request.method) && !sessions.csrfTokenMatches(cookieValue, csrfHeaderOf(request))) {
    throw new Forbidden(`A ${request.method} with the session cookie needs the X-CSRF-Token header that sign-in answered`);
  }
  return users.callerOf(session.userId, session.scopes);
}

/** The X-CSRF-Token header, when it was sent once. */
export function csrfHeaderOf(request: FastifyRequest): string | undefined {
  const value = request.headers[CSRF_HEADER];
  return typeof value === 'string' ? value : undefined;
}
