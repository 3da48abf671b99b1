import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { rmSync } from 'node:fs';
import { after, afterEach, before, describe, mock, test } from 'node:test';
import { loadConfig } from '../src/config.js';
import { FLOW_COOKIE, FlowCookies, type SignInFlow } from '../src/oidc/flow-cookie.js';
import { sameOriginPath } from '../src/oidc/return-to.js';
import { SIGN_IN_FAILURES } from '../src/oidc/sign-in-failure.js';
import { closedPortUrl } from './support/identity-provider.js';
import { CookieClient, type Hop } from './support/cookie-client.js';
import { freshDatabase, spawnKeygate, startKeygate, temporaryFolder, TEST_SECRET, type RunningKeygate } from './support/keygate.js';
import { CLIENT_ID, startSignInRig, type SignInRig, type SignInRigOptions } from './support/oidc-sign-in-rig.js';
import { startOpenIdProvider } from './support/openid-provider.js';
import { freePort } from './support/ports.js';

// Signing in to the dashboard with OpenID Connect, against a real OpenID provider (panva's
// certified oidc-provider) on a loopback socket of its own, driven like a browser drives it: a
// client that carries each host's cookies and follows the redirects, answering the provider's
// login and consent prompts with a POST.

const CLIENT_SECRET = 'a-client-secret-for-the-tests-only';
const ADMIN_SCOPE = 'keygate:admin';
const SESSION_COOKIE = 'keygate_session';
const ACCOUNTS = {
  alice: { preferred_username: 'alice', email: 'alice@example.com', roles: [ADMIN_SCOPE, 'auditor'] },
  bob: { email: 'bob@example.com' },
  carol: {},
};

/** A provider with keygate registered as its client, and a keygate in OIDC mode signing in there. */
function startRig(options: Omit<SignInRigOptions, 'accounts'> = {}): Promise<SignInRig> {
  return startSignInRig({ ...options, accounts: ACCOUNTS });
}

const last = (hops: Hop[]): Hop => hops.at(-1)!;

/**
 * Starts a sign-in at keygate and answers the provider's prompts as `account` (or denies them),
 * up to the provider's redirect back to keygate: the callback URL, not yet visited.
 */
async function toCallback(baseUrl: string, browser: CookieClient, account: string | 'deny', returnTo?: string): Promise<string> {
  const query = returnTo === undefined ? '' : `?return_to=${encodeURIComponent(returnTo)}`;
  const callbackPrefix = `${baseUrl}/auth/oidc/callback`;
  const backAtKeygate = (hop: Hop) => new URL(hop.headers.get('location') ?? '', hop.url).href.startsWith(callbackPrefix);
  let hops = await browser.follow(`${baseUrl}/auth/oidc/start${query}`, backAtKeygate);
  for (let prompts = 0; !backAtKeygate(last(hops)); prompts++) {
    const interaction = last(hops);
    assert.equal(interaction.status, 200, `expected a prompt at ${interaction.url}: ${interaction.status} ${interaction.body}`);
    assert.ok(prompts < 3, 'the provider keeps prompting');
    const { prompt } = JSON.parse(interaction.body) as { prompt: string };
    const form = account === 'deny' ? 'deny=yes' : prompt === 'login' ? `login=${account}` : 'consent=yes';
    const posted = await browser.request(interaction.url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: form,
    });
    const location = posted.headers.get('location');
    assert.ok(location !== null, `the provider answered the ${prompt} form with ${posted.status}: ${posted.body}`);
    hops = [posted, ...(await browser.follow(new URL(location, interaction.url).href, backAtKeygate))];
    if (backAtKeygate(posted)) hops = [posted];
  }
  return new URL(last(hops).headers.get('location')!, last(hops).url).href;
}

/** A whole sign-in: keygate's answer to the provider's redirect back. */
async function signIn(rig: SignInRig, browser: CookieClient, account: string, returnTo?: string): Promise<Hop> {
  return browser.request(await toCallback(rig.keygate.baseUrl, browser, account, returnTo));
}

function assertSignedIn(rig: SignInRig, browser: CookieClient, callback: Hop, returnTo: string): void {
  assert.equal(callback.status, 302, callback.body);
  assert.equal(callback.headers.get('location'), returnTo);
  assert.ok(browser.cookie(rig.keygate.baseUrl, SESSION_COOKIE), 'no session cookie was set');
  assert.equal(browser.cookie(rig.keygate.baseUrl, FLOW_COOKIE), undefined, 'the flow cookie outlived its callback');
}

