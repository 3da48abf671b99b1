import { EventEmitter, once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK, type JWTPayload } from 'jose';

// An OpenID Connect provider for tests: a real loopback HTTP server serving a discovery
// document and a JWKS, counting what it is asked for, and able to go down and come back.

export type JwksAnswer = 'keys' | 'http 500' | 'not JSON' | 'not a key set';

/** How the provider is down: every path answers 500, or its port refuses connections. */
export type Outage = 'http 500' | 'refusing';

export interface IdentityProvider {
  url: string;
  requests: { discovery: number; jwks: number };
  /** The key set the JWKS path serves; a test may replace it (key rotation). */
  jwks: { keys: JWK[] };
  /** What the JWKS path answers; a test may break it. */
  jwksAnswer: JwksAnswer;
  /** The issuer the discovery document names; its own URL unless a test says otherwise. */
  discoveredIssuer?: string;
  /** Resolves once `kind` has been asked for `count` times in all (a fetch keygate makes in the background). */
  requested(kind: 'discovery' | 'jwks', count: number): Promise<void>;
  /** Down in the given way, or up again (on the same port) with undefined. */
  setOutage(outage: Outage | undefined): Promise<void>;
  close(): Promise<void>;
}

export async function startIdentityProvider(jwks: { keys: JWK[] }): Promise<IdentityProvider> {
  let outage: Outage | undefined;
  const asked = new EventEmitter();
  const provider: IdentityProvider = {
    url: '',
    requests: { discovery: 0, jwks: 0 },
    jwks,
    jwksAnswer: 'keys',
    requested: async (kind, count) => {
      while (provider.requests[kind] < count) await once(asked, 'request');
    },
    setOutage: async (next) => {
      if (next === 'refusing' && outage !== 'refusing') await stopListening(server);
      if (next !== 'refusing' && outage === 'refusing') await listen(server, port);
      outage = next;
    },
    close: () => (outage === 'refusing' ? Promise.resolve() : stopListening(server)),
  };
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.url === '/.well-known/openid-configuration') {
      provider.requests.discovery += 1;
      if (outage) send(response, 500, { error: 'server_error' });
      else send(response, 200, { issuer: provider.discoveredIssuer ?? provider.url, jwks_uri: `${provider.url}/jwks.json` });
    } else if (request.url === '/jwks.json') {
      provider.requests.jwks += 1;
      answerJwks(response, outage ? 'http 500' : provider.jwksAnswer, provider.jwks);
    } else {
      send(response, 404, { error: 'not_found' });
    }
    asked.emit('request');
  });
  const port = await listen(server, 0);
  provider.url = `http://127.0.0.1:${port}`;
  return provider;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function answerJwks(response: ServerResponse, answer: JwksAnswer, jwks: { keys: JWK[] }): void {
  if (answer === 'keys') send(response, 200, jwks);
  else if (answer === 'http 500') send(response, 500, { error: 'server_error' });
  else if (answer === 'not JSON') response.writeHead(200, { 'content-type': 'text/html' }).end('<html>');
  else send(response, 200, { not: 'a key set' });
}

async function listen(server: Server, port: number): Promise<number> {
  server.listen(port, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function stopListening(server: Server): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.closeAllConnections(); // keygate's fetch keeps its connections alive
    server.close((error) => (error ? reject(error) : resolve()));
  });
}

/** A loopback address nothing listens on. */
export async function closedPortUrl(): Promise<string> {
  const server = createServer();
  const port = await listen(server, 0);
  await stopListening(server);
  return `http://127.0.0.1:${port}`;
}

export interface SigningKey {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function rsaSigningKey(kid: string): Promise<SigningKey> {
  const { privateKey, publicKey } = await generateKeyPair('RS256');
  const publicJwk: JWK = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' };
  return { kid, privateKey, publicKey, publicJwk };
}

export const OIDC_AUDIENCE = 'some-audience';

export const nowSeconds = (): number => Math.floor(Date.now() / 1000);

/** The claims of a valid provider token for `user-a`, with `overrides` applied (undefined: left out). */
export function oidcClaims(issuer: string, overrides: JWTPayload = {}): JWTPayload {
  const now = nowSeconds();
  return { sub: 'user-a', iss: issuer, aud: OIDC_AUDIENCE, iat: now, exp: now + 3600, ...overrides };
}

export function signRs256(payload: JWTPayload, key: SigningKey, kid: string = key.kid): Promise<string> {
  return new SignJWT(payload).setProtectedHeader({ alg: 'RS256', typ: 'JWT', kid }).sign(key.privateKey);
}
