import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rmSync } from 'node:fs';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { exportSPKI, SignJWT, type JWTPayload } from 'jose';
import { LOCAL_TOKEN_AUDIENCE, LOCAL_TOKEN_ISSUER } from '../src/tokens/user-tokens.js';
import {
  closedPortUrl,
  nowSeconds,
  OIDC_AUDIENCE,
  oidcClaims,
  rsaSigningKey,
  signRs256,
  startIdentityProvider,
  type IdentityProvider,
  type SigningKey,
} from './support/identity-provider.js';
import {
  call,
  CLI_SCRIPT,
  keygateForTests,
  startKeygate,
  temporaryFolder,
  TEST_SECRET,
  type JsonResponse,
  type RunningKeygate,
} from './support/keygate.js';

// Who may call the management endpoints: every case goes over real HTTP to a real keygate,
// with tokens crafted here by jose (or by hand, for the ones jose refuses to make).

const KEYS_PATH = '/api/v1/api-keys/';
const encoder = new TextEncoder();

function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/** HS256 over `payload` as given; claims set to undefined are left out of the token. */
function signHs256(payload: JWTPayload, secret: string | Uint8Array = TEST_SECRET, alg = 'HS256'): Promise<string> {
  return new SignJWT(payload)
    .setProtectedHeader({ alg, typ: 'JWT' })
    .sign(typeof secret === 'string' ? encoder.encode(secret) : secret);
}

/** The claims of a valid local token for `alice`, with `overrides` applied. */
function localClaims(overrides: JWTPayload = {}): JWTPayload {
  const now = nowSeconds();
  return { sub: 'alice', iss: LOCAL_TOKEN_ISSUER, aud: LOCAL_TOKEN_AUDIENCE, iat: now, exp: now + 3600, ...overrides };
}

function listKeys(baseUrl: string, token: string): Promise<JsonResponse> {
  return call(baseUrl, 'GET', KEYS_PATH, { token });
}

/** 401, a Bearer challenge, and `{detail}` naming the reason; nothing else in the body. */
function assertUnauthorized(response: JsonResponse, reason: RegExp): void {
  assert.equal(response.status, 401, `expected 401, got ${response.status}: ${JSON.stringify(response.body)}`);
  assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer\b/, 'WWW-Authenticate must be a Bearer challenge');
  assert.deepEqual(Object.keys(response.body ?? {}), ['detail']);
  assert.equal(typeof response.body.detail, 'string');
  assert.notEqual(response.body.detail.trim(), '');
  assert.match(response.body.detail, reason);
}

function assertForbidden(response: JsonResponse, reason: RegExp): void {
  assert.equal(response.status, 403, `expected 403, got ${response.status}: ${JSON.stringify(response.body)}`);
  assert.deepEqual(Object.keys(response.body ?? {}), ['detail']);
  assert.equal(typeof response.body.detail, 'string');
  assert.match(response.body.detail, reason);
}

function assertOk(response: JsonResponse): void {
  assert.equal(response.status, 200, `expected 200, got ${response.status}: ${JSON.stringify(response.body)}`);
  assert.ok(Array.isArray(response.body));
}

