import type { FastifyRequest } from 'fastify';
import { Forbidden, Unauthenticated } from '../errors.js';
import type { ExchangeTokens } from '../tokens/exchange-tokens.js';
import type { Caller, UserTokenVerifier } from '../tokens/user-tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The authenticated user; set by the bearer hook on the routes that need one. */
    caller: Caller;
  }
}

const BEARER = /^Bearer +([^\s]+) *$/i;

/** An onRequest hook: runs before the body is read, so anonymous callers cost no parsing. */
export function requireBearerUser(verifier: UserTokenVerifier, exchange: ExchangeTokens) {
  return async (request: FastifyRequest): Promise<void> => {
    const header = request.headers.authorization;
    if (header === undefined || header === '') {
      throw new Unauthenticated('Not authenticated: send "Authorization: Bearer <token>"');
    }
    const token = BEARER.exec(header)?.[1];
    if (token === undefined) throw new Unauthenticated('Authorization header must have the form "Bearer <token>"');
    // A JWT exchanged for an API key speaks for that key, not for its user's account.
    if (await exchange.isExchangeToken(token)) {
      throw new Forbidden('A token exchanged from an API key cannot manage API keys: use a user token');
    }
    request.caller = await verifier.verify(token);
  };
}
