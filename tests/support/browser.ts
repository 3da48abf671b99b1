import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { onPostgres } from './keygate.js';

// What the browser tests share: Debian's Chromium driven by playwright-core (no browser is ever
// downloaded), a profile per visit that may load nothing but the origins a test names, axe-core
// run in the page, and screenshots at a phone's and a desktop's width.

export const CHROMIUM = '/usr/bin/chromium';
/** How long a step may wait for the page: generous, since CI machines are slow; never a threshold. */
export const WAIT_MS = 30_000;

const SCREENSHOTS = new URL('../../../test-artifacts/screenshots/', import.meta.url);
const AXE_SOURCE = readFileSync(new URL('../../../node_modules/axe-core/axe.min.js', import.meta.url), 'utf8');

/**
 * Why a browser test file skips, or false. With `onPostgresBecause` (why the database does not
 * matter to what it drives) the PostgreSQL pass skips it; without Chromium a developer's run says
 * so loudly and skips, while CI (CI=true) never skips for that.
 */
export function browserTestSkip(what: string, onPostgresBecause?: string): string | false {
  const skip = onPostgres && onPostgresBecause !== undefined
    ? `the ${what} runs in the SQLite pass only (${onPostgresBecause})`
    : !existsSync(CHROMIUM) && !process.env.CI
      ? `${CHROMIUM} is missing: run apt-get install chromium`
      : false;
  if (skip && skip.startsWith(CHROMIUM)) console.warn(`\n*** SKIPPING the ${what}: ${skip} ***\n`);
  return skip;
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
}

export interface Visit {
  context: BrowserContext;
  page: Page;
  /** Requests for anything outside the allowed origins (refused), CSP refusals, and errors the page threw. */
  problems: string[];
}

/**
 * A fresh browser profile that may load nothing but `origins` (keygate's, and an identity
 * provider's in a sign-in); `clipboard`: it may read and write the clipboard at the first origin.
 */
export async function visit(browser: Browser, origins: readonly string[], options: { clipboard?: boolean } = {}): Promise<Visit> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (options.clipboard) await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: origins[0] });
  const problems: string[] = [];
  const allowed = new Set(origins.map((origin) => new URL(origin).origin));
  await context.route('**/*', (route) => {
    const url = route.request().url();
    if (allowed.has(new URL(url).origin)) return route.continue();
    problems.push(`outside request: ${url}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('console', (message) => {
    if (message.type() === 'error' && /Content Security Policy/.test(message.text())) problems.push(`CSP: ${message.text()}`);
  });
  return { context, page, problems };
}

/** axe-core run in the page as it is now: no serious or critical violation. */
export async function assertAccessible(page: Page, view: string): Promise<void> {
  // Evaluated through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(`window.axe || (0, eval)(${JSON.stringify(AXE_SOURCE)})`);
  const violations = await page.evaluate(async () => {
    const axe = (window as unknown as { axe: { run(context: Document): Promise<{ violations: { id: string; impact: string | null; help: string; nodes: { target: unknown[] }[] }[] }> } }).axe;
    const result = await axe.run(document);
    return result.violations
      .filter((violation) => violation.impact === 'serious' || violation.impact === 'critical')
      .map((violation) => `${violation.impact} ${violation.id}: ${violation.help} at ${violation.nodes.map((node) => JSON.stringify(node.target)).join(', ')}`);
  });
  assert.deepEqual(violations, [], `axe on the ${view} view`);
}

/** The page at a phone's and a desktop's width, whole, into test-artifacts/screenshots/; the paths written. */
export async function photograph(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const paths: string[] = [];
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 900 });
    const path = new URL(`${name}-${width}.png`, SCREENSHOTS).pathname;
    const png = await page.screenshot({ path, fullPage: true });
    assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], `${name} at ${width} px is a PNG`);
    // Nothing is wider than the window: a phone never scrolls sideways.
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
    assert.ok(overflow <= 0, `${name} at ${width} px fits the width (${overflow} px too wide)`);
    paths.push(path);
  }
  await page.setViewportSize({ width: 1280, height: 900 });
  return paths;
}