describe('local mode (HS256 with the keygate secret)', () => {
  const server = keygateForTests();

  test('a valid token is accepted', async () => {
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims())));
    assertOk(await listKeys(server.baseUrl, await server.tokenFor('alice')));
  });

  test('the scheme name is case-insensitive', async () => {
    const token = await signHs256(localClaims());
    assertOk(await call(server.baseUrl, 'GET', KEYS_PATH, { headers: { authorization: `bearer ${token}` } }));
  });

  test('no Authorization header', async () => {
    const response = await call(server.baseUrl, 'GET', KEYS_PATH);
    assertUnauthorized(response, /not authenticated/i);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer');
  });

  test('a non-Bearer scheme (Basic)', async () => {
    const basic = Buffer.from('alice:password').toString('base64');
    const response = await call(server.baseUrl, 'GET', KEYS_PATH, { headers: { authorization: `Basic ${basic}` } });
    assertUnauthorized(response, /Bearer <token>/);
    // RFC 6750: no bearer token was presented, so the challenge carries no error code.
    assert.equal(response.headers.get('www-authenticate'), 'Bearer');
  });

  test('"Bearer" with no token at all', async () => {
    const response = await call(server.baseUrl, 'GET', KEYS_PATH, { headers: { authorization: 'Bearer' } });
    assertUnauthorized(response, /Bearer <token>/);
  });

  test('Bearer with garbage that is not a JWT', async () => {
    assertUnauthorized(await listKeys(server.baseUrl, 'this-is-not-a-jwt'), /malformed/i);
    assertUnauthorized(await listKeys(server.baseUrl, 'a.b.c'), /malformed/i);
  });

  test('a token signed with a different secret', async () => {
    const token = await signHs256(localClaims(), 'another-secret-that-is-also-32-bytes-long');
    const response = await listKeys(server.baseUrl, token);
    assertUnauthorized(response, /signature/i);
    assert.equal(response.headers.get('www-authenticate'), 'Bearer error="invalid_token"');
  });

  test('an unsigned alg:none token', async () => {
    const token = `${base64urlJson({ alg: 'none', typ: 'JWT' })}.${base64urlJson(localClaims())}.`;
    assertUnauthorized(await listKeys(server.baseUrl, token), /algorithm/i);
  });

  test('a token signed with the right secret but another HMAC algorithm (HS512)', async () => {
    const token = await signHs256(localClaims(), TEST_SECRET, 'HS512');
    assertUnauthorized(await listKeys(server.baseUrl, token), /algorithm/i);
  });

  test('an expired token', async () => {
    const now = nowSeconds();
    // A minute in the past: well beyond the 5 s clock tolerance.
    const token = await signHs256(localClaims({ iat: now - 3600, exp: now - 60 }));
    assertUnauthorized(await listKeys(server.baseUrl, token), /expired/i);
  });

  test('a token that is not valid yet', async () => {
    const token = await signHs256(localClaims({ nbf: nowSeconds() + 3600 }));
    assertUnauthorized(await listKeys(server.baseUrl, token), /not yet valid/i);
  });

  test('a token from another issuer', async () => {
    const token = await signHs256(localClaims({ iss: 'someone-else' }));
    assertUnauthorized(await listKeys(server.baseUrl, token), /issuer/i);
  });

  test('a token for another audience', async () => {
    const token = await signHs256(localClaims({ aud: 'some-other-service' }));
    assertUnauthorized(await listKeys(server.baseUrl, token), /audience/i);
  });

  test('a token without sub, or with an unusable one', async () => {
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ sub: undefined }))), /"sub"/);
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ sub: '' }))), /"sub"/);
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ sub: 'x'.repeat(256) }))), /"sub"/);
  });

  test('a token without exp is refused: it would be valid forever', async () => {
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ exp: undefined }))), /"exp"/);
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: undefined, exp: undefined }))), /"exp"/);
  });

  test('a token issued in the future, beyond the 5 s clock tolerance, is refused', async () => {
    const now = nowSeconds();
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now + 60 }))), /"iat".*future/);
    // A minter whose clock runs a little ahead is within the tolerance.
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now + 3 }))));
  });

  test('a token living longer than KEYGATE_MAX_TOKEN_TTL_SECONDS (30 days by default) is refused', async () => {
    const now = nowSeconds();
    const thirtyDays = 30 * 86_400;
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now, exp: now + thirtyDays }))));
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now, exp: now + thirtyDays + 1 }))), /lifetime/);
    // What counts is exp - iat: a long-lived token is refused even when little of it is left.
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now - thirtyDays, exp: now + 60 }))), /lifetime/);
    // Without iat, exp - now.
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: undefined }))));
    assertUnauthorized(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: undefined, exp: now + thirtyDays + 60 }))), /lifetime/);
  });

  test('a sub that is not well-formed Unicode (a lone surrogate) is refused', async () => {
    // PostgreSQL would store both as "lone\ufffd": two users would become one.
    for (const sub of ['lone\ud800', 'lone\udbff']) {
      const token = await signHs256(localClaims({ sub }));
      assertUnauthorized(await listKeys(server.baseUrl, token), /"sub".*well-formed Unicode/);
      assertUnauthorized(await call(server.baseUrl, 'POST', KEYS_PATH, { token, json: { name: 'x' } }), /well-formed Unicode/);
    }
    // A surrogate pair is well-formed: an emoji is a fine user id.
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ sub: 'smile\ud83d\ude00' }))));
  });

  test('a refused token creates nothing (POST)', async () => {
    const now = nowSeconds();
    const expired = await signHs256(localClaims({ sub: 'carol', iat: now - 3600, exp: now - 60 }));
    const refused = await call(server.baseUrl, 'POST', KEYS_PATH, { token: expired, json: { name: 'x' } });
    assertUnauthorized(refused, /expired/i);

    const list = await listKeys(server.baseUrl, await signHs256(localClaims({ sub: 'carol' })));
    assertOk(list);
    assert.deepEqual(list.body, []);
  });
});

