import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VerifiedKey } from '../keys/verifier.js';
import { authenticateRequest, type KeyRequirements, type VerifiesKeys } from './authenticate-request.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** The verified API key, set by keygate's preHandler on the routes it protects. */
    apiKey?: VerifiedKey;
  }
}

/**
 * A Fastify preHandler that admits only requests with a valid keygate key:
 * `app.get('/data', { preHandler: keygateFastify(verifier) }, handler)`, or
 * `app.addHook('preHandler', keygateFastify(verifier))` for every route of a plugin; with
 * `{ scopes: ['tools:call'] }`, only keys that have all of them (others get 403 insufficient_scope).
 */
export function keygateFastify(verifier: VerifiesKeys, requirements: KeyRequirements = {}) {
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    const outcome = await authenticateRequest(verifier, request.headers, requirements);
    if ('key' in outcome) {
      request.apiKey = outcome.key;
      return;
    }
    const { status, headers, detail } = outcome.refusal;
    await reply.code(status).headers(headers).send({ detail });
  };
}
