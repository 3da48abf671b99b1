import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, test } from 'node:test';
import { openKeygate } from '../src/app.js';
import { describeDatabase } from '../src/config.js';
import { loadConfig } from '../src/config.js';
import { call, exitCode, freshDatabase, MAIN_SCRIPT, onPostgres, spawnKeygate, temporaryFolder, TEST_SECRET, type TestDatabase } from './support/keygate.js';
import { runCli } from './support/cli.js';
import { freePort } from './support/ports.js';

// The line `npm start` prints once it listens: what a person needs to go on (address, docs,
// database, how to get a token), and never a secret. On SQLite the server runs on its default
// database, ./data in its folder; in the PostgreSQL pass on a fresh database whose URL carries a
// password (the throwaway cluster trusts every connection, so any password does).

const run = promisify(execFile);
const PASSWORD = 'banner-test-password-never-shown';
const ACCOUNT_PASSWORD = 'the first admin password';
const BANNER = /"msg":"(keygate is ready at [^"]*)"/;

/** The banner line of a process's output (fails when there is none). */
function bannerOf(output: string): string {
  const match = BANNER.exec(output);
  assert.ok(match?.[1], `no start-up banner in:\n${output}`);
  return match[1];
}

/** The server's environment: the default database on SQLite, a password-bearing URL on PostgreSQL. */
function databaseEnv(database: TestDatabase): Record<string, string> {
  if (!onPostgres) return {};
  const url = new URL(database.url);
  url.password = PASSWORD;
  return { DATABASE_URL: url.toString() };
}

/** Every secret keygate keeps in the server's database: none of them may be printed. */
async function storedSecrets(env: Record<string, string>, folder: string): Promise<string[]> {
  const databaseUrl = env.DATABASE_URL ?? `sqlite:${join(folder, 'data', 'keygate.db')}`;
  const keygate = await openKeygate(loadConfig({ DATABASE_URL: databaseUrl, KEYGATE_LOG_LEVEL: 'silent' }));
  try {
    const settings = await keygate.db.selectFrom('settings').select('value').execute();
    return [keygate.userTokenSecret, ...settings.map((setting) => setting.value)];
  } finally {
    await keygate.close();
  }
}