describe('local mode with KEYGATE_MAX_TOKEN_TTL_SECONDS=3600', () => {
  const server = keygateForTests({ KEYGATE_MAX_TOKEN_TTL_SECONDS: '3600' });

  test('a lifetime of up to an hour is accepted, a second more is not', async () => {
    const now = nowSeconds();
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now, exp: now + 3600 }))));
    const response = await listKeys(server.baseUrl, await signHs256(localClaims({ iat: now, exp: now + 3601 })));
    assertUnauthorized(response, /lifetime.*3600 s/);
  });
});

describe('`keygate token --ttl` and KEYGATE_MAX_TOKEN_TTL_SECONDS', () => {
  const run = promisify(execFile);
  const cli = (args: string[], env: Record<string, string> = {}) =>
    run(process.execPath, [CLI_SCRIPT, 'token', '--user', 'alice', ...args], {
      cwd: folder,
      env: { PATH: process.env.PATH, KEYGATE_SECRET: TEST_SECRET, ...env },
    });
  let folder: string;
  before(() => {
    folder = temporaryFolder();
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  const refusal = (pattern: RegExp) => (error: { code: number; stderr: string }) =>
    error.code === 2 && pattern.test(error.stderr);

  test('a ttl beyond the maximum is refused with a message naming the setting', async () => {
    await assert.rejects(cli(['--ttl', '31d']), refusal(/--ttl 31d is longer than KEYGATE_MAX_TOKEN_TTL_SECONDS \(2592000 s\)/));
    await assert.rejects(cli(['--ttl', '2h'], { KEYGATE_MAX_TOKEN_TTL_SECONDS: '3600' }), refusal(/KEYGATE_MAX_TOKEN_TTL_SECONDS \(3600 s\)/));
  });

  test('the maximum itself is minted, and a server accepts it', async () => {
    const token = (await cli(['--ttl', '30d'])).stdout.trim().split('\n').at(-1) ?? '';
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString());
    assert.equal(payload.exp - payload.iat, 30 * 86_400);
    const server = await startKeygate();
    try {
      assertOk(await listKeys(server.baseUrl, token));
    } finally {
      await server.close();
    }
  });
});

describe('local mode with KEYGATE_REQUIRED_SCOPE=keys:manage', () => {
  const server = keygateForTests({ KEYGATE_REQUIRED_SCOPE: 'keys:manage' });

  test('a token without the scope is forbidden (403)', async () => {
    const forbidden = await listKeys(server.baseUrl, await signHs256(localClaims()));
    assertForbidden(forbidden, /scope/i);
    assert.equal(forbidden.headers.get('www-authenticate'), 'Bearer error="insufficient_scope", scope="keys:manage"');
    assertForbidden(await listKeys(server.baseUrl, await signHs256(localClaims({ scope: 'openid profile' }))), /keys:manage/);
    // Scopes are whole words: a longer scope that merely starts with it does not count.
    assertForbidden(await listKeys(server.baseUrl, await signHs256(localClaims({ scope: 'keys:manager' }))), /scope/i);
    const post = await call(server.baseUrl, 'POST', KEYS_PATH, { token: await signHs256(localClaims()), json: { name: 'x' } });
    assertForbidden(post, /scope/i);
  });

  test('an invalid token is still 401, not 403', async () => {
    const token = await signHs256(localClaims({ scope: 'keys:manage' }), 'another-secret-that-is-also-32-bytes-long');
    assertUnauthorized(await listKeys(server.baseUrl, token), /signature/i);
  });

  test('a space-separated `scope` claim that has it', async () => {
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ scope: 'openid keys:manage' }))));
    assertOk(await listKeys(server.baseUrl, await server.tokenFor('alice', ['keys:manage'])));
  });

  test('an `scp` array claim that has it (Entra ID / Okta style)', async () => {
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ scp: ['openid', 'keys:manage'] }))));
  });

  test('an `scp` string claim that has it', async () => {
    assertOk(await listKeys(server.baseUrl, await signHs256(localClaims({ scp: 'keys:manage' }))));
  });
});

