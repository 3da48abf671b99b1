import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import { KEY_SET_MAX_AGE_MS, PROVIDER_COOLDOWN_MS } from '../src/tokens/user-tokens.js';
import {
  oidcClaims,
  rsaSigningKey,
  signRs256,
  startIdentityProvider,
  OIDC_AUDIENCE,
  type IdentityProvider,
  type SigningKey,
} from './support/identity-provider.js';
import { call, startKeygate, type JsonResponse, type RunningKeygate } from './support/keygate.js';

// What keygate asks of its OIDC provider, counted at a real provider on a loopback socket: the
// discovery document and the key set are read once, an unknown kid refetches at most once per
// cooldown, and an outage does not stop tokens signed by keys keygate already holds. Time is
// node:test's mocked Date, frozen at the start of each test and moved on only by tick(), so
// "within the cooldown" and "past it" are exact, whatever the machine's speed.

const KEYS_PATH = '/api/v1/api-keys/';

let signingKey: SigningKey;
let stranger: SigningKey;
let provider: IdentityProvider;
let server: RunningKeygate;

beforeEach(async () => {
  signingKey ??= await rsaSigningKey('key-1');
  stranger ??= await rsaSigningKey('stranger');
  provider = await startIdentityProvider({ keys: [signingKey.publicJwk] });
  server = await startKeygate({
    KEYGATE_OIDC_ISSUER: provider.url,
    KEYGATE_OIDC_AUDIENCE: OIDC_AUDIENCE,
    // Every response here is about the provider; the per-user limit would only get in the way.
    KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0',
  });
  mock.timers.enable({ apis: ['Date'], now: Date.now() });
});

afterEach(async () => {
  mock.timers.reset();
  await server.close();
  await provider.close();
});

function listKeys(token: string): Promise<JsonResponse> {
  return call(server.baseUrl, 'GET', KEYS_PATH, { token });
}

function tokenOf(key: SigningKey, sub = 'user-a', kid = key.kid): Promise<string> {
  return signRs256(oidcClaims(provider.url, { sub }), key, kid);
}

/** Tokens of keys the provider does not publish, each with a kid of its own. */
function unknownKidTokens(count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, (_, index) => tokenOf(stranger, 'user-a', `unknown-${index}`)));
}

function assertOk(response: JsonResponse): void {
  assert.equal(response.status, 200, `expected 200, got ${response.status}: ${JSON.stringify(response.body)}`);
}

function assertStatus(response: JsonResponse, status: number, detail: RegExp): void {
  assert.equal(response.status, status, JSON.stringify(response.body));
  assert.match(response.body.detail, detail);
}

const assertUnknownKey = (response: JsonResponse) => assertStatus(response, 401, /not known/);
const assertProviderDown = (response: JsonResponse) => {
  assertStatus(response, 503, /identity provider/i);
  assert.equal(response.headers.get('retry-after'), String(PROVIDER_COOLDOWN_MS / 1000));
};

/** One valid token, so that keygate holds the provider's keys: one fetch of each. */
async function warmUp(): Promise<void> {
  assertOk(await listKeys(await tokenOf(signingKey)));
  assert.deepEqual(provider.requests, { discovery: 1, jwks: 1 });
}

