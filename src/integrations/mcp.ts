import {
  InvalidTokenError,
  type OAuthError,
  ServerError,
  TemporarilyUnavailableError,
} from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { requireBearerAuth, type BearerAuthMiddlewareOptions } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { Unavailable } from '../errors.js';
import { answerFor } from '../http/errors.js';
import { refusalError, refusalMeaning, type McpError } from '../keys/outcomes.js';
import { checkPresentedKey, type CheckedKey, type VerifiesKeys } from './authenticate-request.js';

// Only this module imports @modelcontextprotocol/sdk (an optional peer dependency), and it is
// reached only through 'keygate/mcp', so users of the rest of keygate never load the SDK.
//
// The SDK's requireBearerAuth answers InvalidTokenError with 401, ServerError and any error it
// does not know with 500, and every other OAuthError with 400: it has no 503. So behind the bare
// requireBearerAuth, "not now" (verification overloaded, the database does not answer) can only
// be a 500 naming the reason. keygateBearerAuth is requireBearerAuth with that one answer added:
// 503 with Retry-After.
//
// Which SDK error a refusal raises is outcomes.ts's to say; here is only the SDK's class for each
// OAuth error code.

const SDK_ERRORS = {
  invalid_token: InvalidTokenError,
  server_error: ServerError,
} satisfies Record<McpError, new (message: string) => OAuthError>;

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
    const checked = await checkPresentedKey(verifier, token);
    const unavailable = notNow(checked);
    if (unavailable !== undefined) {
      const { status, headers } = answerFor(unavailable, undefined)!;
      response.status(status).set(headers).json(new TemporarilyUnavailableError(unavailable.message).toResponseObject());
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

/** Why keygate cannot verify now (overloaded, or the database does not answer), or undefined when it could. */
function notNow(checked: CheckedKey): Unavailable | undefined {
  if (checked instanceof Unavailable) return checked;
  const refusal = checked.valid ? undefined : refusalError(checked.reason);
  return refusal instanceof Unavailable ? refusal : undefined;
}

function authInfoOf(token: string, checked: CheckedKey): AuthInfo {
  // The database does not answer: the server's trouble, worth retrying, where the 400 of
  // another OAuthError would blame the request.
  if (checked instanceof Unavailable) throw new ServerError(checked.message);
  if (!checked.valid) {
    const { error, mcp } = refusalMeaning(checked.reason);
    throw new SDK_ERRORS[mcp](error.message);
  }
  const { key } = checked;
  return {
    token,
    clientId: key.keyId,
    scopes: [],
    // requireBearerAuth refuses a token without a numeric expiresAt. Not rounded down: that
    // could make it call a key expired that keygate has just accepted in its last second.
    expiresAt: Date.parse(key.expiresAt) / 1000,
    extra: { userId: key.userId, keyId: key.keyId, name: key.name },
  };
}
