import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { SIGN_IN_FAILURES, type SignInFailureCode } from '../src/oidc/sign-in-failure.js';
import { assertAccessible, browserTestSkip, launchBrowser, photograph, visit, type Visit } from './support/browser.js';
import { call } from './support/keygate.js';
import { startSignInRig, type SignInRig } from './support/oidc-sign-in-rig.js';

// The dashboard's "Sign in with your provider" in a real browser, against a real OpenID provider
// (oidc-provider, tests/support/openid-provider.ts): the person opens keygate, follows the link,
// fills the provider's login and consent pages, and lands back on the dashboard signed in, where
// they create a key that verifies. An admin by the provider's role sees the admin pages; a sign-in
// the provider refuses, or whose answer was tampered with, ends on the sign-in page with a
// sentence saying why. keygate's public URL is `localhost` and the provider's `127.0.0.1`: two
// sites, as in production, so the SameSite cookies go through a real cross-site round trip.

// The PostgreSQL pass skips it: keygate's side of the sign-in is tests/oidc-sign-in.test.ts's,
// on both databases; this file adds the browser, which the database does not change.
const SKIP = browserTestSkip('OIDC sign-in browser test', 'the sign-in it drives is tested on PostgreSQL by tests/oidc-sign-in.test.ts');

const ADMIN_SCOPE = 'keygate:admin'; // KEYGATE_ADMIN_SCOPE's default
const ACCOUNTS = {
  dana: { preferred_username: 'dana', email: 'dana@example.com' },
  erin: { preferred_username: 'erin', roles: [ADMIN_SCOPE] },
};

let browser: Browser;
let rig: SignInRig;

/** A fresh profile that may load keygate and the provider, nothing else. */
function freshVisit(): Promise<Visit> {
  return visit(browser, [rig.publicUrl, rig.provider.issuer]);
}

/** From keygate's sign-in page to the provider's login page. */
async function toProvider(page: Page): Promise<void> {
  await page.goto(`${rig.publicUrl}/`);
  await page.getByRole('heading', { name: 'Sign in to keygate' }).waitFor();
  assert.equal(await page.getByLabel('Password').count(), 0, 'no password form in OIDC mode');
  await page.getByRole('link', { name: 'Sign in with your provider' }).click();
  await page.getByRole('heading', { name: 'Sign in at the test provider' }).waitFor();
  assert.equal(new URL(page.url()).origin, rig.provider.issuer, 'the login page is the provider\'s');
}

/** The whole round trip as `account`: the provider's login and consent forms, back to the dashboard. */
async function signInAs(page: Page, account: keyof typeof ACCOUNTS): Promise<void> {
  await toProvider(page);
  await page.getByLabel('Account').fill(account);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.getByRole('heading', { name: 'Allow keygate to sign you in?' }).waitFor();
  assert.match(await page.locator('#scope').innerText(), /\bopenid\b/);
  await page.getByRole('button', { name: 'Allow' }).click();
  await page.getByRole('heading', { name: 'Your API keys' }).waitFor();
  assert.equal(page.url(), `${rig.publicUrl}/`, 'back at the dashboard, at return_to');
}

/** keygate's failure page, then its link back to the dashboard's sign-in page, which says the same. */
async function assertRefusedAs(page: Page, code: SignInFailureCode, screenshot: string): Promise<void> {
  const [status, message] = SIGN_IN_FAILURES[code];
  await page.getByRole('heading', { name: 'Sign-in failed' }).waitFor();
  assert.equal(new URL(page.url()).origin, rig.publicUrl, 'the failure page is keygate\'s');
  assert.equal((await page.locator('#message').innerText()).trim(), message);
  assert.equal(await page.locator('#error-code').innerText(), code);
  await photograph(page, `${screenshot}-page`);
  await page.getByRole('link', { name: 'Back to sign-in' }).click();
  const notice = page.getByRole('alert').filter({ hasText: 'Signing in with your provider failed' });
  await notice.waitFor();
  await page.getByText(message).waitFor();
  assert.equal((await notice.innerText()).trim(), `Signing in with your provider failed. ${message} Error code: ${code}.`, `a ${status} ${code}`);
  await page.getByRole('link', { name: 'Sign in with your provider' }).waitFor(); // the way to try again
  await assertAccessible(page, `sign-in after ${code}`);
  await photograph(page, screenshot);
  const session = await page.evaluate(async () => (await fetch('/auth/session', { credentials: 'same-origin' })).status);
  assert.equal(session, 401, 'no session was started');
}

before(async () => {
  if (SKIP) return;
  browser = await launchBrowser();
  rig = await startSignInRig({ accounts: ACCOUNTS, publicHost: 'localhost' });
});

after(async () => {
  await rig?.close();
  await browser?.close();
});