describe('discovery and the key set are read once', () => {
  test('20 valid tokens, at once and then one by one: one discovery and one JWKS fetch', async () => {
    const tokens = await Promise.all(Array.from({ length: 20 }, (_, index) => tokenOf(signingKey, `user-${index}`)));
    (await Promise.all(tokens.map(listKeys))).forEach(assertOk);
    for (const token of tokens) assertOk(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 1 });
  });

  test('50 unknown kids: no refetch within the cooldown, exactly one after it', async () => {
    await warmUp();
    const tokens = await unknownKidTokens(50);
    (await Promise.all(tokens.map(listKeys))).forEach(assertUnknownKey);
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 1 }, 'an unknown kid refetched within the cooldown');

    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    (await Promise.all(tokens.map(listKeys))).forEach(assertUnknownKey);
    for (const token of tokens) assertUnknownKey(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 2 });
    assertOk(await listKeys(await tokenOf(signingKey)));
  });

  test('a key the provider starts publishing is accepted once the cooldown is over', async () => {
    await warmUp();
    const newKey = await rsaSigningKey('key-2');
    provider.jwks = { keys: [signingKey.publicJwk, newKey.publicJwk] };
    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    assertOk(await listKeys(await tokenOf(newKey)));
    assertOk(await listKeys(await tokenOf(signingKey)));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 2 });
  });
});

describe('while the provider is down', () => {
  test('answering 500: known keys keep working, unknown kids are 503, one fetch per cooldown', async () => {
    await warmUp();
    await provider.setOutage('http 500');
    const known = await Promise.all(Array.from({ length: 20 }, (_, index) => tokenOf(signingKey, `user-${index}`)));
    (await Promise.all(known.map(listKeys))).forEach(assertOk);
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 1 });

    // Keys older than their maximum age are re-read in the background; the kept ones answer meanwhile.
    mock.timers.tick(KEY_SET_MAX_AGE_MS);
    (await Promise.all(known.map(listKeys))).forEach(assertOk);
    await provider.requested('jwks', 2);
    for (const token of known) assertOk(await listKeys(token));

    // An unknown kid cannot be judged while the provider is down: 503, and no fetch within the
    // cooldown of the failed one; past it, one fetch for the whole flood.
    const unknown = await unknownKidTokens(50);
    (await Promise.all(unknown.map(listKeys))).forEach(assertProviderDown);
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 2 });
    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    (await Promise.all(unknown.map(listKeys))).forEach(assertProviderDown);
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 3 });
    for (const token of known) assertOk(await listKeys(token));

    // Back up with a new key: the first token that names it has it read.
    const newKey = await rsaSigningKey('key-2');
    provider.jwks = { keys: [signingKey.publicJwk, newKey.publicJwk] };
    await provider.setOutage(undefined);
    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    assertOk(await listKeys(await tokenOf(newKey)));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 4 });
    assertUnknownKey(await listKeys(unknown[0]!));
  });

  test('refusing connections: known keys keep working, unknown kids are 503', async () => {
    await warmUp();
    await provider.setOutage('refusing');
    mock.timers.tick(KEY_SET_MAX_AGE_MS);
    const known = await Promise.all(Array.from({ length: 20 }, (_, index) => tokenOf(signingKey, `user-${index}`)));
    for (const token of known) assertOk(await listKeys(token));
    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    const [unknown] = await unknownKidTokens(1);
    assertProviderDown(await listKeys(unknown!));
    assertOk(await listKeys(known[0]!));
  });

  test('a failed discovery is retried after the cooldown, not on every request', async () => {
    await provider.setOutage('http 500');
    const token = await tokenOf(signingKey);
    for (let attempt = 0; attempt < 10; attempt += 1) assertProviderDown(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 0 });

    mock.timers.tick(PROVIDER_COOLDOWN_MS - 1);
    await provider.setOutage(undefined);
    assertProviderDown(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 0 }, 'discovery was retried within the cooldown');

    mock.timers.tick(1);
    assertOk(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 2, jwks: 1 });
  });

  test('a failed first read of the key set is retried after the cooldown, not on every request', async () => {
    provider.jwksAnswer = 'http 500';
    const token = await tokenOf(signingKey);
    for (let attempt = 0; attempt < 10; attempt += 1) assertProviderDown(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 1 });

    provider.jwksAnswer = 'keys';
    mock.timers.tick(PROVIDER_COOLDOWN_MS);
    assertOk(await listKeys(token));
    assert.deepEqual(provider.requests, { discovery: 1, jwks: 2 });
  });
});