describe('the start-up banner', () => {
  let folder: string;
  let database: TestDatabase;
  let env: Record<string, string>;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    env = databaseEnv(database);
  });
  after(async () => {
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  test('a first start names its address, dashboard, docs and database, says it generated the secret, and prints a first-admin and a mint command that work as printed, outside a clone too', async () => {
    const server = await spawnKeygate(env, folder);
    try {
      const banner = bannerOf(await server.waitForOutput(BANNER));
      assert.ok(banner.startsWith(`keygate is ready at ${server.baseUrl};`), banner);
      assert.ok(banner.includes(`; dashboard: ${server.baseUrl}/; docs: ${server.baseUrl}/docs;`), banner);
      assert.equal((await fetch(`${server.baseUrl}/docs`)).status, 200, 'the docs address answers');
      const dashboard = await fetch(`${server.baseUrl}/`);
      assert.equal(dashboard.status, 200, 'the dashboard address answers');
      assert.match(await dashboard.text(), /<script type="module" src="\/assets\/app.js">/, 'with the dashboard page');
      const shown = describeDatabase(onPostgres ? { kind: 'postgres', url: env.DATABASE_URL! } : { kind: 'sqlite', path: join(folder, 'data/keygate.db') });
      assert.ok(banner.includes(`database: ${shown};`), banner);
      assert.match(banner, /token secret: generated at this start and kept in the database;/);

      // Both printed commands run as printed, in the server's folder (not a clone: no npm script).
      const firstAdmin = /; no accounts yet: create the first admin \(it asks for a password\) with (node \S+ users add admin --admin);/.exec(banner);
      assert.ok(firstAdmin?.[1], banner);
      const added = run('bash', ['-c', firstAdmin[1]], { cwd: folder, env: { PATH: process.env.PATH, ...env } });
      added.child.stdin?.end(`${ACCOUNT_PASSWORD}\n`);
      await added;
      const databaseUrl = env.DATABASE_URL ?? `sqlite:${join(folder, 'data', 'keygate.db')}`;
      const accounts = JSON.parse((await runCli(databaseUrl, ['users', 'list', '--json'])).stdout) as { username: string; admin: boolean }[];
      assert.deepEqual(accounts.map(({ username, admin }) => ({ username, admin })), [{ username: 'admin', admin: true }]);

      const mint = /mint a user token \(in this folder and environment\): (node \S+ token --user) <id>$/.exec(banner);
      assert.ok(mint?.[1], banner);
      const minted = await run('bash', ['-c', `${mint[1]} alice`], { cwd: folder, env: { PATH: process.env.PATH, ...env } });
      const answer = await call(server.baseUrl, 'GET', '/api/v1/api-keys/', { token: minted.stdout.trim() });
      assert.equal(answer.status, 200, 'the printed command mints a token this server accepts');

      const output = server.output();
      for (const secret of await storedSecrets(env, folder)) assert.ok(!output.includes(secret), 'no stored secret is printed');
      assert.ok(!output.includes(PASSWORD), 'no database password is printed');
    } finally {
      await server.stop();
    }
  });

  test('a later start on the same database says the secret is kept, not generated', async () => {
    const server = await spawnKeygate(env, folder);
    try {
      const banner = bannerOf(await server.waitForOutput(BANNER));
      assert.match(banner, /token secret: kept in the database;/);
    } finally {
      await server.stop();
    }
  });

  test('with KEYGATE_SECRET it names the variable and never its value', async () => {
    const server = await spawnKeygate({ ...env, KEYGATE_SECRET: TEST_SECRET }, folder);
    try {
      const banner = bannerOf(await server.waitForOutput(BANNER));
      assert.match(banner, /token secret: from KEYGATE_SECRET;/);
      assert.ok(!server.output().includes(TEST_SECRET));
    } finally {
      await server.stop();
    }
  });

  test('once an account exists (the first start\'s printed command made it), the first-admin line is gone, and no password is printed', async () => {
    const server = await spawnKeygate(env, folder);
    try {
      const banner = bannerOf(await server.waitForOutput(BANNER));
      assert.ok(!banner.includes('no accounts yet'), banner);
      assert.ok(!server.output().includes(ACCOUNT_PASSWORD));
    } finally {
      await server.stop();
    }
  });

  test('in OIDC mode it names the provider instead of a mint command, and the dashboard at KEYGATE_PUBLIC_URL', async () => {
    const oidc = { KEYGATE_OIDC_ISSUER: 'https://id.example.com', KEYGATE_OIDC_AUDIENCE: 'keygate' };
    const signIn = { KEYGATE_OIDC_CLIENT_ID: 'keygate-dashboard', KEYGATE_PUBLIC_URL: 'https://keygate.example.com' };
    const server = await spawnKeygate({ ...env, ...oidc, ...signIn }, folder);
    try {
      const banner = bannerOf(await server.waitForOutput(BANNER));
      // Where the provider sends browsers back: a sign-in begun at any other address is refused (no_flow).
      assert.ok(banner.includes('; dashboard: https://keygate.example.com/; '), banner);
      assert.ok(!banner.includes(`dashboard: ${server.baseUrl}`), banner);
      assert.match(banner, /user tokens: from https:\/\/id\.example\.com \(OIDC mode\)$/);
      assert.ok(!banner.includes('no accounts yet'), 'no local accounts in OIDC mode');
      assert.ok(!banner.includes('token --user'));
    } finally {
      await server.stop();
    }
  });

  test('KEYGATE_LOG_LEVEL=silent prints nothing, banner included', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [MAIN_SCRIPT], {
      cwd: folder,
      env: { PATH: process.env.PATH, ...env, PORT: String(port), KEYGATE_LOG_LEVEL: 'silent' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    try {
      await healthy(`http://127.0.0.1:${port}`);
      child.kill('SIGTERM');
      assert.equal(await exitCode(child, 15_000), 0);
      assert.equal(output, '');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('the database as the banner and every error line show it', () => {
  test('a PostgreSQL URL has its password masked, in the address and as a parameter; the rest stays', () => {
    const shown = describeDatabase({ kind: 'postgres', url: 'postgres://keygate:s3cret@db.internal:5432/keygate?password=s3cret&sslmode=require' });
    assert.equal(shown, 'postgres://keygate:***@db.internal:5432/keygate?password=***&sslmode=require');
  });

  test('a URL that does not parse still loses its password', () => {
    assert.ok(!describeDatabase({ kind: 'postgres', url: 'postgres://keygate:s3cret@[bad' }).includes('s3cret'));
  });

  test('a SQLite file is shown as the absolute path it opens', () => {
    assert.equal(describeDatabase({ kind: 'sqlite', path: './data/keygate.db' }), `sqlite:${join(process.cwd(), 'data/keygate.db')}`);
  });
});

/** Resolves once /healthz answers 200; fails after 30 s of asking. */
async function healthy(baseUrl: string): Promise<void> {
  for (let attempt = 0; attempt < 300; attempt++) {
    const status = await fetch(`${baseUrl}/healthz`).then((response) => response.status, () => 0);
    if (status === 200) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${baseUrl}/healthz did not answer 200 within 30 s`);
}
