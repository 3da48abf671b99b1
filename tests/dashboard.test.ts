import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { SIGN_IN_FAILURES } from '../src/oidc/sign-in-failure.js';
import { assertAccessible, browserTestSkip, launchBrowser, photograph, visit as openVisit, WAIT_MS, type Visit } from './support/browser.js';
import { call, CLI_SCRIPT, startKeygate, TEST_SECRET, type RunningKeygate } from './support/keygate.js';

// The dashboard in a real browser (Debian's Chromium, driven by playwright-core; no browser is
// ever downloaded), used as a person would: sign in with an account the CLI made, create a key,
// copy it with the page's button and prove at /verify that the copied text is the key; rotate
// with and without grace, disable and enable, edit, revoke (cancelling first), read the usage and
// the audit events; an admin finds and revokes another user's key; a non-admin is kept out of the
// admin pages. Each view is checked with axe-core (no serious or critical violation) and
// photographed at 390 and 1280 px into test-artifacts/screenshots/; the main flow is done once
// again with the keyboard alone.

// The PostgreSQL pass skips it: every request the page makes is an API request that the API's
// own suites test on both databases, and one browser pass keeps CI short.
const SKIP = browserTestSkip('dashboard browser test', 'the API it drives is tested on PostgreSQL by its own suites');
const PASSWORD = 'correct horse battery staple';

let server: RunningKeygate;
let browser: Browser;

