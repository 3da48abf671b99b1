import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest, Unavailable, type KeygateError } from '../errors.js';
import { andThen, type MaybePromise } from '../maybe-promise.js';
import { SCOPE_PATTERN } from '../keys/key-settings.js';
import { refusalError } from '../keys/outcomes.js';
import type { KeyRateLimit, KeyVerifier, VerifiedKey, VerifyRequirements } from '../keys/verifier.js';
import { answerFor } from './errors.js';
import type { ExchangeToken, ExchangeTokens } from '../tokens/exchange-tokens.js';
import { NO_KEY_DETAIL, presentedKey } from './presented-key.js';
import type { RateLimitHook } from './rate-limits.js';
import { BEARER_SCHEME } from './schemas.js';

// Verification over HTTP, for gateways and backends that ask keygate about each request.
// The answers document exactly their fields: anything else is never serialized.
// The handlers are plain functions, not async ones: a warm key (and its recent token) is
// answered in the same tick, without a promise; only what needs I/O or signing returns one.

/** The rate limits of the verification routes: the hook before verification, the per-key stage within it. */
export interface VerificationLimits {
  hook: RateLimitHook | undefined;
  perKey: KeyRateLimit | undefined;
}

const verifiedProperties = {
  valid: { type: 'boolean', const: true },
  user_id: { type: 'string' },
  key_id: { type: 'string' },
  name: { type: 'string' },
  expires_at: { type: 'string', format: 'date-time' },
  environment: { type: 'string', enum: ['live', 'test'], description: 'test keys are for a sandbox: an API may treat them so' },
  scopes: { type: 'array', items: { type: 'string' }, description: "The key's scopes" },
  metadata: { type: 'object', additionalProperties: true, description: "The key's metadata, as its owner set it" },
  remaining: { type: 'integer', description: 'For a key with a quota only: verifications left after this one' },
} as const;
const verifiedRequired = ['valid', 'user_id', 'key_id', 'name', 'expires_at', 'environment', 'scopes', 'metadata'];

/** Where a caller names the scopes a key must have: `?scope=a&scope=b`, or this header (space- or comma-separated). */
export const REQUIRED_SCOPE_HEADER = 'x-keygate-scope';

export const requiredScopeQuery = {
  type: 'object',
  properties: {
    scope: {
      anyOf: [{ type: 'string' }, { type: 'array', items: { type: 'string' } }],
      description: `A scope the key must have (repeat for several; or the ${REQUIRED_SCOPE_HEADER} header). A key lacking one gets 403 insufficient_scope.`,
    },
  },
} as const;

export const errorAnswers = {
  400: { description: 'No API key in the request, or a required scope that no key can have', $ref: 'ErrorResponse#' },
  401: {
    description: 'The key is malformed, forged, unknown, expired, disabled, revoked or rotated away (one detail for all)',
    $ref: 'ErrorResponse#',
  },
  403: { description: 'insufficient_scope: the key lacks a required scope; the detail names them', $ref: 'ErrorResponse#' },
  429: {
    description: "Rate limit exceeded, per key or per client address (with Retry-After); or the key's usage limit (quota) is reached",
    $ref: 'ErrorResponse#',
  },
  503: { description: 'Too many keys waiting for their hash compare, or the database does not answer (with Retry-After)', $ref: 'ErrorResponse#' },
};

export const apiKeySecurity: Record<string, string[]>[] = [{ ApiKeyHeader: [] }, { [BEARER_SCHEME]: [] }];

/** What the verification routes ask of the verifier: an answer without a promise where none is needed. */
export type SettlesKeys = Pick<KeyVerifier, 'verifyNow'>;

/** What a valid key's answer says beyond the key: a quota's remaining. */
export interface Admitted {
  key: VerifiedKey;
  remaining: number | undefined;
}

/**
 * What a request asks of the key beyond being valid: the scopes it names (query or header) and
 * the per-key rate limit. A gateway asks the same few requirements over and over, so each is
 * read once and kept (a few at most: cleared when a thousand pile up); the common request (no
 * scope) allocates nothing.
 */
export function requirementsReader(rateLimit: KeyRateLimit | undefined): (request: FastifyRequest) => VerifyRequirements {
  const plain: VerifyRequirements = { rateLimit };
  const read = new Map<string, VerifyRequirements>();
  return (request) => {
    const query = (request.query as { scope?: string | string[] } | undefined)?.scope;
    const header = request.headers[REQUIRED_SCOPE_HEADER];
    if (query === undefined && header === undefined) return plain;
    const scopes = typeof query === 'string' ? query : (query ?? []).join(' ');
    const asked = header === undefined ? scopes : `${scopes}\n${header}`;
    let requirements = read.get(asked);
    if (requirements === undefined) {
      requirements = { scopes: requiredScopes(asked), rateLimit };
      // Only short texts are kept, so the cache stays small whatever callers send.
      if (asked.length <= MAX_KEPT_REQUIREMENT) {
        if (read.size >= 1000) read.clear();
        read.set(asked, requirements);
      }
    }
    return requirements;
  };
}

