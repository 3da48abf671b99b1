import { Unauthenticated, type KeygateError } from '../errors.js';
import { overloaded } from './bounded-queue.js';

// The outcomes of a verification, and what each refusal means for a caller: the one table that
// the types (Refusal, VerificationResult), the metric labels (src/metrics.ts) and every adapter
// read (the /verify and forward-auth routes, the Fastify and Express glue through answerFor, the
// MCP verifier). A new outcome is one row here; tests/outcomes.test.ts walks every row through
// every adapter, and fails for a row whose answers it was not told.

/** The OAuth error code (RFC 6750 section 3.1) an MCP server raises for a refusal; mcp.ts holds the SDK's class for each. */
export type McpError = 'invalid_token' | 'server_error';

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
 * Why a key was refused: the first three are told apart only in metrics, never to the caller.
 * `overloaded`: too many hash compares are waiting; the caller may retry (the hash queue's own
 * refusal, as create and rotate report it too).
 */
const REFUSAL_MEANINGS = {
  malformed: invalidKey,
  unknown: invalidKey,
  expired: invalidKey,
  overloaded: { error: overloaded(), mcp: 'server_error' },
} as const satisfies Record<string, RefusalMeaning>;

export type Refusal = keyof typeof REFUSAL_MEANINGS;

/** In the table's order, which is the order of the metric's series. */
export const REFUSALS = Object.keys(REFUSAL_MEANINGS) as Refusal[];

export const VERIFICATION_RESULTS = ['valid', ...REFUSALS] as const;
export type VerificationResult = (typeof VERIFICATION_RESULTS)[number];

/** What `reason` means for a caller. */
export function refusalMeaning(reason: Refusal): RefusalMeaning {
  return REFUSAL_MEANINGS[reason];
}

/** The domain error for a refusal, as every adapter (HTTP route, Fastify, Express, MCP) reports it. */
export function refusalError(reason: Refusal): KeygateError {
  return REFUSAL_MEANINGS[reason].error;
}
