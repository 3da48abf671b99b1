import { startKeygate, type RunningKeygate } from './keygate.js';
import { ROLES_CLAIM, startOpenIdProvider, type TestAccount, type TestOpenIdProvider } from './openid-provider.js';
import { freePort } from './ports.js';

// A keygate in OIDC mode signing people in at a real OpenID provider (openid-provider.ts) that
// has keygate registered as its client: what the sign-in tests, over HTTP and in a browser, run on.

export const CLIENT_ID = 'keygate-dashboard';

export interface SignInRigOptions {
  accounts: Record<string, TestAccount>;
  /** Undefined: a public client (PKCE, no secret). */
  clientSecret?: string;
  env?: Record<string, string>;
  /**
   * The host of KEYGATE_PUBLIC_URL (keygate listens on 127.0.0.1 either way): `localhost` makes
   * keygate another site than the provider (127.0.0.1), as a real provider is, so that what
   * SameSite lets through a cross-site redirect is what a browser test sees.
   */
  publicHost?: '127.0.0.1' | 'localhost';
}

export interface SignInRig {
  provider: TestOpenIdProvider;
  keygate: RunningKeygate;
  /** KEYGATE_PUBLIC_URL: where browsers open keygate, and where the provider sends them back. */
  publicUrl: string;
  close(): Promise<void>;
}

export async function startSignInRig(options: SignInRigOptions): Promise<SignInRig> {
  // The port is chosen first: the redirect URI registered at the provider names it.
  const port = await freePort();
  const publicUrl = `http://${options.publicHost ?? '127.0.0.1'}:${port}`;
  const provider = await startOpenIdProvider({
    clientId: CLIENT_ID,
    clientSecret: options.clientSecret,
    redirectUri: `${publicUrl}/auth/oidc/callback`,
    accounts: options.accounts,
  });
  const keygate = await startKeygate({
    PORT: String(port),
    KEYGATE_OIDC_ISSUER: provider.issuer,
    KEYGATE_OIDC_AUDIENCE: 'keygate-api',
    KEYGATE_OIDC_ROLES_CLAIM: ROLES_CLAIM,
    KEYGATE_OIDC_CLIENT_ID: CLIENT_ID,
    ...(options.clientSecret === undefined ? {} : { KEYGATE_OIDC_CLIENT_SECRET: options.clientSecret }),
    KEYGATE_PUBLIC_URL: publicUrl,
    ...options.env,
  });
  return {
    provider,
    keygate,
    publicUrl,
    async close() {
      await keygate.close();
      await provider.close();
    },
  };
}