/** A requirement text longer than this (a few scopes' worth) is read for its request alone. */
const MAX_KEPT_REQUIREMENT = 512;

function requiredScopes(asked: string): string[] {
  const scopes = asked.split(/[\s,]+/).filter((scope) => scope !== '');
  // A scope no key can hold is the caller's mistake, told as such; and only scopes of this
  // pattern ever reach an answer's WWW-Authenticate field.
  const unusable = scopes.find((scope) => !SCOPE_PATTERN.test(scope));
  if (unusable !== undefined) throw new BadRequest(`A required scope must be 1 to 100 of A-Z a-z 0-9 : . _ -; got ${JSON.stringify(unusable).slice(0, 120)}`);
  return scopes;
}

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
  requirements: VerifyRequirements,
  request: FastifyRequest,
  reply: FastifyReply,
): MaybePromise<Admitted | undefined> {
  return andThen(verifier.verifyNow(presented, requirements), (verification) => {
    if (verification.valid) return { key: verification.key, remaining: verification.remaining };
    const refusal = refusalError(verification);
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

export function verifyRoutes(verifier: SettlesKeys, exchange: ExchangeTokens, limits: VerificationLimits) {
  const { hook: rateLimit, perKey } = limits;
  const requirementsOf = requirementsReader(perKey);
  /** The key a request presents, verified; or undefined once a refusal has been answered. */
  function presentedAndVerified(request: FastifyRequest, reply: FastifyReply): MaybePromise<Admitted | undefined> {
    const presented = presentedKey(request.headers);
    if (presented === undefined) throw new BadRequest(NO_KEY_DETAIL);
    return verifiedKey(verifier, presented, requirementsOf(request), request, reply);
  }

  /**
   * The 200 of /verify, and with the token that of /validate: one literal, no spread (hot path).
   * Each schema serializes only its own fields (/verify's has no username and no token).
   */
  const answer = ({ key, remaining }: Admitted, token?: ExchangeToken) => ({
    valid: true,
    user_id: key.userId,
    key_id: key.keyId,
    name: key.name,
    expires_at: key.expiresAt,
    environment: key.environment,
    scopes: key.scopes,
    metadata: key.metadata,
    remaining,
    username: key.userId,
    access_token: token?.accessToken,
    token_type: token && 'bearer',
    expires_in: token?.expiresIn,
  });

  /**
   * /verify's 200 body for a key without a quota: the same for as long as the verifier keeps the
   * key's object (its row unchanged), so serialized once (by the route's own serializer, so the
   * bytes are those it would write) and sent as is. Scopes and metadata then cost nothing per
   * request. A quota's `remaining` changes with every verification: that body is made each time.
   */
  const verifiedBodies = new WeakMap<VerifiedKey, string>();
  function verifiedBody(admitted: Admitted, reply: FastifyReply): string | ReturnType<typeof answer> {
    if (admitted.remaining !== undefined) return answer(admitted);
    let body = verifiedBodies.get(admitted.key);
    if (body === undefined) {
      // A route's schema serializer makes text.
      body = reply.serialize(answer(admitted)) as string;
      verifiedBodies.set(admitted.key, body);
    }
    reply.type('application/json; charset=utf-8');
    return body;
  }

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
          querystring: requiredScopeQuery,
          response: {
            200: { description: 'The key is valid', type: 'object', required: verifiedRequired, properties: verifiedProperties },
            ...errorAnswers,
          },
        },
      },
      (request, reply) => andThen(presentedAndVerified(request, reply), (admitted) => admitted && verifiedBody(admitted, reply)),
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
          querystring: requiredScopeQuery,
          response: {
            200: {
              description: "The key is valid; access_token carries sub (the user), key_id, environment and the key's scope (space-separated)",
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
        andThen(
          presentedAndVerified(request, reply),
          (admitted) =>
            admitted &&
            andThen(exchange.issue(admitted.key), (token) => {
              // The JWT is a bearer credential for the backends, like a key: no cache may keep it.
              reply.header('cache-control', 'no-store');
              return answer(admitted, token);
            }),
        ),
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
