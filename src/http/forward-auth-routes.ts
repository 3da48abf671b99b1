import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Unauthenticated } from '../errors.js';
import { andThen } from '../maybe-promise.js';
import type { ExchangeToken, ExchangeTokens } from '../tokens/exchange-tokens.js';
import { NO_KEY_DETAIL, presentedKey } from './presented-key.js';
import {
  answerRefusal,
  errorAnswers,
  requiredScopeQuery,
  requirementsReader,
  verifiedKey,
  type Admitted,
  type SettlesKeys,
  type VerificationLimits,
} from './verify-routes.js';

// Forward authentication, for a gateway that asks keygate about every request before passing it
// on: nginx auth_request, Traefik forwardAuth, Caddy forward_auth. They read the decision from
// the status alone (2xx lets the request through; nginx takes 401 and 403 as refusals and turns
// anything else into a 500) and pass on response *header* fields, never the body. So this route
// answers in header fields, and /verify stays as it is: three more fields on each of its answers
// would cost its hot path (see rate-limits.ts). The same verifier, refusals and rate limits as
// /verify; a missing key is a 401 here, not /verify's 400, which a gateway would take for a
// failure of its own.

const FORWARD_AUTH_PATH = '/api/v1/api-keys/forward-auth';

/** The user id, as decodeURIComponent gives it back (see userIdField). */
const USER_ID_HEADER = 'x-keygate-user-id';
const KEY_ID_HEADER = 'x-keygate-key-id';
const ENVIRONMENT_HEADER = 'x-keygate-environment';
/** Space-separated, as the JWT's scope claim; empty for a key without scopes. */
const SCOPES_HEADER = 'x-keygate-scopes';
/** For a key with a quota: verifications left. */
const REMAINING_HEADER = 'x-keygate-remaining';

/**
 * A gateway's subrequest carries the client's method: nginx passes it on, Traefik and Caddy send
 * GET. HEAD comes with GET (Fastify's exposeHeadRoutes).
 */
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'];

/** Made once: a gateway in front of a public site sees requests without a key all day. */
const NO_KEY = new Unauthenticated(NO_KEY_DETAIL);

interface ForwardAuthQuery {
  /** `true`: also an exchanged JWT, in `Authorization: Bearer <jwt>`. */
  jwt?: 'true' | 'false';
  scope?: string | string[];
}

/**
 * A user id as a header field can carry it. User ids are any printable, well-formed Unicode; a
 * field is bytes, of which Node sends only Latin-1 (anything beyond fails the whole answer) and
 * a gateway passes on only visible ASCII intact. encodeURI leaves ids of letters, digits and
 * `@.-_+:/` as they are and escapes every other character, `%` included, so decodeURIComponent
 * gives the id back exactly.
 */
const userIdField = (userId: string): string => encodeURI(userId);

export function forwardAuthRoutes(verifier: SettlesKeys, exchange: ExchangeTokens, limits: VerificationLimits) {
  const { hook: rateLimit, perKey } = limits;
  const requirementsOf = requirementsReader(perKey);
  /** The 200: the decision and the identity, in header fields; no body (gateways drop it). */
  function admit(reply: FastifyReply, { key, remaining }: Admitted, token?: ExchangeToken): void {
    reply
      .header(USER_ID_HEADER, userIdField(key.userId))
      .header(KEY_ID_HEADER, key.keyId)
      .header(ENVIRONMENT_HEADER, key.environment)
      .header(SCOPES_HEADER, key.scopes.join(' '));
    if (remaining !== undefined) reply.header(REMAINING_HEADER, remaining);
    if (token !== undefined) reply.header('authorization', `Bearer ${token.accessToken}`);
    reply.code(200).send();
  }

  /** Plain, not async: a warm key (and its recent token) is answered in the same tick, as on /verify. */
  function decide(request: FastifyRequest<{ Querystring: ForwardAuthQuery }>, reply: FastifyReply) {
    const presented = presentedKey(request.headers);
    if (presented === undefined) return answerRefusal(NO_KEY, request, reply);
    const withJwt = request.query.jwt === 'true';
    return andThen(verifiedKey(verifier, presented, requirementsOf(request), request, reply), (admitted) => {
      if (admitted === undefined) return undefined;
      return withJwt ? andThen(exchange.issue(admitted.key), (token) => admit(reply, admitted, token)) : admit(reply, admitted);
    });
  }

  return async (app: FastifyInstance): Promise<void> => {
    app.route<{ Querystring: ForwardAuthQuery }>({
      method: METHODS,
      url: FORWARD_AUTH_PATH,
      onRequest: rateLimit,
      schema: {
        // The gateway's endpoint, described in the README: a generated client would find nothing
        // to read in its answer, which is all in header fields.
        hide: true,
        querystring: {
          type: 'object',
          properties: { jwt: { type: 'string', enum: ['true', 'false'] }, scope: requiredScopeQuery.properties.scope },
        },
        response: {
          401: { description: 'No key, or a key refused as on /verify (one detail for all)', $ref: 'ErrorResponse#' },
          403: errorAnswers[403],
          429: errorAnswers[429],
          503: errorAnswers[503],
        },
      },
      handler: decide,
    });
  };
}
