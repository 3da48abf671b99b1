import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { onPostgres, temporaryFolder } from './support/keygate.js';

// What a new user does first: clone, `npm ci`, run the CLI. Run on the committed HEAD of this
// repository (a fresh clone has only what is committed), once, in the SQLite pass: it installs
// every dependency, which takes a minute or two.

const repositoryRoot = new URL('../..', import.meta.url).pathname;
const isGitCheckout = spawnSync('git', ['-C', repositoryRoot, 'rev-parse', '--is-inside-work-tree'], { encoding: 'utf8' }).stdout.trim() === 'true';
const skip = onPostgres ? 'installs the package: covered by the SQLite pass' : !isGitCheckout && 'not a git checkout: nothing to clone';

describe('a fresh clone after npm ci', { skip }, () => {
  const folder = temporaryFolder();
  const clone = join(folder, 'keygate');
  const run = (command: string, args: string[]) =>
    spawnSync(command, args, { cwd: clone, encoding: 'utf8', timeout: 600_000, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false' } });

  before(() => {
    const cloned = spawnSync('git', ['clone', '--quiet', '--depth', '1', `file://${repositoryRoot}`, clone], { encoding: 'utf8' });
    assert.equal(cloned.status, 0, cloned.stderr);
    const installed = run('npm', ['ci', '--prefer-offline']);
    assert.equal(installed.status, 0, `${installed.stdout}\n${installed.stderr}`);
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  test('npx keygate --version prints the package version: the CLI is built and executable', () => {
    const version = (JSON.parse(readFileSync(join(clone, 'package.json'), 'utf8')) as { version: string }).version;
    const answered = run('npx', ['--no-install', 'keygate', '--version']);
    assert.equal(answered.status, 0, answered.stderr);
    assert.equal(answered.stdout.trim(), version);
  });
});
