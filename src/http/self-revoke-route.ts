import type { FastifyInstance } from 'fastify';
import { BadRequest } from '../errors.js';
import type { ApiKeyService } from '../keys/api-key-service.js';
import { refusalError } from '../keys/outcomes.js';
import type { KeyVerifier } from '../keys/verifier.js';
import { originOf } from './actor.js';
import { NO_KEY_DETAIL, presentedKey } from './presented-key.js';
import type { RateLimitHook } from './rate-limits.js';
import { apiKeySecurity, errorAnswers } from './verify-routes.js';

// Whoever holds a key can kill it: the finder of a leaked key does not know its owner, and needs
// no account. The key is its own proof, checked as verification checks its secret (a disabled,
// expired or exhausted key can be revoked too, as can the old secret during a grace, which kills
// the whole key). Under the verification routes' per-address limit.

export function selfRevokeRoute(verifier: Pick<KeyVerifier, 'secretHolder'>, service: ApiKeyService, rateLimit: RateLimitHook | undefined) {
  return async (app: FastifyInstance): Promise<void> => {
    app.post(
      '/api/v1/api-keys/self-revoke',
      {
        onRequest: rateLimit,
        schema: {
          operationId: 'self_revoke_api_key',
          summary: 'Self-revoke Api Key',
          description:
            'Revokes the presented key (X-API-Key, or Authorization: ApiKey or Bearer), whoever sends it: ' +
            'for a holder who leaked it, or a finder who does not know its owner. The very next verification is a 401.',
          tags: ['Verification'],
          security: apiKeySecurity,
          response: {
            204: { description: 'The key is revoked', type: 'null' },
            400: errorAnswers[400],
            401: errorAnswers[401],
            429: errorAnswers[429],
            503: errorAnswers[503],
          },
        },
      },
      async (request, reply) => {
        const presented = presentedKey(request.headers);
        if (presented === undefined) throw new BadRequest(NO_KEY_DETAIL);
        const holder = await verifier.secretHolder(presented);
        // The one answer of every refused key, so that nothing tells a wrong key from a revoked one.
        if (holder === undefined) throw refusalError({ reason: 'unknown' });
        // The key's own secret is the proof: its holder acts on that key alone.
        await service.revoke({ type: 'key_holder', id: holder.keyId, origin: originOf(request) }, holder.keyId);
        return reply.code(204).send();
      },
    );
  };
}
