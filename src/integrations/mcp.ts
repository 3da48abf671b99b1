import { InvalidTokenError, ServerError, TemporarilyUnavailableError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth, type BearerAuthMiddlewareOptions } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { KeygateError, Unavailable } from '../errors.js';
import { answerFor } from '../http/errors.js';
import { INVALID_KEY_DETAIL, type VerifiedKey } from '../keys/verifier.js';
import { checkPresentedKey, type VerifiesKeys } from './authenticate-request.js';

// Only this module imports @modelcontextprotocol/sdk (an optional peer dependency), and it is
// reached only through 'keygate/mcp', so users of the rest of keygate never load the SDK.
//
// The SDK's requireBearerAuth answers InvalidTokenError with 401, ServerError and any error it
// does not know with 500, and every other OAuthError with 400: it has no 503. So behind the bare
// requireBearerAuth, "not now" (verification overloaded, the database does not answer) can only
// be a 500 naming the reason. keygateBearerAuth is requireBearerAuth with that one answer added:
// 503 with Retry-After.

/**
 * Lets an MCP server accept keygate keys as bearer tokens:
 * `requireBearerAuth({ verifier: keygateMcpVerifier(await createKeyVerifier({ databaseUrl })) })`.
 * Tools then find the key's owner in `extra.authInfo.extra` ({ userId, keyId, name }).
 * Under the bare requireBearerAuth, "not now" is a 500 (ServerError); keygateBearerAuth makes it a 503.
 */
export function keygateMcpVerifier(verifier: VerifiesKeys): OAuthTokenVerifier {
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      return authInfoOf(token, await checkPresentedKey(verifier, token));
    },
  };
}

type BearerAuth = ReturnType<typeof requireBearerAuth>;

/**
 * requireBearerAuth with keygateMcpVerifier, plus the answer the SDK lacks: 503 with Retry-After
 * (`{"error": "temporarily_unavailable", "error_description": ...}`) when keygate cannot verify
 * now. Every other answer is the SDK's own:
 * `app.post('/mcp', keygateBearerAuth(await createKeyVerifier({ databaseUrl })), handleMcp)`.
 */
export function keygateBearerAuth(verifier: VerifiesKeys, options: Omit<BearerAuthMiddlewareOptions, 'verifier'> = {}): BearerAuth {
  const shared = keygateMcpVerifier(verifier);
  const sdkAlone = requireBearerAuth({ ...options, verifier: shared });
  // Async like the SDK's own middleware: Express 5 passes a rejection on to its error handler.
  return async (request, response, next) => {
    const token = bearerToken(request.headers.authorization);
    // No usable header: the SDK refuses it (401) without asking any verifier.
    if (token === undefined) return sdkAlone(request, response, next);
    const outcome = await checkPresentedKey(verifier, token);
    if (outcome instanceof Unavailable) {
      const { status, headers } = answerFor(outcome, undefined)!;
      response.status(status).set(headers).json(new TemporarilyUnavailableError(outcome.message).toResponseObject());
      return;
    }
    // The rest of the checks (resource, scopes, expiry) and answers are the SDK's, on the
    // outcome at hand. Should the SDK ever read another token from the header than
    // bearerToken() did, that one is verified on its own.
    const settled: OAuthTokenVerifier = {
      verifyAccessToken: async (presented) => (presented === token ? authInfoOf(token, outcome) : shared.verifyAccessToken(presented)),
    };
    return requireBearerAuth({ ...options, verifier: settled })(request, response, next);
  };
}

/** The token as requireBearerAuth reads it (`Bearer <token>`, split on one space), or undefined. */
function bearerToken(authorization: string | undefined): string | undefined {
  const [type, token] = (authorization ?? '').split(' ');
  return type?.toLowerCase() === 'bearer' && token ? token : undefined;
}

function authInfoOf(token: string, outcome: VerifiedKey | KeygateError): AuthInfo {
  // Not now (overloaded, the database does not answer): the server's trouble, worth retrying,
  // where the 400 of another OAuthError would blame the request.
  if (outcome instanceof Unavailable) throw new ServerError(outcome.message);
  // One message for malformed, unknown (revoked, rotated away) and expired, as everywhere in
  // keygate: nothing tells a wrong key from a revoked one.
  if (outcome instanceof KeygateError) throw new InvalidTokenError(INVALID_KEY_DETAIL);
  return {
    token,
    clientId: outcome.keyId,
    scopes: [],
    // requireBearerAuth refuses a token without a numeric expiresAt. Not rounded down: that
    // could make it call a key expired that keygate has just accepted in its last second.
    expiresAt: Date.parse(outcome.expiresAt) / 1000,
    extra: { userId: outcome.userId, keyId: outcome.keyId, name: outcome.name },
  };
}
