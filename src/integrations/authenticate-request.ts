import type { IncomingHttpHeaders } from 'node:http';
import { Unauthenticated, Unavailable, type KeygateError } from '../errors.js';
import { answerFor, type ErrorAnswer } from '../http/errors.js';
import { NO_KEY_DETAIL, presentedKey } from '../http/presented-key.js';
import { refusalError } from '../keys/outcomes.js';
import type { Verification, VerifiedKey } from '../keys/verifier.js';

/** What a caller may require of a key beyond being valid. */
export interface KeyRequirements {
  /** Scopes the key must all have: one missing is 403 insufficient_scope. */
  scopes?: readonly string[] | undefined;
}

/** Anything that verifies keys: the server's verifier or the library's createKeyVerifier(). */
export interface VerifiesKeys {
  verify(presented: string, requirements?: KeyRequirements): Promise<Verification>;
}

/** A presented key, checked: the verifier's answer, or Unavailable when the database does not answer. */
export type CheckedKey = Verification | Unavailable;

/**
 * The presented key, checked. verify() rejects with Unavailable when the database does not
 * answer: for an adapter that is a refusal to retry later (503), like an overloaded verifier,
 * not a failure of its own. Other rejections stay so.
 */
export async function checkPresentedKey(verifier: VerifiesKeys, presented: string, requirements?: KeyRequirements): Promise<CheckedKey> {
  try {
    return await verifier.verify(presented, requirements);
  } catch (error) {
    if (error instanceof Unavailable) return error;
    throw error;
  }
}

/**
 * The key a request to a protected route presents, verified; or the answer to send instead
 * (401 without a key or with a refused one, 503 when verification must wait or the database
 * does not answer). Every framework's glue is a thin wrapper around this.
 */
export async function authenticateRequest(
  verifier: VerifiesKeys,
  headers: IncomingHttpHeaders,
  requirements?: KeyRequirements,
): Promise<{ key: VerifiedKey } | { refusal: ErrorAnswer }> {
  const refused = (error: KeygateError) => ({ refusal: answerFor(error, headers.authorization)! });
  const presented = presentedKey(headers);
  if (presented === undefined) return refused(new Unauthenticated(NO_KEY_DETAIL));
  const checked = await checkPresentedKey(verifier, presented, requirements);
  if (checked instanceof Unavailable) return refused(checked);
  return checked.valid ? { key: checked.key } : refused(refusalError(checked));
}
