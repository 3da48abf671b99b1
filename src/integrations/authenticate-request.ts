import type { IncomingHttpHeaders } from 'node:http';
import { KeygateError, Unauthenticated, Unavailable } from '../errors.js';
import { answerFor, type ErrorAnswer } from '../http/errors.js';
import { NO_KEY_DETAIL, presentedKey } from '../http/presented-key.js';
import { refusalError, type Verification, type VerifiedKey } from '../keys/verifier.js';

/** Anything that verifies keys: the server's verifier or the library's createKeyVerifier(). */
export interface VerifiesKeys {
  verify(presented: string): Promise<Verification>;
}

/**
 * The presented key, verified, or the domain error that refuses it. verify() rejects with
 * Unavailable when the database does not answer: for an adapter that is a refusal to retry
 * later (503), like an overloaded verifier, not a failure of its own. Other rejections stay so.
 */
export async function checkPresentedKey(verifier: VerifiesKeys, presented: string): Promise<VerifiedKey | KeygateError> {
  try {
    const verification = await verifier.verify(presented);
    return verification.valid ? verification.key : refusalError(verification.reason);
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
): Promise<{ key: VerifiedKey } | { refusal: ErrorAnswer }> {
  const presented = presentedKey(headers);
  const outcome = presented === undefined ? new Unauthenticated(NO_KEY_DETAIL) : await checkPresentedKey(verifier, presented);
  if (!(outcome instanceof KeygateError)) return { key: outcome };
  return { refusal: answerFor(outcome, headers.authorization)! };
}
