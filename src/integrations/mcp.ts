import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import type { OAuthTokenVerifier } from '@modelcontextprotocol/sdk/server/auth/provider.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { INVALID_KEY_DETAIL, refusalError } from '../keys/verifier.js';
import type { VerifiesKeys } from './authenticate-request.js';

// Only this module imports @modelcontextprotocol/sdk (an optional peer dependency), and it is
// reached only through 'keygate/mcp', so users of the rest of keygate never load the SDK.

/**
 * Lets an MCP server accept keygate keys as bearer tokens:
 * `requireBearerAuth({ verifier: keygateMcpVerifier(await createKeyVerifier()) })`.
 * Tools then find the key's owner in `extra.authInfo.extra` ({ userId, keyId, name }).
 */
export function keygateMcpVerifier(verifier: VerifiesKeys): OAuthTokenVerifier {
  return {
    async verifyAccessToken(token: string): Promise<AuthInfo> {
      const verification = await verifier.verify(token);
      if (!verification.valid) {
        switch (verification.reason) {
          // requireBearerAuth answers ServerError with 500 and every other OAuthError that is not
          // InvalidTokenError or InsufficientScopeError (TooManyRequestsError included) with 400.
          // It has no 429 or 503, so a refusal that is only "not now" becomes a 500: at least it
          // reads as the server's trouble, worth retrying, where a 400 would blame the request.
          case 'throttled':
          case 'overloaded':
            throw new ServerError(refusalError(verification.reason).message);
          // One message for malformed, unknown (revoked, rotated away) and expired, as everywhere
          // in keygate: nothing tells a wrong key from a revoked one.
          default:
            throw new InvalidTokenError(INVALID_KEY_DETAIL);
        }
      }
      const { key } = verification;
      return {
        token,
        clientId: key.keyId,
        scopes: [],
        // requireBearerAuth refuses a token without a numeric expiresAt. Not rounded down: that
        // could make it call a key expired that keygate has just accepted in its last second.
        expiresAt: Date.parse(key.expiresAt) / 1000,
        extra: { userId: key.userId, keyId: key.keyId, name: key.name },
      };
    },
  };
}