// ---------------------------------------------------------------------------------------------
// OIDC mode: the identity provider is a real loopback HTTP server run by the test.

/** No stack frames, file paths or error properties in what the caller sees. */
function assertNoInternals(body: unknown): void {
  const text = JSON.stringify(body);
  assert.doesNotMatch(text, /\n\s*at |\bat .*:\d+:\d+|node:internal|node_modules|\/dist\/|\.[jt]s:\d+/, text);
  assert.doesNotMatch(text, /"(stack|cause|code|errno)"/, text);
}

describe('OIDC mode (RS256 keys from a discovered JWKS)', () => {
  let signingKey: SigningKey;
  let provider: IdentityProvider;
  let server: RunningKeygate;

  before(async () => {
    signingKey = await rsaSigningKey('key-1');
    provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
    server = await startKeygate({ KEYGATE_OIDC_ISSUER: provider.url, KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE });
  });
  after(async () => {
    await server?.close();
    await provider?.close();
  });

  test('a valid RS256 token is accepted, discovery is used, and keys belong to its sub', async () => {
    const userA = await signRs256(oidcClaims(provider.url, { sub: 'user-a' }), signingKey);
    const userB = await signRs256(oidcClaims(provider.url, { sub: 'user-b' }), signingKey);

    const created = await call(server.baseUrl, 'POST', KEYS_PATH, { token: userA, json: { name: 'x' } });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    assert.equal(created.body.name, 'x');

    const listA = await listKeys(server.baseUrl, userA);
    assertOk(listA);
    assert.deepEqual(
      listA.body.map((key: { key_id: string; name: string }) => [key.key_id, key.name]),
      [[created.body.key_id, 'x']],
    );

    const listB = await listKeys(server.baseUrl, userB);
    assertOk(listB);
    assert.deepEqual(listB.body, []);

    assert.ok(provider.requests.discovery >= 1, 'the discovery document was never read');
    assert.ok(provider.requests.jwks >= 1, 'the JWKS was never read');
  });

  test('a provider\'s sub that is not well-formed Unicode is refused, as a local one is', async () => {
    for (const sub of ['lone\ud800', 'lone\udbff']) {
      const token = await signRs256(oidcClaims(provider.url, { sub }), signingKey);
      assertUnauthorized(await listKeys(server.baseUrl, token), /"sub".*well-formed Unicode/);
    }
    assertOk(await listKeys(server.baseUrl, await signRs256(oidcClaims(provider.url, { sub: 'smile\ud83d\ude00' }), signingKey)));
  });

  test('algorithm confusion: HS256 signed with the RSA public key as the HMAC secret', async () => {
    const pem = await exportSPKI(signingKey.publicKey);
    const withPem = await signHs256(oidcClaims(provider.url), encoder.encode(pem));
    assertUnauthorized(await listKeys(server.baseUrl, withPem), /algorithm/i);

    const withJwk = await signHs256(oidcClaims(provider.url), encoder.encode(JSON.stringify(signingKey.publicJwk)));
    assertUnauthorized(await listKeys(server.baseUrl, withJwk), /algorithm/i);

    // With the kid of the real key, too: the algorithm is refused before any key is chosen.
    const withKid = await new SignJWT(oidcClaims(provider.url))
      .setProtectedHeader({ alg: 'HS256', typ: 'JWT', kid: signingKey.kid })
      .sign(encoder.encode(pem));
    assertUnauthorized(await listKeys(server.baseUrl, withKid), /algorithm/i);
  });

  test('an HS256 token signed with the local secret is refused in OIDC mode', async () => {
    const token = await signHs256(oidcClaims(provider.url));
    assertUnauthorized(await listKeys(server.baseUrl, token), /algorithm/i);
    const localStyle = await signHs256(localClaims());
    assertUnauthorized(await listKeys(server.baseUrl, localStyle), /algorithm/i);
  });

  test('an unsigned alg:none token is refused in OIDC mode', async () => {
    const token = `${base64urlJson({ alg: 'none', typ: 'JWT', kid: signingKey.kid })}.${base64urlJson(oidcClaims(provider.url))}.`;
    assertUnauthorized(await listKeys(server.baseUrl, token), /algorithm/i);
  });

  test('wrong issuer', async () => {
    const token = await signRs256(oidcClaims(provider.url, { iss: 'https://evil.example' }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, token), /issuer/i);
  });

  test('wrong audience', async () => {
    const token = await signRs256(oidcClaims(provider.url, { aud: 'another-audience' }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, token), /audience/i);
  });

  test('expired', async () => {
    const now = nowSeconds();
    const token = await signRs256(oidcClaims(provider.url, { iat: now - 3600, exp: now - 60 }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, token), /expired/i);
  });

  test('without exp, or issued in the future', async () => {
    const withoutExp = await signRs256(oidcClaims(provider.url, { exp: undefined }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, withoutExp), /"exp"/);
    const future = await signRs256(oidcClaims(provider.url, { iat: nowSeconds() + 60 }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, future), /"iat".*future/);
  });

  test('unknown kid (signed by a key pair the provider does not publish)', async () => {
    const stranger = await rsaSigningKey('unknown-key');
    const token = await signRs256(oidcClaims(provider.url), stranger);
    assertUnauthorized(await listKeys(server.baseUrl, token), /not known/i);
  });

  test('a known kid but signed by a different key pair', async () => {
    const impostor = await rsaSigningKey('impostor');
    const token = await signRs256(oidcClaims(provider.url), impostor, signingKey.kid);
    assertUnauthorized(await listKeys(server.baseUrl, token), /signature/i);
  });

  test('a token without sub', async () => {
    const token = await signRs256(oidcClaims(provider.url, { sub: undefined }), signingKey);
    assertUnauthorized(await listKeys(server.baseUrl, token), /"sub"/);
  });
});