/** A failure page: the status, the code in the page, and no session started. */
function assertRefused(rig: SignInRig, browser: CookieClient, answer: Hop, status: number, code: string): void {
  assert.equal(answer.status, status, answer.body);
  assert.match(answer.headers.get('content-type') ?? '', /^text\/html/);
  assert.match(answer.body, new RegExp(`<code id="error-code">${code}</code>`));
  assert.match(answer.body, new RegExp(`href="/#/signin\\?error=${code}"`));
  assert.doesNotMatch(answer.body, /\bat .*\.js:\d+/, 'a stack trace in the page');
  assert.equal(browser.cookie(rig.keygate.baseUrl, SESSION_COOKIE), undefined, 'a session was started');
  assert.equal(answer.headers.get('location'), null);
}

async function session(rig: SignInRig, browser: CookieClient): Promise<{ status: number; body: any }> {
  const answer = await browser.request(`${rig.keygate.baseUrl}/auth/session`);
  return { status: answer.status, body: answer.body === '' ? undefined : JSON.parse(answer.body) };
}

async function api(rig: SignInRig, browser: CookieClient, method: string, path: string, options: { json?: unknown; csrf?: string } = {}) {
  const headers: Record<string, string> = {};
  if (options.json !== undefined) headers['content-type'] = 'application/json';
  if (options.csrf !== undefined) headers['x-csrf-token'] = options.csrf;
  const body = options.json === undefined ? undefined : JSON.stringify(options.json);
  const answer = await browser.request(`${rig.keygate.baseUrl}${path}`, { method, headers, body });
  return { status: answer.status, body: answer.body === '' ? undefined : JSON.parse(answer.body) };
}

/** The flow sealed in a browser's flow cookie, opened with the server's secret (as only keygate can). */
async function flowIn(rig: SignInRig, browser: CookieClient): Promise<SignInFlow> {
  const opened = await new FlowCookies(rig.keygate.keygate.userTokenSecret).open(browser.cookie(rig.keygate.baseUrl, FLOW_COOKIE)!);
  assert.ok('flow' in opened, 'the flow cookie does not open');
  return opened.flow;
}

