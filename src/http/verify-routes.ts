import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest, Unavailable, type KeygateError } from '../errors.js';
import { andThen, type MaybePromise } from '../maybe-promise.js';
import { refusalError } from '../keys/outcomes.js';
import type { KeyVerifier, VerifiedKey } from '../keys/verifier.js';
import { answerFor } from './errors.js';
import type { ExchangeToken, ExchangeTokens } from '../tokens/exchange-tokens.js';
import { NO_KEY_DETAIL, presentedKey } from './presented-key.js';
import type { RateLimitHook } from './rate-limits.js';
import { BEARER_SCHEME } from './schemas.js';

// Verification over HTTP, for gateways and backends that ask keygate about each request.
// The answers document exactly their fields: anything else is never serialized.
// The handlers are plain functions, not async ones: a warm key (and its recent token) is
// answered in the same tick, without a promise; only what needs I/O or signing returns one.

const verifiedProperties = {
  valid: { type: 'boolean', const: true },
  user_id: { type: 'string' },
  key_id: { type: 'string' },
  name: { type: 'string' },
  expires_at: { type: 'string', format: 'date-time' },
} as const;
const verifiedRequired = ['valid', 'user_id', 'key_id', 'name', 'expires_at'];

export const errorAnswers = {
  400: { description: 'No API key in the request', $ref: 'ErrorResponse#' },
  401: { description: 'The key is malformed, forged, unknown, expired, revoked or rotated away (one detail for all)', $ref: 'ErrorResponse#' },
  429: { description: 'Rate limit exceeded, per key or per client address (with Retry-After)', $ref: 'ErrorResponse#' },
  503: { description: 'Too many keys waiting for their hash compare, or the database does not answer (with Retry-After)', $ref: 'ErrorResponse#' },
};

export const apiKeySecurity: Record<string, string[]>[] = [{ ApiKeyHeader: [] }, { [BEARER_SCHEME]: [] }];

/** What the verification routes ask of the verifier: an answer without a promise where none is needed. */
export type SettlesKeys = Pick<KeyVerifier, 'verifyNow'>;

/**
 * `presented`, verified; or undefined once its refusal has been answered, as outcomes.ts says.
 * A refusal of the key is answered here, not thrown: a wrong key repeated is as frequent as a
 * warm one, and Fastify's error path would cost more than the verification (the error is made
 * once per outcome, not per request). One that is keygate's own trouble (an Unavailable:
 * overloaded) is thrown, for the error handler to log as well as answer (503 with
 * Retry-After), as are database outages.
 */
export function verifiedKey(
  verifier: SettlesKeys,
  presented: string,
  request: FastifyRequest,
  reply: FastifyReply,
): MaybePromise<VerifiedKey | undefined> {
  return andThen(verifier.verifyNow(presented), (verification) => {
    if (verification.valid) return verification.key;
    const refusal = refusalError(verification.reason);
    if (refusal instanceof Unavailable) throw refusal;
    answerRefusal(refusal, request, reply);
    return undefined;
  });
}

/** Answers `refusal` directly, with the challenge and detail the error handler would give. */
export function answerRefusal(refusal: KeygateError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, headers, detail } = answerFor(refusal, request.headers.authorization)!;
  reply.code(status).headers(headers).send({ detail });
}

export function verifyRoutes(verifier: SettlesKeys, exchange: ExchangeTokens, rateLimit?: RateLimitHook) {
  /** The key a request presents, verified; or undefined once a refusal has been answered. */
  function presentedAndVerified(request: FastifyRequest, reply: FastifyReply): MaybePromise<VerifiedKey | undefined> {
    const presented = presentedKey(request.headers);
    if (presented === undefined) throw new BadRequest(NO_KEY_DETAIL);
    return verifiedKey(verifier, presented, request, reply);
  }

  /**
   * The 200 of /verify, and with the token that of /validate: one literal, no spread (hot path).
   * Each schema serializes only its own fields (/verify's has no username and no token).
   */
  const answer = (key: VerifiedKey, token?: ExchangeToken) => ({
    valid: true,
    user_id: key.userId,
    key_id: key.keyId,
    name: key.name,
    expires_at: key.expiresAt,
    username: key.userId,
    access_token: token?.accessToken,
    token_type: token && 'bearer',
    expires_in: token?.expiresIn,
  });

  return async (app: FastifyInstance): Promise<void> => {
    app.post(
      '/api/v1/api-keys/verify',
      {
        onRequest: rateLimit,
        schema: {
          operationId: 'verify_api_key',
          summary: 'Verify Api Key',
          description: 'Checks the presented API key and names its owner. Exact on the very next request after a rotate or revoke.',
          tags: ['Verification'],
          security: apiKeySecurity,
          response: {
            200: { description: 'The key is valid', type: 'object', required: verifiedRequired, properties: verifiedProperties },
            ...errorAnswers,
          },
        },
      },
      (request, reply) => andThen(presentedAndVerified(request, reply), (key) => key && answer(key)),
    );

    app.post(
      '/api/v1/api-keys/validate',
      {
        onRequest: rateLimit,
        schema: {
          operationId: 'validate_api_key',
          summary: 'Validate Api Key',
          description:
            'Checks the presented API key and exchanges it for a short-lived JWT signed by keygate (EdDSA; keys at /.well-known/jwks.json).',
          tags: ['Verification'],
          security: apiKeySecurity,
          response: {
            200: {
              description: 'The key is valid; access_token carries sub (the user) and key_id',
              type: 'object',
              required: [...verifiedRequired, 'username', 'access_token', 'token_type', 'expires_in'],
              properties: {
                ...verifiedProperties,
                username: {
                  type: 'string',
                  description:
                    "The user's display name where keygate knows one, else user_id (the sub). keygate knows no display names today: always user_id.",
                },
                access_token: { type: 'string' },
                token_type: { type: 'string', const: 'bearer' },
                expires_in: { type: 'integer', description: 'Seconds until access_token expires' },
              },
            },
            ...errorAnswers,
          },
        },
      },
      (request, reply) =>
        andThen(presentedAndVerified(request, reply), (key) => key && andThen(exchange.issue(key), (token) => answer(key, token))),
    );

    app.get(
      '/.well-known/jwks.json',
      {
        schema: {
          operationId: 'exchange_jwks',
          summary: 'Exchange token keys',
          description: 'The public keys that verify tokens from /api/v1/api-keys/validate, by kid.',
          tags: ['Verification'],
        },
      },
      async (_request, reply) => {
        reply.header('Cache-Control', 'public, max-age=300');
        return exchange.jwks();
      },
    );
  };
}
