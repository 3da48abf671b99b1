import { Forbidden, TooManyRequests, Unauthenticated, type KeygateError } from '../errors.js';
import { overloaded } from './bounded-queue.js';

// The outcomes of a verification, and what each refusal means for a caller: the one table that
// the types (Refusal, VerificationResult), the metric labels (src/metrics.ts) and every adapter
// read (the /verify and forward-auth routes, the Fastify and Express glue through answerFor, the
// MCP verifier). A new outcome is one row here; tests/outcomes.test.ts walks every row through
// every adapter, and fails for a row whose answers it was not told.

/** The OAuth error code (RFC 6750 section 3.1) an MCP server raises for a refusal; mcp.ts holds the SDK's class for each. */
export type McpError = 'invalid_token' | 'insufficient_scope' | 'too_many_requests' | 'server_error';

interface RefusalMeaning {
  /**
   * What every adapter reports: its class fixes the HTTP status (src/http/errors.ts), its message
   * is the public detail, and a retryAfterSeconds (Unavailable, TooManyRequests) makes it a
   * refusal to retry, with Retry-After. Made once: a refusal is an answer, not a failure of
   * the code, so no stack of its own says anything, and /verify answers a wrong key without
   * making an object for it (see src/http/verify-routes.ts).
   */
  error: KeygateError;
  /** What the MCP verifier raises (the SDK's requireBearerAuth has no 503: see mcp.ts). */
  mcp: McpError;
}

/** Every refusal of a key's secret reads the same, so nothing tells a wrong key from a revoked one. */
const invalidKey: RefusalMeaning = { error: new Unauthenticated('Invalid API key'), mcp: 'invalid_token' };

/**
 * Why a key was refused: the first four are told apart only in metrics, never to the caller (a
 * disabled key reads like an unknown one, so its holder learns nothing from trying it).
 * `insufficient_scope`: a valid key without a scope the caller requires (403, naming them).
 * `rate_limited`: more verifications of this key this minute than its limit (429, Retry-After).
 * `quota_exhausted`: the key's usage limit is used up until its next refill (429).
 * `overloaded`: too many hash compares are waiting; the caller may retry (the hash queue's own
 * refusal, as create and rotate report it too).
 */
const REFUSAL_MEANINGS = {
  malformed: invalidKey,
  unknown: invalidKey,
  expired: invalidKey,
  disabled: invalidKey,
  insufficient_scope: { error: new Forbidden('The key lacks a required scope'), mcp: 'insufficient_scope' },
  rate_limited: { error: new TooManyRequests('Rate limit exceeded for this key', 60), mcp: 'too_many_requests' },
  quota_exhausted: { error: new TooManyRequests("This key's usage limit is reached", undefined), mcp: 'too_many_requests' },
  overloaded: { error: overloaded(), mcp: 'server_error' },
} as const satisfies Record<string, RefusalMeaning>;

export type Refusal = keyof typeof REFUSAL_MEANINGS;

/** In the table's order, which is the order of the metric's series. */
export const REFUSALS = Object.keys(REFUSAL_MEANINGS) as Refusal[];

export const VERIFICATION_RESULTS = ['valid', ...REFUSALS] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

/**
 * A refused verification: why, and for the kinds that name more (the missing scopes, the wait:
 * insufficient_scope, rate_limited, quota_exhausted) an error of its own. The table's error is
 * then the kind's class and generic detail, which is what an adapter answers without one.
 */
export interface RefusedKey {
  reason: Refusal;
  error?: KeygateError;
}

/** What `reason` means for a caller. */
export function refusalMeaning(reason: Refusal): RefusalMeaning {
  return REFUSAL_MEANINGS[reason];
}

/** The domain error for a refusal, as every adapter (HTTP route, Fastify, Express, MCP) reports it. */
export function refusalError(refusal: RefusedKey): KeygateError {
  return refusal.error ?? REFUSAL_MEANINGS[refusal.reason].error;
}
