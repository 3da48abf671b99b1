import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import { keygateForTests } from './support/keygate.js';

// The dashboard as the server hands it out, without a browser: the page at `/` with its strict
// headers, every script and stylesheet it loads (and each module those import) served from
// /assets/ with the right type, and the built files in dist/web where npm run build puts them.

const BUILT = new URL('../web/', import.meta.url);

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
};

/** The relative imports of an ES module's source, as the browser resolves them. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:^|\n)\s*import\s[^'"]*['"](\.{1,2}\/[^'"]+)['"]/g)].map((match) => match[1]!);
}

describe('the dashboard', () => {
  const server = keygateForTests();

  test('is built into dist/web: the page, its stylesheet and its entry script', () => {
    for (const file of ['index.html', 'styles.css', 'app.js', 'views/key-page.js']) {
      assert.ok(existsSync(new URL(file, BUILT)), `dist/web/${file} exists`);
    }
  });

  test('GET / answers the page with a strict Content-Security-Policy and the security headers', async () => {
    const response = await fetch(`${server.baseUrl}/`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/html; charset=utf-8');
    const csp = response.headers.get('content-security-policy') ?? '';
    for (const directive of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'", "base-uri 'none'"]) {
      assert.ok(csp.includes(directive), `the CSP has ${directive}: ${csp}`);
    }
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:|\*/, 'no inline code, no outside origin');
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) assert.equal(response.headers.get(name), value, name);
    const html = await response.text();
    assert.equal(html, readFileSync(new URL('index.html', BUILT), 'utf8'), 'the built index.html, as it is');
    assert.doesNotMatch(html, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler (the CSP would block them)');
  });

  test('serves every module the page loads, and each module it imports, from /assets/', async () => {
    const html = await (await fetch(`${server.baseUrl}/`)).text();
    const linked = [...html.matchAll(/(?:src|href)="(\/assets\/[^"]+)"/g)].map((match) => match[1]!);
    assert.deepEqual(linked.sort(), ['/assets/app.js', '/assets/styles.css']);
    const pending = [...linked];
    const seen = new Set<string>();
    for (let path = pending.pop(); path !== undefined; path = pending.pop()) {
      if (seen.has(path)) continue;
      seen.add(path);
      const response = await fetch(server.baseUrl + path);
      assert.equal(response.status, 200, `${path} is served`);
      assert.equal(response.headers.get('content-security-policy') !== null, true, `${path} has the CSP too`);
      assert.equal(response.headers.get('x-content-type-options'), 'nosniff');
      const expectedType = path.endsWith('.css') ? 'text/css; charset=utf-8' : 'text/javascript; charset=utf-8';
      assert.equal(response.headers.get('content-type'), expectedType, path);
      if (path.endsWith('.js')) {
        for (const imported of importsOf(await response.text())) pending.push(new URL(imported, `http://x${path}`).pathname);
      }
    }
    assert.ok(seen.has('/assets/views/key-page.js'), `the views are reached through the imports: ${[...seen].join(' ')}`);
  });

  test('answers 404 with a detail for a file it does not have, and never reads outside dist/web', async () => {
    for (const path of ['/assets/nothing.js', '/assets/%2e%2e/%2e%2e/package.json', '/assets/index.html', '/assets/app.ts']) {
      const response = await fetch(server.baseUrl + path);
      assert.equal(response.status, 404, path);
      assert.equal(typeof ((await response.json()) as { detail?: unknown }).detail, 'string', path);
    }
  });

  test('leaves the API, the docs and the OpenAPI document where they are', async () => {
    assert.equal((await fetch(`${server.baseUrl}/openapi.json`)).status, 200);
    assert.equal((await fetch(`${server.baseUrl}/docs`, { redirect: 'manual' })).status < 400, true);
    assert.equal((await fetch(`${server.baseUrl}/api/v1/api-keys/`)).status, 401);
    const document = (await (await fetch(`${server.baseUrl}/openapi.json`)).json()) as { paths: Record<string, unknown> };
    assert.ok(!('/' in document.paths) && !('/assets/*' in document.paths), 'the page is not an API operation');
  });
});
