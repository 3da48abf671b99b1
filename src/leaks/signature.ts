import { verify } from 'node:crypto';
import { Unauthenticated } from '../errors.js';
import type { ReporterKeys } from './reporter-keys.js';

// A leak report's proof of origin, as GitHub's secret scanning signs it: ECDSA P-256 with SHA-256
// over the body's bytes exactly as sent, the DER signature in base64 in one header, the
// identifier of the signing key (one of the reporter's published keys) in another.

export const KEY_IDENTIFIER_HEADER = 'Github-Public-Key-Identifier';
export const SIGNATURE_HEADER = 'Github-Public-Key-Signature';

/** What a reporter's key identifier may be; anything longer is no identifier, and is not looked up. */
const IDENTIFIER_MAX_LENGTH = 256;
const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

export interface ReportSignature {
  /** The Github-Public-Key-Identifier header, undefined when absent. */
  keyIdentifier: string | undefined;
  /** The Github-Public-Key-Signature header, undefined when absent. */
  signature: string | undefined;
}

/**
 * Returns when `body` was signed by the reporter key the headers name; throws Unauthenticated
 * (a missing header, an unknown key, a signature that does not verify), or Unavailable when the
 * reporter's keys cannot be read.
 */
export async function checkReportSignature(body: Buffer, headers: ReportSignature, keys: ReporterKeys): Promise<void> {
  const { keyIdentifier, signature } = headers;
  if (!keyIdentifier || !signature) {
    throw new Unauthenticated(`A leak report must be signed: send the ${KEY_IDENTIFIER_HEADER} and ${SIGNATURE_HEADER} headers`);
  }
  const key = keyIdentifier.length <= IDENTIFIER_MAX_LENGTH ? await keys.keyFor(keyIdentifier) : undefined;
  if (key === undefined) throw new Unauthenticated(`${KEY_IDENTIFIER_HEADER} names none of the reporter's public keys`);
  // verify() says false, never throws, for bytes that are no DER signature.
  if (!BASE64.test(signature) || !verify('sha256', body, key, Buffer.from(signature, 'base64'))) {
    throw new Unauthenticated(`${SIGNATURE_HEADER} is not a signature of this body by the key ${KEY_IDENTIFIER_HEADER} names`);
  }
}