describe('signing in to the dashboard at an OpenID provider, in a browser', { skip: SKIP }, () => {
  test('the round trip lands signed in on the dashboard, whose session creates a key that verifies', async () => {
    const { context, page, problems } = await freshVisit();
    try {
      await signInAs(page, 'dana');
      assert.match(await page.locator('header').innerText(), /Signed in as dana\b/);
      assert.doesNotMatch(await page.locator('header').innerText(), /\(admin\)/);
      assert.equal(await page.getByRole('link', { name: 'All keys' }).count(), 0, 'no admin link for a non-admin');
      await page.getByRole('heading', { name: 'No keys yet' }).waitFor();
      const cookies = await context.cookies(rig.publicUrl);
      const session = cookies.find((cookie) => cookie.name === 'keygate_session');
      assert.ok(session, `no session cookie: ${cookies.map((cookie) => cookie.name).join(', ')}`);
      assert.equal(session.sameSite, 'Strict');
      assert.equal(session.httpOnly, true);
      assert.equal(cookies.find((cookie) => cookie.name === 'keygate_oidc'), undefined, 'the flow cookie outlived its callback');
      await assertAccessible(page, 'signed in with the provider');
      const [phone] = await photograph(page, 'oidc-signed-in');
      console.log(`# screenshot: ${phone}`);

      await page.getByRole('link', { name: 'Create your first key' }).click();
      await page.getByRole('heading', { name: 'Create a key' }).waitFor();
      await page.getByLabel('Name').fill('Signed in with OIDC');
      await page.getByRole('button', { name: 'Create key' }).click();
      const apiKey = (await page.getByTestId('api-key').innerText()).trim();
      assert.match(apiKey, /^mcpkey_live_/);
      const verified = await call(rig.keygate.baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': apiKey } });
      assert.equal(verified.status, 200, JSON.stringify(verified.body));
      assert.equal(verified.body.user_id, 'dana', "the key is the provider subject's");
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('a provider role equal to KEYGATE_ADMIN_SCOPE: the admin links, and the admin pages open', async () => {
    const { context, page, problems } = await freshVisit();
    try {
      await signInAs(page, 'erin');
      assert.match(await page.locator('header').innerText(), /Signed in as erin \(admin\)/);
      await page.getByRole('link', { name: 'Audit trail' }).waitFor();
      await page.getByRole('link', { name: 'All keys' }).click();
      await page.getByRole('heading', { name: 'All keys' }).waitFor();
      await page.locator('table.keys, .empty').first().waitFor();
      assert.equal(await page.getByText('for admins only').count(), 0, 'the admin page opened');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('the person denies at the provider: keygate says the provider refused, and the sign-in page says so too', async () => {
    const { context, page, problems } = await freshVisit();
    try {
      await toProvider(page);
      const callback = page.waitForResponse((response) => response.url().startsWith(`${rig.publicUrl}/auth/oidc/callback`));
      await page.getByRole('button', { name: 'Deny' }).click();
      const answer = await callback;
      assert.equal(new URL(answer.url()).searchParams.get('error'), 'access_denied');
      assert.equal(answer.status(), SIGN_IN_FAILURES.access_denied[0]);
      await assertRefusedAs(page, 'access_denied', 'oidc-denied');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });

  test('an answer whose state was tampered with on the way back: refused, nothing started', async () => {
    const { context, page, problems } = await freshVisit();
    try {
      // The provider's redirect back, altered in flight as a man in the middle would. A request
      // that is itself a redirect's target is not routed in Chromium, so the consent POST is
      // answered here: its redirect (to the provider's resume step) followed with the context's
      // cookies up to the one back to keygate, whose state is changed before the browser gets it.
      let tampered = 0;
      await context.route(
        (url) => url.origin === rig.provider.issuer && url.pathname.startsWith('/interaction/'),
        async (route) => {
          if (!(route.request().postData() ?? '').includes('consent=yes')) return route.continue();
          const consented = await route.fetch({ maxRedirects: 0 });
          const resumed = await context.request.get(new URL(consented.headers().location ?? '', rig.provider.issuer).href, { maxRedirects: 0 });
          const back = new URL(resumed.headers().location ?? '', rig.provider.issuer);
          assert.equal(`${back.origin}${back.pathname}`, `${rig.publicUrl}/auth/oidc/callback`, 'the resume step sends the browser back to keygate');
          back.searchParams.set('state', 'not-the-flows-state');
          tampered++;
          return route.fulfill({ status: 303, headers: { location: back.href } });
        },
      );
      await toProvider(page);
      await page.getByLabel('Account').fill('dana');
      await page.getByRole('button', { name: 'Continue' }).click();
      await page.getByRole('button', { name: 'Allow' }).click();
      await assertRefusedAs(page, 'invalid_state', 'oidc-tampered');
      assert.equal(tampered, 1, 'the one redirect back was the altered one');
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
