import { hkdfSync } from 'node:crypto';
import { EncryptJWT, errors, jwtDecrypt } from 'jose';

// What a sign-in must remember between /auth/oidc/start and the provider's redirect back, kept
// in the browser that started it, in a cookie no one can read or forge:
// - the browser's own cookie binds the answer to the browser that asked (a callback URL sent to
//   someone else finds no flow there: no login CSRF);
// - nothing is stored server-side, so any instance on the database can finish a flow another
//   started, and abandoned flows leave nothing behind;
// - encrypted and authenticated (A256GCM) under a key derived from the server secret: it cannot
//   be forged or altered, and the PKCE code verifier and the nonce cannot be read off it (in the
//   browser's storage, in a proxy's log) to pair with a stolen code.

export const FLOW_COOKIE = 'keygate_oidc';
/** How long a sign-in may take at the provider (the cookie's Max-Age and the sealed exp). */
export const FLOW_TTL_SECONDS = 600;

export interface SignInFlow {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** A same-origin path (see return-to.ts), checked before it was sealed. */
  returnTo: string;
}

/** The flow sealed in the cookie, or why there is none to finish. */
export type OpenedFlow = { flow: SignInFlow } | { problem: 'expired' | 'invalid' };

export class FlowCookies {
  private readonly key: Uint8Array;

  /** `secret`: the server's user-token secret; a key of its own is derived so that neither use can stand for the other. */
  constructor(secret: string) {
    this.key = new Uint8Array(hkdfSync('sha256', secret, 'keygate', 'keygate oidc sign-in flow cookie', 32));
  }

  seal(flow: SignInFlow): Promise<string> {
    return new EncryptJWT({ ...flow })
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM' })
      .setIssuedAt()
      .setExpirationTime(`${FLOW_TTL_SECONDS}s`)
      .encrypt(this.key);
  }

  async open(value: string): Promise<OpenedFlow> {
    try {
      const { payload } = await jwtDecrypt(value, this.key, { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] });
      const { state, nonce, codeVerifier, returnTo } = payload;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string' || typeof returnTo !== 'string') {
        return { problem: 'invalid' };
      }
      return { flow: { state, nonce, codeVerifier, returnTo } };
    } catch (error) {
      if (error instanceof errors.JWTExpired) return { problem: 'expired' };
      if (error instanceof errors.JOSEError) return { problem: 'invalid' };
      throw error;
    }
  }
}
