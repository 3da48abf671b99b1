import * as client from 'openid-client';
import type { OidcConfig, OidcSignInConfig } from '../config.js';
import { keptOnceLoaded, scopesOf } from '../tokens/user-tokens.js';
import { isUserId } from '../text.js';
import type { SignInFlow } from './flow-cookie.js';
import { SignInFailure } from './sign-in-failure.js';

// The dashboard's sign-in at the OpenID provider keygate's OIDC mode trusts: the authorization
// code flow with PKCE (S256), state and nonce, all of it done by openid-client (discovery, the
// authorization URL, the code exchange and the ID token's checks). This module only decides
// what to ask for and who the answer names.

/** Who signed in, as a web session records them (the accounts helper's SessionIdentity). */
export interface SignedInIdentity {
  userId: string;
  username: string;
  scopes: readonly string[];
}

/** Seconds to wait for each request to the provider: a browser is waiting on it. */
const PROVIDER_TIMEOUT_SECONDS = 5;

export class OidcSignIn {
  private readonly configuration: () => Promise<client.Configuration>;

  constructor(
    private readonly oidc: OidcConfig,
    private readonly signIn: OidcSignInConfig,
    /** KEYGATE_REQUIRED_SCOPE: asked for, and required, as the API requires it of bearer tokens. */
    private readonly requiredScope: string | undefined,
  ) {
    // Read at the first sign-in, not at start-up: a provider that is down must not keep keygate
    // from starting, and is asked again only after the cooldown the bearer path uses too.
    this.configuration = keptOnceLoaded(() => discover(oidc.issuer, signIn));
  }

  /** The provider's authorization URL, and what the callback will need to check its answer. */
  async begin(returnTo: string): Promise<{ authorizationUrl: URL; flow: SignInFlow }> {
    const configuration = await this.provider();
    const flow: SignInFlow = {
      state: client.randomState(),
      nonce: client.randomNonce(),
      codeVerifier: client.randomPKCECodeVerifier(),
      returnTo,
    };
    const scope = ['openid', 'profile', 'email', ...(this.requiredScope === undefined ? [] : [this.requiredScope])].join(' ');
    const authorizationUrl = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.signIn.redirectUri,
      response_type: 'code',
      scope,
      state: flow.state,
      nonce: flow.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(flow.codeVerifier),
      code_challenge_method: 'S256',
    });
    return { authorizationUrl, flow };
  }

  /** Checks the provider's answer (`query`: the callback's query string) against `flow` and exchanges the code. */
  async finish(query: string, flow: SignInFlow): Promise<SignedInIdentity> {
    const configuration = await this.provider();
    const callbackUrl = new URL(this.signIn.redirectUri);
    callbackUrl.search = query;
    let tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers;
    try {
      tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        pkceCodeVerifier: flow.codeVerifier,
        expectedState: flow.state,
        expectedNonce: flow.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw failureOf(error);
    }
    return this.identityOf(tokens);
  }

  private provider(): Promise<client.Configuration> {
    return this.configuration().catch((error: unknown) => {
      throw new SignInFailure('provider_unavailable', `discovery failed: ${loggable(error)}`);
    });
  }

  private identityOf(tokens: client.TokenEndpointResponse & client.TokenEndpointResponseHelpers): SignedInIdentity {
    // openid-client has checked the ID token (idTokenExpected): it is there, for this client,
    // from this issuer, unexpired, with this flow's nonce.
    const claims = tokens.claims()!;
    if (!isUserId(claims.sub)) throw new SignInFailure('invalid_identity', 'the ID token\'s "sub" is not a usable user id');
    const username = [claims.preferred_username, claims.email, claims.sub].find(isUserId)!;
    // The token response's scope (what the access token was granted) and the roles claim of the
    // ID token, read as the bearer path reads an access token's: the same role makes the same admin.
    const scopes = scopesOf({ ...claims, scope: tokens.scope, scp: undefined }, this.oidc.rolesClaim);
    if (this.requiredScope !== undefined && !scopes.has(this.requiredScope)) {
      throw new SignInFailure('missing_scope', `the sign-in of "${claims.sub}" lacks "${this.requiredScope}"`);
    }
    return { userId: claims.sub, username, scopes: [...scopes] };
  }
}

function discover(issuer: string, signIn: OidcSignInConfig): Promise<client.Configuration> {
  // A secret: the client authenticates with HTTP Basic, which every provider must support
  // (RFC 6749 section 2.3.1); none: a public client, which PKCE protects.
  const [metadata, authentication] =
    signIn.clientSecret === undefined
      ? [undefined, client.None()]
      : [{ client_secret: signIn.clientSecret }, client.ClientSecretBasic(signIn.clientSecret)];
  // An http:// issuer is the operator's choice (a provider on the same host, or a test's),
  // already trusted for bearer tokens; openid-client refuses it unless told.
  const execute = new URL(issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [];
  return client.discovery(new URL(issuer), signIn.clientId, metadata, authentication, { execute, timeout: PROVIDER_TIMEOUT_SECONDS });
}

/** openid-client's verdict in the browser's terms. */
function failureOf(error: unknown): Error {
  if (error instanceof client.AuthorizationResponseError) {
    return new SignInFailure(error.error === 'access_denied' ? 'access_denied' : 'provider_refused', `the provider answered error=${error.error}`);
  }
  if (error instanceof client.ResponseBodyError) {
    // invalid_grant: the code was used already, expired, or was issued for another PKCE challenge.
    if (error.status >= 500) return new SignInFailure('provider_unavailable', `the token endpoint answered HTTP ${error.status}`);
    return new SignInFailure('invalid_response', `the token endpoint answered error=${error.error}`);
  }
  if (error instanceof client.ClientError) {
    if (error.code === 'OAUTH_RESPONSE_IS_NOT_CONFORM') return new SignInFailure('provider_unavailable', loggable(error));
    // openid-client's checks of the authorization response name the state in their message.
    const checkFailed = error.cause instanceof Error ? error.cause.message : error.message;
    return new SignInFailure(/"state"/.test(checkFailed) ? 'invalid_state' : 'invalid_response', loggable(error));
  }
  // fetch's own failures: the provider refused the connection, or did not answer in time.
  if (error instanceof TypeError || (error instanceof DOMException && error.name === 'TimeoutError')) {
    return new SignInFailure('provider_unavailable', loggable(error));
  }
  // Anything else is keygate's own bug: left to the error handler, which logs it.
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * An openid-client error fit for the log: its code and messages only. Its cause's other fields
 * hold the request's parameters and the provider's answer (the code, tokens), never logged.
 */
function loggable(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const cause = error.cause instanceof Error ? `: ${error.cause.message}` : '';
  return `${typeof code === 'string' ? `${code} ` : ''}${error.message}${cause}`;
}