describe('sign-in with a confidential client', () => {
  let rig: SignInRig;
  before(async () => {
    rig = await startRig({ clientSecret: CLIENT_SECRET });
  });
  after(() => rig.close());

  test('the session cookie works on GET /auth/session and creates a key (with the CSRF token)', async () => {
    const browser = new CookieClient();
    assertSignedIn(rig, browser, await signIn(rig, browser, 'bob', '/keys?sort=name'), '/keys?sort=name');
    const current = await session(rig, browser);
    assert.equal(current.status, 200, JSON.stringify(current.body));
    assert.equal(current.body.user_id, 'bob');
    assert.equal(current.body.username, 'bob@example.com', 'no preferred_username: the email');
    assert.equal(current.body.admin, false);

    const withoutCsrf = await api(rig, browser, 'POST', '/api/v1/api-keys', { json: { name: 'from the dashboard' } });
    assert.equal(withoutCsrf.status, 403, JSON.stringify(withoutCsrf.body));
    const created = await api(rig, browser, 'POST', '/api/v1/api-keys', { json: { name: 'from the dashboard' }, csrf: current.body.csrf_token });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    const listed = await api(rig, browser, 'GET', '/api/v1/api-keys');
    assert.deepEqual(listed.body.map((key: { name: string }) => key.name), ['from the dashboard']);
    assert.equal((await api(rig, browser, 'GET', '/api/v1/admin/api-keys')).status, 403, 'a non-admin opened the admin routes');
  });

  test('the provider role equal to KEYGATE_ADMIN_SCOPE makes a dashboard admin', async () => {
    const browser = new CookieClient();
    assertSignedIn(rig, browser, await signIn(rig, browser, 'alice'), '/');
    const current = await session(rig, browser);
    assert.equal(current.body.user_id, 'alice');
    assert.equal(current.body.username, 'alice');
    assert.equal(current.body.admin, true);
    assert.ok(current.body.scopes.includes('auditor'), `scopes: ${current.body.scopes}`);
    const admin = await api(rig, browser, 'GET', '/api/v1/admin/api-keys');
    assert.equal(admin.status, 200, JSON.stringify(admin.body));
  });

  test('no preferred_username nor email: the username is the sub', async () => {
    const browser = new CookieClient();
    assertSignedIn(rig, browser, await signIn(rig, browser, 'carol'), '/');
    assert.equal((await session(rig, browser)).body.username, 'carol');
  });

  test('PKCE: the provider was sent an S256 code_challenge of the flow\'s verifier, and a nonce', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'bob');
    const flow = await flowIn(rig, browser);
    const seen = rig.provider.authorizationRequests.at(-1)!;
    assert.equal(seen.code_challenge_method, 'S256');
    assert.equal(seen.code_challenge, createHash('sha256').update(flow.codeVerifier).digest('base64url'));
    assert.equal(seen.nonce, flow.nonce);
    assert.equal(seen.state, flow.state);
    assertSignedIn(rig, browser, await browser.request(callback), '/');
  });

  test('a tampered state, or none: refused, nothing started', async () => {
    for (const change of [(url: URL) => url.searchParams.set('state', 'not-the-state'), (url: URL) => url.searchParams.delete('state')]) {
      const browser = new CookieClient();
      const callback = new URL(await toCallback(rig.keygate.baseUrl, browser, 'bob'));
      change(callback);
      assertRefused(rig, browser, await browser.request(callback.href), 400, 'invalid_state');
      assert.equal(browser.cookie(rig.keygate.baseUrl, FLOW_COOKIE), undefined, 'a failed callback must end its flow');
    }
  });

  test('a callback in a browser that started no sign-in is refused (no login CSRF)', async () => {
    const victim = new CookieClient();
    const attacker = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, attacker, 'bob');
    assertRefused(rig, victim, await victim.request(callback), 400, 'no_flow');
  });

  test('another flow\'s code: refused (PKCE: the verifier is not the one its challenge was made of)', async () => {
    const first = new CookieClient();
    const second = new CookieClient();
    const firstCallback = new URL(await toCallback(rig.keygate.baseUrl, first, 'alice'));
    const secondCallback = new URL(await toCallback(rig.keygate.baseUrl, second, 'bob'));
    // The first flow's code, under the second flow's own state: only the code is foreign.
    secondCallback.searchParams.set('code', firstCallback.searchParams.get('code')!);
    assertRefused(rig, second, await second.request(secondCallback.href), 400, 'invalid_response');
  });

  test('a replayed code is refused, even with its own flow cookie', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'bob');
    const flowCookie = browser.cookie(rig.keygate.baseUrl, FLOW_COOKIE)!;
    assertSignedIn(rig, browser, await browser.request(callback), '/');
    const replay = new CookieClient();
    replay.setCookie(rig.keygate.baseUrl, FLOW_COOKIE, flowCookie);
    assertRefused(rig, replay, await replay.request(callback), 400, 'invalid_response');
  });

  test('an ID token whose nonce is not the flow\'s is refused (openid-client\'s nonce check)', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'bob');
    // The same flow (state and verifier), expecting another nonce than the one the code carries.
    const flow = await flowIn(rig, browser);
    const sealed = await new FlowCookies(rig.keygate.keygate.userTokenSecret).seal({ ...flow, nonce: 'another-flows-nonce' });
    browser.setCookie(rig.keygate.baseUrl, FLOW_COOKIE, sealed);
    assertRefused(rig, browser, await browser.request(callback), 400, 'invalid_response');
  });

  test('a flow cookie keygate did not seal is refused', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'bob');
    const forged = await new FlowCookies('another-secret-that-is-at-least-32-bytes').seal(await flowIn(rig, browser));
    browser.setCookie(rig.keygate.baseUrl, FLOW_COOKIE, forged);
    assertRefused(rig, browser, await browser.request(callback), 400, 'invalid_state');
  });

  test('a sign-in that took longer than 10 minutes is refused', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'bob');
    mock.timers.enable({ apis: ['Date'], now: Date.now() + 11 * 60_000 });
    try {
      assertRefused(rig, browser, await browser.request(callback), 400, 'flow_expired');
    } finally {
      mock.timers.reset();
    }
  });

  test('hostile callbacks: a 4xx page each, never a 500, nothing started', async () => {
    const callback = `${rig.keygate.baseUrl}/auth/oidc/callback`;
    for (const query of ['', '?', '?code=x', '?state=a&state=b&code=x', '?code=a&code=b', '?error=server_error', '?%zz=%zz&state=%', `?code=${'x'.repeat(8000)}`]) {
      const browser = new CookieClient();
      await browser.request(`${rig.keygate.baseUrl}/auth/oidc/start`); // a flow, so that its checks are reached
      const answer = await browser.request(callback + query);
      assert.ok(answer.status >= 400 && answer.status < 500, `${query.slice(0, 40)}: ${answer.status} ${answer.body}`);
      assert.match(answer.body, /<code id="error-code">[a-z_]+<\/code>/);
      assert.equal(browser.cookie(rig.keygate.baseUrl, SESSION_COOKIE), undefined);
    }
  });

  test('the provider answers access_denied: a 403 page saying so', async () => {
    const browser = new CookieClient();
    const callback = await toCallback(rig.keygate.baseUrl, browser, 'deny');
    assert.equal(new URL(callback).searchParams.get('error'), 'access_denied');
    assertRefused(rig, browser, await browser.request(callback), 403, 'access_denied');
  });

  test('return_to must be a same-origin path: open-redirect attempts are refused before the provider is asked', async () => {
    const asked = rig.provider.authorizationRequests.length;
    for (const returnTo of ['//evil.example/', 'https://evil.example/', '/\\evil.example', '\\\\evil.example', '/\t/evil.example', 'javascript:alert(1)', 'evil']) {
      const browser = new CookieClient();
      const answer = await browser.request(`${rig.keygate.baseUrl}/auth/oidc/start?return_to=${encodeURIComponent(returnTo)}`);
      assertRefused(rig, browser, answer, 400, 'invalid_return_to');
      assert.equal(browser.cookie(rig.keygate.baseUrl, FLOW_COOKIE), undefined, `a flow began for ${JSON.stringify(returnTo)}`);
    }
    assert.equal(rig.provider.authorizationRequests.length, asked);
  });

  test('the start sets the flow cookie HttpOnly, SameSite=Lax, for the sign-in routes only, for 10 minutes', async () => {
    const answer = await new CookieClient().request(`${rig.keygate.baseUrl}/auth/oidc/start`);
    assert.equal(answer.status, 302);
    assert.ok(answer.headers.get('location')!.startsWith(rig.provider.issuer));
    const cookie = answer.headers.getSetCookie().find((line) => line.startsWith(`${FLOW_COOKIE}=`))!;
    assert.match(cookie, /; Max-Age=600(;|$)/);
    assert.match(cookie, /; Path=\/auth\/oidc(;|$)/);
    assert.match(cookie, /; HttpOnly(;|$)/);
    assert.match(cookie, /; SameSite=Lax(;|$)/);
    assert.doesNotMatch(cookie, /Secure/, 'over http the cookie cannot be Secure');
  });

  test('GET /auth/config offers OIDC sign-in (and no local accounts, in OIDC mode)', async () => {
    const offered = (await (await fetch(`${rig.keygate.baseUrl}/auth/config`)).json()) as Record<string, boolean>;
    assert.equal(offered.oidc, true);
    assert.equal(offered.local_accounts, false);
  });

  test('GET /auth/oidc/failures/<code> answers the failure page\'s own sentence for each code, and 404 for anything else', async () => {
    for (const [code, [status, message]] of Object.entries(SIGN_IN_FAILURES)) {
      const answer = await fetch(`${rig.keygate.baseUrl}/auth/oidc/failures/${code}`);
      assert.equal(answer.status, 200, code);
      assert.deepEqual(await answer.json(), { code, status, message });
    }
    for (const code of ['unknown_code', 'constructor', '__proto__', 'toString', '%3Cscript%3E']) {
      const answer = await fetch(`${rig.keygate.baseUrl}/auth/oidc/failures/${code}`);
      assert.equal(answer.status, 404, code);
      assert.doesNotMatch(JSON.stringify(await answer.json()), /script|constructor|proto/, 'nothing of the address is echoed');
    }
  });

  test('the sign-in routes are not in the OpenAPI document', async () => {
    const document = (await (await fetch(`${rig.keygate.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.deepEqual(Object.keys(document.paths).filter((path) => path.startsWith('/auth/oidc')), []);
  });
});

describe('sign-in with a public client (PKCE, no secret)', () => {
  let rig: SignInRig;
  before(async () => {
    rig = await startRig();
  });
  after(() => rig.close());

  test('a whole sign-in', async () => {
    const browser = new CookieClient();
    assertSignedIn(rig, browser, await signIn(rig, browser, 'alice', '/admin'), '/admin');
    assert.equal((await session(rig, browser)).body.admin, true);
  });
});

describe('with KEYGATE_REQUIRED_SCOPE', () => {
  let rig: SignInRig;
  before(async () => {
    rig = await startRig({ env: { KEYGATE_REQUIRED_SCOPE: 'auditor' } });
  });
  after(() => rig.close());

  test('it is asked for; a sign-in whose scopes and roles lack it is refused (403), one with the role signs in', async () => {
    const start = await new CookieClient().request(`${rig.keygate.baseUrl}/auth/oidc/start`);
    assert.equal(new URL(start.headers.get('location')!).searchParams.get('scope'), 'openid profile email auditor');
    const bob = new CookieClient();
    assertRefused(rig, bob, await signIn(rig, bob, 'bob'), 403, 'missing_scope');
    const alice = new CookieClient();
    assertSignedIn(rig, alice, await signIn(rig, alice, 'alice'), '/');
  });
});

describe('with KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP=3', () => {
  let rig: SignInRig;
  before(async () => {
    rig = await startRig({ env: { KEYGATE_RATE_LIMIT_SIGN_IN_PER_IP: '3' } });
  });
  after(() => rig.close());

  test('callbacks count as sign-in attempts of their address: beyond the limit a 429 page, before the provider is asked', async () => {
    const bob = new CookieClient();
    assertSignedIn(rig, bob, await signIn(rig, bob, 'bob'), '/');
    // A flow cookie can be replayed with any code, each a call to the provider's token endpoint.
    const prober = new CookieClient();
    for (let i = 0; i < 2; i++) assertRefused(rig, prober, await prober.request(`${rig.keygate.baseUrl}/auth/oidc/callback?code=guess${i}&state=x`), 400, 'no_flow');
    const alice = new CookieClient();
    const refused = await signIn(rig, alice, 'alice');
    assertRefused(rig, alice, refused, 429, 'rate_limited');
    assert.match(refused.body, /Too many sign-in attempts/);
    assert.ok(Number(refused.headers.get('retry-after')) > 0, `Retry-After: ${refused.headers.get('retry-after')}`);
  });
});

describe('when sign-in cannot happen', () => {
  let keygate: RunningKeygate | undefined;
  afterEach(async () => {
    await keygate?.close();
    keygate = undefined;
  });

  test('the provider is down at the start: a 503 page saying so, not a 500', async () => {
    const issuer = await closedPortUrl();
    keygate = await startKeygate({
      KEYGATE_OIDC_ISSUER: issuer,
      KEYGATE_OIDC_AUDIENCE: 'keygate-api',
      KEYGATE_OIDC_CLIENT_ID: CLIENT_ID,
      KEYGATE_PUBLIC_URL: 'http://127.0.0.1:1',
    });
    const browser = new CookieClient();
    const answer = await browser.request(`${keygate.baseUrl}/auth/oidc/start`);
    assert.equal(answer.status, 503, answer.body);
    assert.match(answer.body, /<code id="error-code">provider_unavailable<\/code>/);
    assert.match(answer.body, /cannot be reached/);
    assert.equal(answer.headers.get('retry-after'), '30');
    assert.equal(browser.cookie(keygate.baseUrl, FLOW_COOKIE), undefined);
  });

  test('not configured (OIDC mode without a client id): both routes are 404 with a detail', async () => {
    keygate = await startKeygate({ KEYGATE_OIDC_ISSUER: await closedPortUrl(), KEYGATE_OIDC_AUDIENCE: 'keygate-api' });
    assert.equal(((await (await fetch(`${keygate.baseUrl}/auth/config`)).json()) as Record<string, boolean>).oidc, false);
    for (const path of ['/auth/oidc/start', '/auth/oidc/callback?code=x&state=y']) {
      const answer: Response = await fetch(`${keygate.baseUrl}${path}`, { redirect: 'manual' });
      assert.equal(answer.status, 404);
      assert.match(((await answer.json()) as { detail: string }).detail, /KEYGATE_OIDC_CLIENT_ID/);
    }
  });
});

describe('the log', () => {
  test('a sign-in and a refused callback log neither the code, the state, the cookies nor the client secret', async () => {
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const provider = await startOpenIdProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, redirectUri: `${publicUrl}/auth/oidc/callback`, accounts: ACCOUNTS });
    const folder = temporaryFolder();
    const database = await freshDatabase(folder);
    // A keygate process of its own, logging at info as it runs in production: its output is the log.
    const server = await spawnKeygate(
      {
        DATABASE_URL: database.url,
        KEYGATE_SECRET: TEST_SECRET,
        PORT: String(port),
        KEYGATE_OIDC_ISSUER: provider.issuer,
        KEYGATE_OIDC_AUDIENCE: 'keygate-api',
        KEYGATE_OIDC_CLIENT_ID: CLIENT_ID,
        KEYGATE_OIDC_CLIENT_SECRET: CLIENT_SECRET,
        KEYGATE_PUBLIC_URL: publicUrl,
      },
      folder,
    );
    try {
      const browser = new CookieClient();
      const callback = await toCallback(server.baseUrl, browser, 'alice');
      const flowCookie = browser.cookie(server.baseUrl, FLOW_COOKIE)!;
      assert.equal((await browser.request(callback)).status, 302);
      const replay = new CookieClient();
      replay.setCookie(server.baseUrl, FLOW_COOKIE, flowCookie);
      assert.equal((await replay.request(callback)).status, 400);
      const output = await server.waitForOutput(/sign-in refused/);
      assert.match(output, /sign-in succeeded/);
      assert.match(output, /"code":"invalid_response"/);
      const { searchParams } = new URL(callback);
      const secrets = { code: searchParams.get('code')!, state: searchParams.get('state')!, flowCookie, session: browser.cookie(server.baseUrl, SESSION_COOKIE)!, CLIENT_SECRET };
      for (const [what, secret] of Object.entries(secrets)) assert.ok(!output.includes(secret), `the log holds the ${what}`);
    } finally {
      await server.stop();
      await provider.close();
      await database.drop();
      rmSync(folder, { recursive: true, force: true });
    }
  });
});

describe('settings', () => {
  const oidcMode = { KEYGATE_OIDC_ISSUER: 'https://id.example.com', KEYGATE_OIDC_AUDIENCE: 'keygate-api' };

  test('the redirect URI is the public URL\'s callback', () => {
    const config = loadConfig({ ...oidcMode, KEYGATE_OIDC_CLIENT_ID: 'dash', KEYGATE_PUBLIC_URL: 'https://keygate.example.com/' });
    assert.deepEqual(config.oidc?.signIn, { clientId: 'dash', clientSecret: undefined, redirectUri: 'https://keygate.example.com/auth/oidc/callback' });
    assert.equal(loadConfig(oidcMode).oidc?.signIn, undefined);
  });

  test('bad combinations are refused, naming the variable', () => {
    const refusals: [Record<string, string>, RegExp][] = [
      [{ ...oidcMode, KEYGATE_OIDC_CLIENT_ID: 'dash' }, /KEYGATE_PUBLIC_URL/],
      [{ ...oidcMode, KEYGATE_OIDC_CLIENT_ID: 'dash', KEYGATE_PUBLIC_URL: 'https://keygate.example.com/dashboard' }, /KEYGATE_PUBLIC_URL must be/],
      [{ ...oidcMode, KEYGATE_OIDC_CLIENT_ID: 'dash', KEYGATE_PUBLIC_URL: 'keygate.example.com' }, /KEYGATE_PUBLIC_URL must be/],
      [{ ...oidcMode, KEYGATE_OIDC_CLIENT_SECRET: 'secret' }, /KEYGATE_OIDC_CLIENT_SECRET is set but KEYGATE_OIDC_CLIENT_ID is not/],
      [{ KEYGATE_OIDC_CLIENT_ID: 'dash', KEYGATE_PUBLIC_URL: 'https://keygate.example.com' }, /KEYGATE_OIDC_CLIENT_ID needs OIDC mode/],
    ];
    for (const [env, message] of refusals) assert.throws(() => loadConfig(env), message);
  });
});

describe('return_to', () => {
  test('same-origin paths pass as given; anything a browser could read as another origin does not', () => {
    for (const path of ['/', '/keys', '/keys?sort=name#top', '/#/signin', '/a//b']) assert.equal(sameOriginPath(path), path);
    for (const path of ['', 'keys', '//evil.example', '/\\evil.example', '/\\/evil', 'https://evil.example', '/\n/evil', `/${'a'.repeat(2048)}`]) {
      assert.equal(sameOriginPath(path), undefined, JSON.stringify(path));
    }
  });
});
