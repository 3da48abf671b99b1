import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import Provider, { type AccountClaims, type Configuration } from 'oidc-provider';

// A real OpenID provider for the sign-in tests: panva's certified oidc-provider, on a loopback
// socket of its own, with one registered client (keygate) and a few accounts. Its login and
// consent prompts are answered by interaction routes of this harness: GET the interaction, then
// POST a choice. A browser (Accept: text/html) gets a page with the prompt's form to fill and
// submit; an HTTP client gets the interaction's details as JSON. Both post the same form.

/** A provider account: its claims, as the provider releases them. */
export interface TestAccount {
  preferred_username?: string;
  email?: string;
  /** Keycloak's shape: the roles claim is `realm_access.roles` (KEYGATE_OIDC_ROLES_CLAIM). */
  roles?: string[];
}

export const ROLES_CLAIM = 'realm_access.roles';

export interface OpenIdProviderOptions {
  clientId: string;
  /** Undefined: a public client (token_endpoint_auth_method none). */
  clientSecret?: string;
  redirectUri: string;
  accounts: Record<string, TestAccount>;
}

export interface TestOpenIdProvider {
  issuer: string;
  /** The parameters of each authorization request that reached an interaction, as the provider parsed them. */
  authorizationRequests: Record<string, unknown>[];
  /** Resolves when the provider stops listening; its port then refuses connections. */
  close(): Promise<void>;
}

export async function startOpenIdProvider(options: OpenIdProviderOptions): Promise<TestOpenIdProvider> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, await configuration(options));
  const authorizationRequests: Record<string, unknown>[] = [];
  const callback = provider.callback();
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.url?.startsWith('/interaction/')) {
      interact(provider, request, response, authorizationRequests).catch((error: unknown) => {
        response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
      });
    } else {
      void callback(request, response);
    }
  });
  return { issuer, authorizationRequests, close: () => stopListening(server) };
}

async function configuration(options: OpenIdProviderOptions): Promise<Configuration> {
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-signing-key', alg: 'RS256', use: 'sig' };
  return {
    clients: [
      {
        client_id: options.clientId,
        ...(options.clientSecret === undefined
          ? { token_endpoint_auth_method: 'none' }
          : { client_secret: options.clientSecret, token_endpoint_auth_method: 'client_secret_basic' }),
        redirect_uris: [options.redirectUri],
        response_types: ['code'],
        grant_types: ['authorization_code'],
      },
    ],
    // Required of every client, confidential ones too: keygate must send a code_challenge.
    pkce: { required: () => true },
    jwks: { keys: [signingKey] },
    cookies: { keys: ['test-provider-cookie-key-0123456789'] },
    claims: { openid: ['sub'], profile: ['preferred_username', 'realm_access'], email: ['email'] },
    // The profile and email claims in the ID token too, as Keycloak and Entra ID put them there;
    // a conforming provider keeps them for the userinfo endpoint when an access token is issued.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: false } },
    // Its defaults, set outright: it prints a notice for each it has to pick itself.
    ttl: { AccessToken: 3600, AuthorizationCode: 60, Grant: 3600, IdToken: 3600, Interaction: 600, Session: 3600 },
    findAccount: (_ctx, accountId) => {
      const account = options.accounts[accountId];
      if (account === undefined) return undefined;
      return { accountId, claims: async () => claimsOf(accountId, account) };
    },
    // Its default renders an HTML page with the error's description; a test reads the status.
    renderError: (ctx, out) => {
      ctx.type = 'application/json';
      ctx.body = out;
    },
  };
}

function claimsOf(accountId: string, account: TestAccount): AccountClaims {
  const { roles, ...rest } = account;
  return { sub: accountId, ...rest, ...(roles === undefined ? {} : { realm_access: { roles } }) };
}

/**
 * GET: the interaction's prompt and the authorization request's parameters, as JSON, or to a
 * browser the prompt's page (promptPage). POST (a form): `login=<account id>` at the login
 * prompt, `consent=yes` at the consent prompt, or `deny=yes` at either, which ends the request
 * with error=access_denied.
 */
async function interact(
  provider: Provider,
  request: IncomingMessage,
  response: ServerResponse,
  seen: Record<string, unknown>[],
): Promise<void> {
  const details = await provider.interactionDetails(request, response);
  if (request.method === 'GET') {
    seen.push(details.params);
    if (/\btext\/html\b/.test(request.headers.accept ?? '')) {
      response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(promptPage(details.prompt.name, String(details.params.scope)));
    } else {
      response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ prompt: details.prompt.name, params: details.params }));
    }
    return;
  }
  const form = new URLSearchParams(await bodyOf(request));
  if (form.has('deny')) {
    await provider.interactionFinished(request, response, { error: 'access_denied', error_description: 'The user said no' });
  } else if (details.prompt.name === 'login') {
    await provider.interactionFinished(request, response, { login: { accountId: form.get('login') ?? '' } });
  } else {
    const accountId = details.session?.accountId;
    const grant = new provider.Grant({ accountId, clientId: String(details.params.client_id) });
    grant.addOIDCScope(String(details.params.scope));
    await provider.interactionFinished(request, response, { consent: { grantId: await grant.save() } }, { mergeWithLastSubmission: true });
  }
}

const HTML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
const escapeHtml = (text: string) => text.replace(/[&<>"']/g, (character) => HTML_ESCAPES[character]!);

/**
 * The prompt as a browser shows it: plain forms posting back to the interaction's own address
 * (no action attribute), so a browser test fills and submits them as a person would.
 */
function promptPage(prompt: string, scope: string): string {
  const deny = `<form method="post"><button type="submit" name="deny" value="yes">Deny</button></form>`;
  const choice =
    prompt === 'login'
      ? `<h1>Sign in at the test provider</h1>
<form method="post"><label for="login">Account</label> <input id="login" name="login" required autocomplete="username">
<button type="submit">Continue</button></form>`
      : `<h1>Allow keygate to sign you in?</h1>
<p>keygate asks for: <span id="scope">${escapeHtml(scope)}</span></p>
<form method="post"><button type="submit" name="consent" value="yes">Allow</button></form>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Test provider: ${escapeHtml(prompt)}</title></head>
<body><main>
${choice}
${deny}
</main></body></html>
`;
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  let body = '';
  for await (const chunk of request) body += chunk;
  return body;
}

function stopListening(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.closeAllConnections();
    server.close((error) => (error ? reject(error) : resolve()));
  });
}
