import type { IncomingHttpHeaders } from 'node:http';
import { Unauthenticated } from '../errors.js';
import { answerFor, type ErrorAnswer } from '../http/errors.js';
import { NO_KEY_DETAIL, presentedKey } from '../http/presented-key.js';
import { refusalError, type Verification, type VerifiedKey } from '../keys/verifier.js';

/** Anything that verifies keys: the server's verifier or the library's createKeyVerifier(). */
export interface VerifiesKeys {
  verify(presented: string): Promise<Verification>;
}

/**
 * The key a request to a protected route presents, verified; or the answer to send instead
 * (401 without a key or with a refused one, 429/503 when verification must wait). Every
 * framework's glue is a thin wrapper around this.
 */
export async function authenticateRequest(
  verifier: VerifiesKeys,
  headers: IncomingHttpHeaders,
): Promise<{ key: VerifiedKey } | { refusal: ErrorAnswer }> {
  const presented = presentedKey(headers);
  const verification = presented === undefined ? undefined : await verifier.verify(presented);
  if (verification?.valid) return { key: verification.key };
  const error = verification === undefined ? new Unauthenticated(NO_KEY_DETAIL) : refusalError(verification.reason);
  return { refusal: answerFor(error, headers.authorization)! };
}