describe('OIDC mode with KEYGATE_OIDC_JWKS_URL', () => {
  test('keys come from the configured JWKS, and discovery is not read', async () => {
    const signingKey = await rsaSigningKey('key-2');
    const provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
    let server: RunningKeygate | undefined;
    try {
      server = await startKeygate({
        KEYGATE_OIDC_ISSUER: provider.url,
        KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE,
        KEYGATE_OIDC_JWKS_URL: `${provider.url}/jwks.json`,
      });
      const token = await signRs256(oidcClaims(provider.url, { sub: 'user-c' }), signingKey);
      assertOk(await listKeys(server.baseUrl, token));

      const stranger = await rsaSigningKey('unknown-key');
      assertUnauthorized(await listKeys(server.baseUrl, await signRs256(oidcClaims(provider.url), stranger)), /not known/i);

      assert.equal(provider.requests.discovery, 0, 'discovery was read although the JWKS address is configured');
      assert.ok(provider.requests.jwks >= 1, 'the configured JWKS was never read');
    } finally {
      await server?.close();
      await provider.close();
    }
  });
});

describe('OIDC mode when the identity provider fails', () => {
  test('an unreachable provider: 503 with a detail and no internals, and stays so', async () => {
    const issuer = await closedPortUrl();
    const signingKey = await rsaSigningKey('key-3');
    const server = await startKeygate({ KEYGATE_OIDC_ISSUER: issuer, KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE });
    try {
      const token = await signRs256(oidcClaims(issuer), signingKey);
      // Twice: a failed discovery is forgotten and retried, and must fail the same way again.
      for (let attempt = 0; attempt < 2; attempt += 1) {
        const response = await listKeys(server.baseUrl, token);
        assert.notEqual(response.status, 200);
        assert.notEqual(response.status, 500);
        assert.equal(response.status, 503, JSON.stringify(response.body));
        assert.deepEqual(Object.keys(response.body ?? {}), ['detail']);
        assert.equal(typeof response.body.detail, 'string');
        assert.match(response.body.detail, /identity provider/i);
        assert.equal(response.headers.get('retry-after'), '30');
        assertNoInternals(response.body);
      }
      // Creating fails the same way, and does not pretend the key was made.
      const post = await call(server.baseUrl, 'POST', KEYS_PATH, { token, json: { name: 'x' } });
      assert.equal(post.status, 503, JSON.stringify(post.body));
      assertNoInternals(post.body);
    } finally {
      await server.close();
    }
  });

  for (const answer of ['http 500', 'not JSON', 'not a key set'] as const) {
    test(`a JWKS endpoint that answers ${answer} is a provider outage (503), not a bad token (401)`, async () => {
      const signingKey = await rsaSigningKey('key-4');
      const provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
      provider.jwksAnswer = answer;
      let server: RunningKeygate | undefined;
      try {
        server = await startKeygate({ KEYGATE_OIDC_ISSUER: provider.url, KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE });
        const response = await listKeys(server.baseUrl, await signRs256(oidcClaims(provider.url), signingKey));
        assert.ok(provider.requests.jwks >= 1, 'the JWKS was never asked for');
        assert.equal(response.status, 503, JSON.stringify(response.body));
        assert.deepEqual(Object.keys(response.body ?? {}), ['detail']);
        assert.match(response.body.detail, /identity provider/i);
        assert.equal(response.headers.get('retry-after'), '30');
        assertNoInternals(response.body);
      } finally {
        await server?.close();
        await provider.close();
      }
    });
  }

  test('a discovery document that names another issuer is not trusted', async () => {
    const signingKey = await rsaSigningKey('key-5');
    const provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
    provider.discoveredIssuer = 'https://impostor.example.com';
    let server: RunningKeygate | undefined;
    try {
      server = await startKeygate({ KEYGATE_OIDC_ISSUER: provider.url, KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE });
      const response = await listKeys(server.baseUrl, await signRs256(oidcClaims(provider.url), signingKey));
      assert.equal(response.status, 503, JSON.stringify(response.body));
      assert.match(response.body.detail, /another issuer/);
      assert.equal(provider.requests.jwks, 0, 'keys named by an untrusted document are never fetched');
    } finally {
      await server?.close();
      await provider.close();
    }
  });
});