/** `keygate users add`, as an operator runs it: the password on stdin. */
async function addAccount(username: string, admin = false): Promise<void> {
  const child = spawn(process.execPath, [CLI_SCRIPT, 'users', 'add', username, ...(admin ? ['--admin'] : [])], {
    env: { PATH: process.env.PATH, DATABASE_URL: server.databaseUrl, KEYGATE_SECRET: TEST_SECRET, KEYGATE_LOG_LEVEL: 'silent' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  child.stdin.end(`${PASSWORD}\n`);
  const [code] = (await once(child, 'exit')) as [number | null];
  assert.equal(code, 0, `keygate users add ${username}: ${output}`);
}

/** What /verify says of a key, as a gateway would ask. */
async function verifyStatus(apiKey: string): Promise<number> {
  return (await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': apiKey } })).status;
}

/** A fresh browser profile that may use the clipboard and may load nothing but keygate. */
function visit(): Promise<Visit> {
  return openVisit(browser, [server.baseUrl], { clipboard: true });
}

async function signIn(page: Page, username: string): Promise<void> {
  await page.goto(`${server.baseUrl}/`);
  await page.getByRole('heading', { name: 'Sign in to keygate' }).waitFor();
  await page.getByLabel('Username').first().fill(username);
  await page.getByLabel('Password').first().fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.getByRole('heading', { name: 'Your API keys' }).waitFor();
}

/** The key the page shows once, as the copy button puts it on the clipboard. */
async function copyShownKey(page: Page): Promise<string> {
  const shown = (await page.getByTestId('api-key').innerText()).trim();
  await page.getByRole('button', { name: 'Copy key' }).click();
  await page.getByText('Copied to the clipboard.').waitFor();
  const copied = await page.evaluate(() => navigator.clipboard.readText());
  assert.equal(copied, shown, 'the clipboard holds the key the page shows');
  return copied;
}

/** Nothing of the key is left where it could outlive the panel: storage, the address, the page. */
async function assertKeyForgotten(page: Page, apiKey: string): Promise<void> {
  const kept = await page.evaluate((key) => {
    const stored = [...Object.values(localStorage), ...Object.values(sessionStorage)].join('\n');
    return { stored: stored.includes(key), url: location.href.includes(key), page: document.documentElement.outerHTML.includes(key) };
  }, apiKey);
  assert.deepEqual(kept, { stored: false, url: false, page: false }, 'the key is in no storage, no address and, once dismissed, not in the page');
}

/** The action attributes of the audit rows shown (each has data-action). */
async function auditActions(page: Page): Promise<string[]> {
  await page.locator('table.events').waitFor();
  await page.locator('.audit .loading').waitFor({ state: 'detached' });
  return page.locator('table.events tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-action') ?? ''));
}

// One browser for the whole file, started once.
before(async () => {
  if (SKIP) return;
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
});

describe('the dashboard in a browser', { skip: SKIP }, () => {
  let alice: Visit;
  /** Alice's first key: its key_id and the key as last copied. */
  const first = { keyId: '', apiKey: '' };

  before(async () => {
    // Usage counts are written behind: flushed often, so that the chart shows them soon.
    server = await startKeygate({ KEYGATE_LAST_USED_FLUSH_MS: '50' });
    await addAccount('alice');
    await addAccount('bob');
    await addAccount('root', true);
    alice = await visit();
  });

  after(async () => {
    await alice?.context.close();
    await server?.close();
  });

  test('signing in: a wrong password shows the API\'s detail; the right one shows an empty list that says how to start', async () => {
    const { page } = alice;
    await page.goto(`${server.baseUrl}/`);
    await page.getByRole('heading', { name: 'Sign in to keygate' }).waitFor();
    await page.getByLabel('Username').first().fill('alice');
    await page.getByLabel('Password').first().fill('not the password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('alert').filter({ hasText: 'Invalid username or password' }).waitFor();
    // What /auth/config says by default: local accounts only (no sign-up, no OIDC provider).
    assert.equal(await page.getByRole('heading', { name: 'New here? Create an account' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Sign in with your provider' }).count(), 0);
    await assertAccessible(page, 'sign-in');
    await photograph(page, 'sign-in');

    await page.getByLabel('Password').first().fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.getByRole('heading', { name: 'No keys yet' }).waitFor();
    assert.match(await page.locator('.empty').innerText(), /Create one/);
    assert.match(await page.locator('header').innerText(), /Signed in as alice/);
    await assertAccessible(page, 'empty keys');
    await photograph(page, 'keys-empty');
  });

  test('creating a key shows it once with a copy button and snippets; the copied key verifies', async () => {
    const { page } = alice;
    await page.getByRole('link', { name: 'Create your first key' }).click();
    await page.getByRole('heading', { name: 'Create a key' }).waitFor();
    await page.getByLabel('Name').fill('Production');
    await page.getByLabel('Scopes').fill('tools:read tools:call');
    await page.getByLabel('Verifications allowed').fill('1000');
    await page.getByLabel('Refilled to that number').selectOption('month');
    await assertAccessible(page, 'create');
    await photograph(page, 'create');
    const creating = page.waitForRequest((request) => request.method() === 'POST' && request.url().endsWith('/api/v1/api-keys/'));
    await page.getByRole('button', { name: 'Create key' }).click();
    const csrfToken = (await creating).headers()['x-csrf-token'];
    const session = await page.evaluate(async () => (await (await fetch('/auth/session', { credentials: 'same-origin' })).json()) as { csrf_token: string });
    assert.equal(csrfToken, session.csrf_token, "the create request carries the session's CSRF token");
    await page.getByTestId('api-key').waitFor();

    const apiKey = await copyShownKey(page);
    assert.match(apiKey, /^mcpkey_live_/);
    assert.match(await page.locator('.issued').innerText(), /will not be shown again/);
    assert.equal(await verifyStatus(apiKey), 200, 'the copied key verifies');
    const snippets = await page.locator('.snippet pre').allInnerTexts();
    const mcpConfig = JSON.parse(snippets[0]!) as { mcpServers: Record<string, { headers: Record<string, string> }> };
    assert.equal(mcpConfig.mcpServers.Production?.headers.Authorization, `Bearer ${apiKey}`, 'the MCP config sends the key as a bearer token');
    assert.ok(snippets[1]!.includes(`${server.baseUrl}/api/v1/api-keys/verify`) && snippets[1]!.includes(apiKey), 'the curl command checks this key');
    await assertAccessible(page, 'key created');
    await photograph(page, 'key-created');

    await page.getByRole('button', { name: 'I have saved it' }).click();
    await page.getByRole('heading', { name: 'Production', level: 1 }).waitFor();
    await assertKeyForgotten(page, apiKey);
    first.keyId = new URL(page.url()).hash.split('/').pop()!;
    first.apiKey = apiKey;
    assert.equal(apiKey.split('_')[2], first.keyId, "the key's page is the created key's");
  });

  test('the list shows each key\'s columns, and its headers sort it', async () => {
    const { page } = alice;
    const token = await server.tokenFor('alice');
    const zulu = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'Zulu', environment: 'test' } });
    assert.equal(zulu.status, 201);
    await page.getByRole('link', { name: 'My keys' }).click();
    await page.locator('table.keys').waitFor();
    const names = () => page.locator('table.keys tbody tr td:first-child').allInnerTexts();
    assert.deepEqual(await names(), ['Zulu', 'Production'], 'newest first, as the API lists them');
    const production = await page.locator(`tr[data-key-id="${first.keyId}"]`).innerText();
    for (const shown of [first.keyId, 'live', 'tools:read', 'tools:call', 'active']) assert.ok(production.includes(shown), `the row shows ${shown}`);
    assert.match(await page.locator(`tr[data-key-id="${zulu.body.key_id}"]`).innerText(), /test/);
    const time = page.locator(`tr[data-key-id="${first.keyId}"] time`).first();
    assert.match((await time.getAttribute('title')) ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/, 'the exact UTC time on hover');
    assert.match((await time.getAttribute('datetime')) ?? '', /Z$/);

    const nameHeader = page.locator('th', { hasText: 'Name' });
    await nameHeader.getByRole('button').click();
    assert.deepEqual(await names(), ['Production', 'Zulu']);
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'ascending');
    await nameHeader.getByRole('button').click();
    assert.deepEqual(await names(), ['Zulu', 'Production']);
    assert.equal(await nameHeader.getAttribute('aria-sort'), 'descending');
    await assertAccessible(page, 'keys');
    await photograph(page, 'keys');
  });

  test('rotating without grace: the old key is refused at once, the new one verifies', async () => {
    const { page } = alice;
    await page.goto(`${server.baseUrl}/#/keys/${first.keyId}`);
    await page.getByRole('button', { name: 'Rotate…' }).click();
    const dialog = page.getByRole('dialog', { name: 'Rotate "Production"?' });
    await dialog.waitFor();
    await assertAccessible(page, 'rotate dialog');
    await photograph(page, 'rotate-dialog');
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    await page.getByRole('heading', { name: 'Key "Production" rotated: the new key' }).waitFor();
    const rotated = await copyShownKey(page);
    assert.notEqual(rotated, first.apiKey);
    assert.equal(await verifyStatus(first.apiKey), 401, 'the old key is refused');
    assert.equal(await verifyStatus(rotated), 200, 'the new key verifies');
    await photograph(page, 'key-rotated');
    await page.getByRole('button', { name: 'I have saved it' }).click();
    await assertKeyForgotten(page, rotated);
    first.apiKey = rotated;
  });

  test('rotating with a grace: the old key keeps working beside the new one, and the page says until when', async () => {
    const { page } = alice;
    await page.getByRole('button', { name: 'Rotate…' }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByLabel('Keep the old key working for (seconds)').fill('3600');
    await dialog.getByRole('button', { name: 'Rotate key' }).click();
    const rotated = await copyShownKey(page);
    assert.equal(await verifyStatus(first.apiKey), 200, 'the old key still verifies during the grace');
    assert.equal(await verifyStatus(rotated), 200, 'the new key verifies');
    await page.getByText('Previous key works until').waitFor();
    await page.getByRole('button', { name: 'I have saved it' }).click();
    first.apiKey = rotated;
  });

  test('disabling refuses the key; enabling accepts it again', async () => {
    const { page } = alice;
    await page.getByRole('button', { name: 'Disable' }).click();
    await page.getByTestId('key-status').filter({ hasText: 'disabled' }).waitFor();
    assert.equal(await verifyStatus(first.apiKey), 401, 'a disabled key is refused');
    await page.getByRole('button', { name: 'Enable' }).click();
    await page.getByTestId('key-status').filter({ hasText: 'active' }).waitFor();
    assert.equal(await verifyStatus(first.apiKey), 200, 'an enabled key verifies again');
  });

  test('editing scopes and metadata patches the key: a member removed from the metadata is removed', async () => {
    const { page } = alice;
    const token = await server.tokenFor('alice');
    const read = async () => (await call(server.baseUrl, 'GET', `/api/v1/api-keys/${first.keyId}`, { token })).body;
    await page.getByLabel('Metadata (a JSON object)').fill('{"team": "search", "plan": "pro"}');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByText('Changes saved.').waitFor();
    assert.deepEqual((await read()).metadata, { team: 'search', plan: 'pro' });

    await page.locator('.summary').waitFor();
    await page.getByLabel('Scopes', { exact: true }).fill('tools:read');
    await page.getByLabel('Metadata (a JSON object)').fill('{"team": "search"}');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.locator('.summary .tag').filter({ hasText: 'tools:call' }).waitFor({ state: 'detached' });
    const key = await read();
    assert.deepEqual(key.metadata, { team: 'search' }, 'plan was removed (sent as null in the merge patch)');
    assert.deepEqual(key.scopes, ['tools:read']);

    await page.getByLabel('Metadata (a JSON object)').fill('[1, 2]');
    await page.getByRole('button', { name: 'Save changes' }).click();
    await page.getByRole('alert').filter({ hasText: 'Metadata must be a JSON object' }).waitFor();
  });

  test('the usage chart counts the verifications, valid and refused, with a title, a description and a table', async () => {
    const { page } = alice;
    assert.equal(await verifyStatus(first.apiKey), 200);
    const refused = await call(server.baseUrl, 'POST', '/api/v1/api-keys/verify?scope=admin', { headers: { 'x-api-key': first.apiKey } });
    assert.equal(refused.status, 403, 'a verification asking a scope the key lacks is refused');
    // Counts are written behind (every 50 ms here): reload until they show, a bounded number of times.
    let totals = { valid: 0, refused: 0 };
    for (let attempt = 0; attempt < 100 && (totals.valid === 0 || totals.refused === 0); attempt++) {
      await page.reload();
      await page.getByTestId('usage-total-valid').waitFor({ state: 'attached' });
      totals = {
        valid: Number(await page.getByTestId('usage-total-valid').textContent()),
        refused: Number(await page.getByTestId('usage-total-refused').textContent()),
      };
    }
    assert.ok(totals.valid >= 1 && totals.refused >= 1, `valid and refused verifications are counted: ${JSON.stringify(totals)}`);
    const chart = page.locator('svg.chart');
    assert.equal(await chart.getAttribute('role'), 'img');
    assert.match(await chart.locator('title').textContent() ?? '', /Verifications per hour/);
    assert.match(await chart.locator('desc').textContent() ?? '', new RegExp(`${totals.valid} valid and ${totals.refused} refused`));
    assert.ok((await chart.locator('rect.valid').count()) >= 24, 'a bar per hour');
    await page.getByText('The counts as a table').click();
    await page.getByLabel('Per', { exact: true }).selectOption('day');
    await page.locator('svg.chart title', { hasText: 'per day' }).waitFor({ state: 'attached' });
    await assertAccessible(page, 'key page');
    await photograph(page, 'key-page');
  });

  test("the key's page lists its audit events", async () => {
    const actions = await auditActions(alice.page);
    for (const action of ['key.created', 'key.rotated', 'key.disabled', 'key.enabled', 'key.updated']) {
      assert.ok(actions.includes(action), `${action} is listed: ${actions.join(' ')}`);
    }
    assert.equal(actions.at(-1), 'key.created', 'newest first');
  });

  test('revoking asks first: Cancel (and Escape) change nothing; confirming revokes, and the key is refused', async () => {
    const { page } = alice;
    const revoke = page.getByRole('button', { name: 'Revoke…' });
    await revoke.click();
    const dialog = page.getByRole('dialog', { name: 'Revoke "Production"?' });
    await dialog.waitFor();
    await assertAccessible(page, 'revoke dialog');
    await photograph(page, 'revoke-dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'detached' });
    assert.equal(await verifyStatus(first.apiKey), 200, 'cancelled: the key still verifies');
    assert.equal(await revoke.evaluate((button) => button === document.activeElement), true, 'focus is back on the Revoke button');

    await revoke.click();
    await dialog.getByRole('button', { name: 'Revoke key' }).click();
    await page.getByRole('heading', { name: 'Your API keys' }).waitFor();
    await page.getByText('Key "Production" revoked.').waitFor();
    await page.locator('table.keys').waitFor();
    assert.equal(await page.locator(`tr[data-key-id="${first.keyId}"]`).count(), 0, 'the key is gone from the list');
    assert.equal(await verifyStatus(first.apiKey), 401, 'a revoked key is refused');
  });

  test('a non-admin sees no admin links, gets a clear message at their addresses, and the API refuses them', async () => {
    const { page } = alice;
    assert.equal(await page.getByRole('link', { name: 'All keys' }).count(), 0);
    assert.equal(await page.getByRole('link', { name: 'Audit trail' }).count(), 0);
    for (const [hash, title] of [['#/admin/keys', 'All keys'], ['#/admin/audit', 'Audit trail']] as const) {
      await page.goto(`${server.baseUrl}/${hash}`);
      await page.getByRole('heading', { name: title }).waitFor();
      await page.getByRole('alert').filter({ hasText: 'This page is for admins only' }).waitFor();
      assert.equal(await page.locator('table').count(), 0, `${title}: no data shown`);
    }
    await assertAccessible(page, 'not an admin');
    await photograph(page, 'not-admin');
    const statuses = await page.evaluate(async () =>
      Promise.all(['/api/v1/admin/api-keys', '/api/v1/audit?user_id=bob'].map(async (path) => (await fetch(path, { credentials: 'same-origin' })).status)),
    );
    assert.deepEqual(statuses, [403, 403], "the session's own requests to admin data are refused");
  });

  test('failures are said plainly: network down (with Try again), 429 with its wait, 401 back to sign-in', async () => {
    const { page } = alice;
    await page.goto(`${server.baseUrl}/#/keys`);
    await page.locator('table.keys').waitFor();
    await page.route('**/api/v1/api-keys/', (route) => route.abort('internetdisconnected'));
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'keygate cannot be reached' }).waitFor();
    await photograph(page, 'network-down');
    await page.unroute('**/api/v1/api-keys/');
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.locator('table.keys').waitFor();

    await page.route('**/api/v1/api-keys/', (route) =>
      route.fulfill({ status: 429, headers: { 'retry-after': '7', 'content-type': 'application/json' }, body: '{"detail": "Rate limit exceeded: 60 per minute"}' }),
    );
    await page.reload();
    await page.getByRole('alert').filter({ hasText: 'Too many requests: try again in 7 s. (Rate limit exceeded: 60 per minute)' }).waitFor();
    await page.unroute('**/api/v1/api-keys/');

    await alice.context.clearCookies();
    await page.getByRole('button', { name: 'Try again' }).click();
    await page.getByRole('heading', { name: 'Sign in to keygate' }).waitFor();
    await page.getByText('Your session has ended: sign in again.').waitFor();
    await page.getByLabel('Username').first().fill('alice');
    await page.getByLabel('Password').first().fill(PASSWORD);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.locator('table.keys').waitFor();
    assert.equal(new URL(page.url()).hash, '#/keys', 'signed in again, back on the page the session ended on');
    assert.deepEqual(alice.problems, [], 'no outside request, no page error, no CSP violation');
  });

  test('an admin finds another user\'s key by user id and by key id, revokes it, and reads it in the audit trail', async () => {
    const bobs = await call(server.baseUrl, 'POST', '/api/v1/api-keys/', { token: await server.tokenFor('bob'), json: { name: 'bob laptop' } });
    assert.equal(bobs.status, 201);
    const root = await visit();
    try {
      const { page } = root;
      await signIn(page, 'root');
      await page.getByRole('link', { name: 'All keys' }).click();
      await page.getByRole('heading', { name: 'All keys' }).waitFor();
      await page.locator('table.keys').waitFor();
      await page.getByLabel('User ID').fill('bob');
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText('Keys of bob, newest first').waitFor();
      assert.deepEqual(await page.locator('table.keys tbody tr').evaluateAll((rows) => rows.map((row) => row.getAttribute('data-key-id'))), [bobs.body.key_id]);
      await assertAccessible(page, 'admin keys');
      await photograph(page, 'admin-keys');

      await page.getByLabel('User ID').fill('');
      await page.getByLabel('or Key ID').fill(bobs.body.key_id);
      await page.getByRole('button', { name: 'Search' }).click();
      await page.getByText(`The key ${bobs.body.key_id}`).waitFor();
      await page.getByRole('link', { name: 'bob laptop' }).click();
      await page.getByRole('heading', { name: 'bob laptop', level: 1 }).waitFor();
      assert.match(await page.locator('.summary').innerText(), /bob/);
      await page.getByRole('button', { name: 'Revoke…' }).click();
      await page.getByRole('dialog').getByRole('button', { name: 'Revoke key' }).click();
      await page.getByRole('heading', { name: 'All keys' }).waitFor();
      assert.equal(await verifyStatus(bobs.body.api_key), 401, "bob's revoked key is refused");

      await page.getByRole('link', { name: 'Audit trail' }).click();
      await page.getByRole('heading', { name: 'Audit trail' }).waitFor();
      const revoked = page.locator('table.events tbody tr[data-action="key.revoked"]', { hasText: bobs.body.key_id });
      await revoked.waitFor();
      assert.match(await revoked.innerText(), /admin root/);
      const actions = await auditActions(page);
      assert.ok(actions.includes('admin.access'), "alice's refused admin requests are in the trail");
      await assertAccessible(page, 'audit trail');
      await photograph(page, 'audit-trail');
      assert.deepEqual(root.problems, []);
    } finally {
      await root.context.close();
    }
  });

  test('the main flow with the keyboard alone: skip link, sign in, create, dismiss, revoke with a trapped dialog', async () => {
    const keyboard = await visit();
    try {
      const { page } = keyboard;
      const focused = () => page.evaluate(() => (document.activeElement?.textContent ?? '').trim() || (document.activeElement as HTMLInputElement | null)?.name || '');
      /** Presses Tab until the focused element reads `text` (at most 40 times). */
      const tabTo = async (text: string) => {
        for (let presses = 0; presses < 40; presses++) {
          await page.keyboard.press('Tab');
          if ((await focused()) === text) return;
        }
        assert.fail(`Tab never reached "${text}"`);
      };
      await page.goto(`${server.baseUrl}/`);
      await page.getByRole('heading', { name: 'Sign in to keygate' }).waitFor();
      await page.getByLabel('Username').first().waitFor();
      await page.keyboard.press('Tab');
      assert.equal(await focused(), 'Skip to content', 'the first Tab reaches the skip link');
      assert.equal(await page.locator('.skip-link').evaluate((link) => link.getBoundingClientRect().top >= 0), true, 'the skip link shows when focused');
      await page.keyboard.press('Enter');
      assert.equal(await page.evaluate(() => document.activeElement?.id), 'main', 'the skip link moves focus to the content');
      await tabTo('username');
      await page.keyboard.type('alice');
      await page.keyboard.press('Tab');
      await page.keyboard.type(PASSWORD);
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Your API keys' }).waitFor();

      await tabTo('Create a key');
      const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
      assert.notEqual(outline, 'none', 'the focused control shows its focus');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Create a key' }).waitFor();
      await tabTo('name');
      await page.keyboard.type('Keyboard only');
      await page.keyboard.press('Enter');
      await page.getByTestId('api-key').waitFor();
      const apiKey = (await page.getByTestId('api-key').innerText()).trim();
      assert.equal(await verifyStatus(apiKey), 200);
      await tabTo('I have saved it');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Keyboard only', level: 1 }).waitFor();

      await tabTo('Revoke…');
      await page.keyboard.press('Enter');
      const dialog = page.getByRole('dialog');
      await dialog.waitFor();
      for (let presses = 0; presses < 5; presses++) {
        await page.keyboard.press('Tab');
        assert.equal(await dialog.evaluate((element) => element.contains(document.activeElement)), true, `Tab ${presses + 1} stays in the dialog`);
      }
      await page.keyboard.press('Shift+Tab');
      assert.equal(await dialog.evaluate((element) => element.contains(document.activeElement)), true, 'Shift+Tab stays in the dialog');
      await page.keyboard.press('Escape');
      await dialog.waitFor({ state: 'detached' });
      assert.equal(await focused(), 'Revoke…', 'Escape closes the dialog and focus returns to its button');
      assert.equal(await verifyStatus(apiKey), 200, 'Escape revoked nothing');

      await page.keyboard.press('Enter');
      await dialog.waitFor();
      await tabTo('Revoke key');
      await page.keyboard.press('Enter');
      await page.getByRole('heading', { name: 'Your API keys' }).waitFor();
      assert.equal(await verifyStatus(apiKey), 401, 'revoked with the keyboard');

      await tabTo('Sign out');
      await page.keyboard.press('Enter');
      await page.getByText('You have signed out.').waitFor();
      const session = await page.evaluate(async () => (await fetch('/auth/session', { credentials: 'same-origin' })).status);
      assert.equal(session, 401, 'signed out: the session is gone');
      assert.deepEqual(keyboard.problems, []);
    } finally {
      await keyboard.context.close();
    }
  });
});

describe('the sign-in page of a server with open sign-up', { skip: SKIP }, () => {
  let open: RunningKeygate;
  let page: Page;

  before(async () => {
    open = await startKeygate({ KEYGATE_SIGNUP: 'open' });
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
  });

  after(async () => {
    await page?.context().close();
    await open?.close();
  });

  test('offers sign-up beside sign-in, and a new account lands signed in on its empty list', async () => {
    await page.goto(`${open.baseUrl}/`);
    const signUp = page.getByRole('region', { name: 'New here? Create an account' });
    await signUp.waitFor();
    await signUp.getByLabel('Username').fill('carol');
    await signUp.getByLabel('Password').fill(PASSWORD);
    await signUp.getByRole('button', { name: 'Create account' }).click();
    await page.getByRole('heading', { name: 'No keys yet' }).waitFor();
    assert.match(await page.locator('header').innerText(), /Signed in as carol/);
  });

  test('offers the provider link (and no password form) when /auth/config says OIDC only, and says why a provider sign-in failed', async () => {
    await page.route('**/auth/config', (route) =>
      route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ local_accounts: false, signup: false, oidc: true }) }),
    );
    await page.context().clearCookies();
    await page.goto(`${open.baseUrl}/#/signin?error=access_denied`);
    const provider = page.getByRole('link', { name: 'Sign in with your provider' });
    await provider.waitFor();
    assert.equal(await provider.getAttribute('href'), '/auth/oidc/start?return_to=/');
    assert.equal(await page.getByLabel('Password').count(), 0, 'no password form in OIDC mode');
    // The failure page's own sentence, from the server's one table, then the code.
    const [, denied] = SIGN_IN_FAILURES.access_denied;
    await page.getByRole('alert').filter({ hasText: `Signing in with your provider failed. ${denied} Error code: access_denied.` }).waitFor();
    // A code keygate does not know: the code alone. Text that is no code (anyone can craft the address): none of it.
    await page.goto(`${open.baseUrl}/#/signin?error=some_future_code`);
    await page.getByRole('alert').filter({ hasText: 'Signing in with your provider failed. Error code: some_future_code.' }).waitFor();
    await page.goto(`${open.baseUrl}/#/signin?error=${encodeURIComponent('Call +1 555 0100 to restore access')}`);
    const crafted = page.getByRole('alert').filter({ hasText: 'Signing in with your provider failed' });
    await crafted.waitFor();
    assert.equal((await crafted.innerText()).trim(), 'Signing in with your provider failed.');
    await page.unroute('**/auth/config');
  });
});
