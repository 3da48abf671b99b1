import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { onPostgres, temporaryFolder } from './support/keygate.js';
import { freePort } from './support/ports.js';

// What a new user does first: clone, then paste the README's quick start, which installs
// (`npm ci`), starts the server, mints a token with the CLI and drives a key's life with curl.
// Run on the committed HEAD of this repository (a fresh clone has only what is committed), once,
// in the SQLite pass: it installs every dependency, which takes a minute or two.

const repositoryRoot = new URL('../..', import.meta.url).pathname;
const isGitCheckout = spawnSync('git', ['-C', repositoryRoot, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' }).stdout.trim() === 'true';
const skip = onPostgres ? 'installs the package: covered by the SQLite pass' : !isGitCheckout && 'not a git checkout: nothing to clone';

const QUICK_START_HEADING = '## Quick start';
// npm ci, the server's start and a dozen requests: far less on any machine that can install.
const QUICK_START_TIMEOUT_MS = 600_000;
// The first `npx keygate` in the clone is not a mere start: npm exec finds no keygate in
// node_modules/.bin, installs the clone itself (file:.) into its npx cache, and that runs
// `prepare`, a whole build: 26-30 s of two idle cores, so 60 s was too tight for a busy machine.
const FIRST_NPX_TIMEOUT_MS = 300_000;

/** The first ```sh block after the heading, as a person would copy it. */
function quickStartBlock(readme: string): string {
  const section = readme.indexOf(`\n${QUICK_START_HEADING}\n`);
  assert.ok(section !== -1, `README.md has no "${QUICK_START_HEADING}" section`);
  const block = /\n```sh\n([\s\S]*?)\n```\n/.exec(readme.slice(section));
  assert.ok(block?.[1], `no sh block under "${QUICK_START_HEADING}"`);
  return block[1];
}


interface BlockRun {
  status: number | null;
  output: string;
}

/**
 * Runs `script` with bash in `cwd`, in a process group of its own, so that whatever it leaves
 * behind (the server, if the block failed before stopping it) is killed with the group.
 */
async function runInOwnGroup(script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<BlockRun> {
  const child = spawn('bash', ['-c', script], { cwd, env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  child.stderr.on('data', (chunk) => (output += chunk));
  const killGroup = () => {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // ESRCH: every process of the group has exited.
    }
  };
  const timer = setTimeout(killGroup, QUICK_START_TIMEOUT_MS);
  try {
    const [status] = (await once(child, 'close')) as [number | null];
    return { status, output };
  } finally {
    clearTimeout(timer);
    killGroup();
  }
}

describe('a fresh clone, following the README', { skip }, () => {
  const folder = temporaryFolder();
  const clone = join(folder, 'keygate');
  let port: number;
  let quickStart: BlockRun;

  before(async () => {
    const cloned = spawnSync('git', ['clone', '--quiet', '--depth', '1', `file://${repositoryRoot}`, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    port = await freePort();
    const block = quickStartBlock(readFileSync(join(clone, 'README.md'), 'utf8'));
    quickStart = await runInOwnGroup(block, clone, {
      ...process.env,
      PORT: String(port),
      TMPDIR: folder, // where the block puts the server's log
      npm_config_prefer_offline: 'true',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    });
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('the quick start exits 0: installed, served, and stopped its server', async () => {
    assert.equal(quickStart.status, 0, quickStart.output);
    assert.ok(existsSync(join(clone, 'data', 'keygate.db')), 'it ran on a new ./data in the clone');
    const afterwards = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      () => 'answered',
      () => 'refused',
    );
    assert.equal(afterwards, 'refused', 'the server it started is gone');
  });

  test('the quick start showed the start-up line, then created, listed, rotated, verified and revoked a key', () => {
    const { output } = quickStart;
    const at = (pattern: RegExp) => output.search(pattern);
    const steps = {
      healthy: at(/\{"status":"ok"\}/),
      banner: at(new RegExp(`keygate is ready at http://127\\.0\\.0\\.1:${port}; dashboard: http://127\\.0\\.0\\.1:${port}/; docs: `)),
      created: at(/\{"key_id":"\w{12}","name":"Production API Key",[^\n]*"api_key":"mcpkey_live_\w+"/),
      listed: at(/\[\{"key_id":"\w{12}","name":"Production API Key"/),
      rotated: at(/\{"key_id":"\w{12}",[^\n]*"new_api_key":"mcpkey_live_\w+"/),
      verified: at(/\{"valid":true,"user_id":"alice@example\.com"/),
      revoked: at(/revoked: 204\n/),
    };
    for (const [step, index] of Object.entries(steps)) assert.ok(index !== -1, `${step} not shown in:\n${output}`);
    const order = Object.values(steps);
    assert.deepEqual(order, [...order].sort((a, b) => a - b), 'in the order of the block');
    const refusals = [...output.matchAll(/\{"detail":"Invalid API key"\}/g)].map((match) => match.index);
    assert.equal(refusals.length, 2, 'the key it replaced, and the revoked key, are refused');
    assert.ok(refusals[0]! > steps.verified && refusals[0]! < steps.revoked && refusals[1]! > steps.revoked, 'each refusal where the block asks for it');
  });

  test('npx keygate --version prints the package version: the CLI is built and executable', () => {
    const version = (JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string }).version;
    const answered = spawnSync('npx', ['--no-install', 'keygate', '--version'], { cwd: clone, encoding: 'utf8', timeout: FIRST_NPX_TIMEOUT_MS });
    assert.equal(answered.status, 0, answered.stderr);
    assert.equal(answered.stdout.trim(), version);
  });
});
