import {
  InsufficientScopeError,
  InvalidTokenError,
  type OAuthError,
  ServerError,
  TemporarilyUnavailableError,
  TooManyRequestsError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth, type BearerAuthMiddlewareOptions } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { TooManyRequests, Unavailable } from '../errors.js';
import { answerFor } from '../http/errors.js';
import { refusalError, refusalMeaning, type McpError } from '../keys/outcomes.js';
import { checkPresentedKey, type CheckedKey, type VerifiesKeys } from './authenticate-request.js';

// Only this module imports @modelcontextprotocol/sdk (an optional peer dependency), and it is
// reached only through 'keygate/mcp', so users of the rest of keygate never load the SDK.
//
// The SDK's requireBearerAuth answers InvalidTokenError with 401, ServerError and any error it
// does not know with 500, InsufficientScopeError with 403, and every other OAuthError with 400:
// it has no 503 and no 429. So behind the bare requireBearerAuth, "not now" (verification
// overloaded, the database does not answer) can only be a 500 naming the reason, and "slow down"
// (the key's quota used up; a rate limit, from a verifier that applies one) a 400. keygateBearerAuth is requireBearerAuth with those two
// answers added: 503 and 429, with Retry-After.
//
// Required scopes: the SDK checks `requiredScopes` against AuthInfo.scopes after the verifier
// answered, and by then keygate has counted the verification and used a quota's one. So they are
// also given to keygate (keygateBearerAuth passes its requiredScopes on; keygateMcpVerifier takes
// them as an option), which refuses a key lacking one as insufficient_scope before either.
//
// Which SDK error a refusal raises is outcomes.ts's to say; here is only the SDK's class for each
// OAuth error code.

const SDK_ERRORS = {
  invalid_token: InvalidTokenError,
  insufficient_scope: InsufficientScopeError,
  too_many_requests: TooManyRequestsError,
  server_error: ServerError,
} satisfies Record<McpError, new (message: string) => OAuthError>;

export interface McpVerifierOptions {
  /** Scopes every key must have: give the same as requireBearerAuth's requiredScopes (see above). */
  requiredScopes?: readonly string[];
}

/**
 * Lets an MCP server accept keygate keys as bearer tokens:
 * `requireBearerAuth({ verifier: keygateMcpVerifier(await createKeyVerifier({ databaseUrl })) })`.
 * AuthInfo.scopes are the key's scopes, so requireBearerAuth's requiredScopes work; tools find the
 * key in `extra.authInfo.extra` ({ userId, keyId, name, environment, metadata, remaining }).
 * Under the bare requireBearerAuth, "not now" is a 500 (ServerError) and "slow down" a 400;
 * keygateBearerAuth makes them 503 and 429.
 */
export function keygateMcpVerifier(verifier: VerifiesKeys, options: McpVerifierOptions = {}): OAuthTokenVerifier {
  const requirements = { scopes: options.requiredScopes };
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      return authInfoOf(token, await checkPresentedKey(verifier, token, requirements));
    },
  };
}

type BearerAuth = ReturnType<typeof requireBearerAuth>;

/**
 * requireBearerAuth with keygateMcpVerifier, plus the answers the SDK lacks: 503 with Retry-After
 * (`{"error": "temporarily_unavailable", "error_description": ...}`) when keygate cannot verify
 * now, and 429 (`too_many_requests`) when the key's quota is used up. Every other answer is the
 * SDK's own:
 * `app.post('/mcp', keygateBearerAuth(await createKeyVerifier({ databaseUrl })), handleMcp)`.
 */
export function keygateBearerAuth(verifier: VerifiesKeys, options: Omit<BearerAuthMiddlewareOptions, 'verifier'> = {}): BearerAuth {
  const requirements = { scopes: options.requiredScopes };
  const shared = keygateMcpVerifier(verifier, { requiredScopes: options.requiredScopes });
  const sdkAlone = requireBearerAuth({ ...options, verifier: shared });
  // Async like the SDK's own middleware: Express 5 passes a rejection on to its error handler.
  return async (request, response, next) => {
    const token = bearerToken(request.headers.authorization);
    // No usable header: the SDK refuses it (401) without asking any verifier.
    if (token === undefined) return sdkAlone(request, response, next);
    const checked = await checkPresentedKey(verifier, token, requirements);
    const answered = answeredHere(checked);
    if (answered !== undefined) {
      const { status, headers } = answerFor(answered, undefined)!;
      const body = answered instanceof Unavailable ? new TemporarilyUnavailableError(answered.message) : new TooManyRequestsError(answered.message);
      response.status(status).set(headers).json(body.toResponseObject());
      return;
    }
    // The rest of the checks (resource, scopes, expiry) and answers are the SDK's, on the
    // outcome at hand. Should the SDK ever read another token from the header than
    // bearerToken() did, that one is verified on its own.
    const settled: OAuthTokenVerifier = {
      verifyAccessToken: async (presented) => (presented === token ? authInfoOf(token, checked) : shared.verifyAccessToken(presented)),
    };
    return requireBearerAuth({ ...options, verifier: settled })(request, response, next);
  };
}

/** The token as requireBearerAuth reads it (`Bearer <token>`, split on one space), or undefined. */
function bearerToken(authorization: string | undefined): string | undefined {
  const [type, token] = (authorization ?? '').split(' ');
  return type?.toLowerCase() === 'bearer' && token ? token : undefined;
}

/**
 * The refusals the SDK has no answer for: keygate cannot verify now (overloaded, or the database
 * does not answer), or the caller must slow down (the key's rate limit or quota).
 */
function answeredHere(checked: CheckedKey): Unavailable | TooManyRequests | undefined {
  if (checked instanceof Unavailable) return checked;
  const refusal = checked.valid ? undefined : refusalError(checked);
  return refusal instanceof Unavailable || refusal instanceof TooManyRequests ? refusal : undefined;
}

function authInfoOf(token: string, checked: CheckedKey): AuthInfo {
  // The database does not answer: the server's trouble, worth retrying, where the 400 of
  // another OAuthError would blame the request.
  if (checked instanceof Unavailable) throw new ServerError(checked.message);
  if (!checked.valid) throw new SDK_ERRORS[refusalMeaning(checked.reason).mcp](refusalError(checked).message);
  const { key, remaining } = checked;
  return {
    token,
    clientId: key.keyId,
    scopes: [...key.scopes],
    // requireBearerAuth refuses a token without a numeric expiresAt. Not rounded down: that
    // could make it call a key expired that keygate has just accepted in its last second.
    expiresAt: Date.parse(key.expiresAt) / 1000,
    extra: { userId: key.userId, keyId: key.keyId, name: key.name, environment: key.environment, metadata: key.metadata, remaining },
  };
}
