import type { FastifyRequest } from 'fastify';
import { Unauthenticated } from '../errors.js';
import type { Caller, UserTokenVerifier } from '../tokens/user-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the bearer hook on the routes that need one. */
    caller: Caller;
  }
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/** An onRequest hook: runs before the body is read, so anonymous callers cost no parsing. */
export function requireBearerUser(verifier: UserTokenVerifier) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw new Unauthenticated('Not authenticated: send "Authorization: Bearer <token>"');
    }
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new Unauthenticated('Authorization header must have the form "Bearer <token>"');
    request.caller = await verifier.verify(token);
  };
}
