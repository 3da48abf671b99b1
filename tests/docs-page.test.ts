import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { browserTestSkip, launchBrowser, WAIT_MS } from './support/browser.js';
import { startKeygate, temporaryFolder, type RunningKeygate } from './support/keygate.js';

// A real browser (Debian's Chromium, driven by playwright-core; no browser is ever downloaded)
// opens the Swagger UI page that @fastify/swagger-ui serves at /docs and reads what a person
// would see there: every operation (the four of the contract, then verification, the admin side,
// the audit trail and leak reports), each with its method, path and summary.

// Without Chromium a developer's run says so loudly and skips this file; CI (CI=true) never skips.
const SKIP = browserTestSkip('docs page browser test');

const OPERATIONS = [
  { method: 'POST', path: '/api/v1/api-keys/', summary: 'Create Api Key' },
  { method: 'GET', path: '/api/v1/api-keys/', summary: 'List Api Keys' },
  { method: 'GET', path: '/api/v1/api-keys/{key_id}', summary: 'Get Api Key' },
  { method: 'PATCH', path: '/api/v1/api-keys/{key_id}', summary: 'Update Api Key' },
  { method: 'DELETE', path: '/api/v1/api-keys/{key_id}', summary: 'Revoke Api Key' },
  { method: 'POST', path: '/api/v1/api-keys/{key_id}/rotate', summary: 'Rotate Api Key' },
  { method: 'POST', path: '/api/v1/api-keys/verify', summary: 'Verify Api Key' },
  { method: 'POST', path: '/api/v1/api-keys/validate', summary: 'Validate Api Key' },
  { method: 'POST', path: '/api/v1/api-keys/self-revoke', summary: 'Self-revoke Api Key' },
  { method: 'GET', path: '/.well-known/jwks.json', summary: 'Exchange token keys' },
  { method: 'GET', path: '/api/v1/api-keys/{key_id}/usage', summary: 'Get Api Key Usage' },
  { method: 'GET', path: '/api/v1/admin/api-keys', summary: 'List Every Api Key' },
  { method: 'POST', path: '/api/v1/admin/api-keys', summary: 'Create Api Key For A User' },
  { method: 'GET', path: '/api/v1/admin/api-keys/{key_id}', summary: 'Get Api Key' },
  { method: 'PATCH', path: '/api/v1/admin/api-keys/{key_id}', summary: 'Update Api Key' },
  { method: 'DELETE', path: '/api/v1/admin/api-keys/{key_id}', summary: 'Revoke Api Key' },
  { method: 'POST', path: '/api/v1/admin/api-keys/{key_id}/rotate', summary: 'Rotate Api Key' },
  { method: 'GET', path: '/api/v1/admin/api-keys/{key_id}/usage', summary: 'Get Api Key Usage' },
  { method: 'GET', path: '/api/v1/audit', summary: 'List Audit Events' },
  { method: 'POST', path: '/api/v1/leaks', summary: 'Report Leaked Keys' },
  { method: 'GET', path: '/auth/config', summary: 'Sign-in Options' },
  { method: 'POST', path: '/auth/session', summary: 'Sign In' },
  { method: 'GET', path: '/auth/session', summary: 'Current Session' },
  { method: 'DELETE', path: '/auth/session', summary: 'Sign Out' },
  { method: 'POST', path: '/auth/signup', summary: 'Sign Up' },
  { method: 'POST', path: '/auth/login', summary: 'Login' },
  { method: 'POST', path: '/auth/refresh', summary: 'Refresh Token' },
];

interface ShownOperation {
  method: string;
  path: string;
  summary: string;
}

let server: RunningKeygate;
let browser: Browser | undefined;
let folder: string;

before(async () => {
  if (SKIP) return;
  folder = temporaryFolder();
  server = await startKeygate();
  browser = await launchBrowser();
});

after(async () => {
  await browser?.close();
  await server?.close();
  if (folder) rmSync(folder, { recursive: true, force: true });
});

test('GET /docs shows every API-key operation in a real browser', { timeout: 120_000, skip: SKIP }, async () => {
  assert.ok(browser, 'the browser started');
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(WAIT_MS);

  // The page may load only what keygate serves: anything else is refused and remembered.
  const origin = new URL(server.baseUrl).origin;
  const foreignRequests: string[] = [];
  await page.route('**/*', (route) => {
    const url = route.request().url();
    if (new URL(url).origin === origin || url.startsWith('data:')) return route.continue();
    foreignRequests.push(url);
    return route.abort();
  });
  const pageErrors: string[] = [];
  page.on('pageerror', (error) => pageErrors.push(error.message));

  const response = await page.goto(`${server.baseUrl}/docs`, { waitUntil: 'load' });
  assert.ok(response, 'the browser got an answer for /docs');
  assert.equal(response.ok(), true, `GET /docs answered ${response.status()}`);

  // Swagger UI renders the document after fetching it: wait for the operations to appear.
  for (const { summary } of OPERATIONS) {
    await page.getByText(summary, { exact: true }).first().waitFor({ state: 'visible' });
  }
  await page.locator('.opblock').nth(OPERATIONS.length - 1).waitFor({ state: 'visible' });

  // What each operation block shows. Swagger UI puts zero-width spaces into long paths so that
  // they can wrap, so the visible path text is compared without them.
  const shown: ShownOperation[] = await page.locator('.opblock').evaluateAll((blocks) =>
    blocks.map((block) => ({
      method: block.querySelector('.opblock-summary-method')?.textContent?.trim() ?? '',
      path: (block.querySelector('.opblock-summary-path')?.textContent ?? '').replace(/\u200b/g, '').trim(),
      summary: block.querySelector('.opblock-summary-description')?.textContent?.trim() ?? '',
    })),
  );
  const byKey = (a: ShownOperation, b: ShownOperation) =>
    `${a.path} ${a.method}`.localeCompare(`${b.path} ${b.method}`);
  assert.deepEqual([...shown].sort(byKey), [...OPERATIONS].sort(byKey));

  // The exact path texts are on the page, as a person reads them.
  const visibleText = (await page.locator('body').innerText()).replace(/\u200b/g, '');
  for (const { path } of OPERATIONS) assert.ok(visibleText.includes(path), `the page shows ${path}`);
  assert.match(visibleText, /keygate/, 'the page shows the API title');
  assert.match(visibleText, /API Keys/, 'the page shows the operations\' tag');

  // The document declares bearer authentication, so Swagger UI offers to authorize.
  await page.locator('button.authorize').first().waitFor({ state: 'visible' });

  // Opening the rotate operation shows its required key_id path parameter.
  const rotate = page.locator('.opblock', { has: page.locator('[data-path="/api/v1/api-keys/{key_id}/rotate"]') });
  await rotate.locator('.opblock-summary').first().click();
  const requiredParameter = rotate.locator('.parameters .parameter__name.required');
  await requiredParameter.first().waitFor({ state: 'visible' });
  assert.deepEqual(
    (await requiredParameter.allInnerTexts()).map((text) => text.replace(/[\s*]/g, '')),
    ['key_id'],
    'rotate takes one required parameter, key_id',
  );
  assert.match(await rotate.locator('.parameters .parameter__in').first().innerText(), /path/);

  const screenshot = join(folder, 'docs.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  const png = readFileSync(screenshot);
  assert.ok(png.length > 0, 'the screenshot is not empty');
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], 'the screenshot is a PNG');

  assert.deepEqual(foreignRequests, [], 'the docs page loads nothing from outside keygate');
  assert.deepEqual(pageErrors, [], 'the docs page throws no errors');
});
