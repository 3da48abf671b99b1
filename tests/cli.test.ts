import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CLI_SCRIPT, sqliteOnly, temporaryFolder } from './support/keygate.js';

// `keygate` as a user types it: `node dist/src/cli.js ...` in a process of its own, in an empty
// folder, judged by its stdout, stderr and exit code. Of the commands here only `token` opens a
// database (the default one, in the folder), so the PostgreSQL pass has nothing to add; the
// operator's commands, which do, are tests/cli-operators.test.ts's.

const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

describe('the keygate command', { skip: sqliteOnly }, () => {
  let folder: string;
  before(() => {
    folder = temporaryFolder();
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  const keygate = (...args: string[]) => {
    const ran = spawnSync(process.execPath, [CLI_SCRIPT, ...args], { cwd: folder, encoding: 'utf8', env: { PATH: process.env.PATH }, timeout: 30_000 });
    return { status: ran.status, stdout: ran.stdout, stderr: ran.stderr };
  };

  for (const args of [['-h'], ['--help'], ['help']]) {
    test(`keygate ${args.join(' ')} prints the commands on stdout and exits 0`, () => {
      const { status, stdout, stderr } = keygate(...args);
      assert.equal(status, 0, stderr);
      assert.match(stdout, /^Usage: keygate <command>/);
      assert.match(stdout, /^ {2}token --user <id>/m);
      assert.match(stdout, /^ {2}help \[<command>\]/m);
      assert.equal(stderr, '');
    });
  }

  for (const args of [['token', '--help'], ['token', '-h'], ['help', 'token'], ['token', '--user', 'alice', '--help']]) {
    test(`keygate ${args.join(' ')} prints token's options and mints nothing`, () => {
      const { status, stdout, stderr } = keygate(...args);
      assert.equal(status, 0, stderr);
      assert.match(stdout, /^Usage: keygate token --user <id>/);
      for (const option of ['--user <id>', '--ttl <duration>', '--scope <scope>', '-h, --help']) assert.ok(stdout.includes(option), option);
      assert.ok(!/^ey/m.test(stdout), 'no token');
      assert.equal(existsSync(join(folder, 'data')), false, 'no database was opened');
    });
  }

  for (const args of [['--version'], ['version']]) {
    test(`keygate ${args.join(' ')} prints the package version`, () => {
      const { status, stdout } = keygate(...args);
      assert.equal(status, 0);
      assert.equal(stdout, `${version}\n`);
    });
  }

  // Each: one line on stderr naming the mistake and where the help is, nothing on stdout, exit 2,
  // and no database opened.
  const mistakes: Array<[string[], RegExp]> = [
    [[], /^keygate: no command given \(see "keygate --help"\)$/],
    [['frob'], /^keygate: unknown command "frob" \(see "keygate --help"\)$/],
    [['-x'], /^keygate: unknown option -x /],
    [['help', 'frob'], /^keygate: unknown command "frob" /],
    [['version', '--bogus'], /^keygate version: unknown option --bogus \(see "keygate version --help"\)$/],
    [['token'], /^keygate token: --user <id> is required \(see "keygate token --help"\)$/],
    [['token', '--user'], /^keygate token: --user needs a value /],
    [['token', '--user', '--ttl', '1h'], /^keygate token: --user needs a value /],
    [['token', '--user', 'a', '--ttl'], /^keygate token: --ttl needs a value /],
    [['token', '--user', 'a', '--bogus'], /^keygate token: unknown option --bogus /],
    [['token', '--user', 'a', 'extra'], /^keygate token: unexpected argument "extra" /],
    [['token', '--user', 'a', '--user', 'b'], /^keygate token: --user is given twice /],
    [['token', '--help=yes'], /^keygate token: --help takes no value /],
    [['token', '--user', 'a', '--ttl', 'forever'], /^keygate token: --ttl must be a duration such as 30m, 12h or 7d, got "forever" /],
    [['token', '--user', 'a', '--ttl', '0m'], /^keygate token: --ttl 0m is shorter than the minimum, 1m /],
    [['token', '--user', 'a', '--ttl', '59s'], /^keygate token: --ttl 59s is shorter than the minimum, 1m /],
    [['token', '--user', 'a', '--ttl', '31d'], /^keygate token: --ttl 31d is longer than KEYGATE_MAX_TOKEN_TTL_SECONDS \(2592000 s\) allows /],
  ];
  for (const [args, message] of mistakes) {
    test(`keygate ${args.join(' ') || '(nothing)'} is a usage error: ${message.source}`, () => {
      const { status, stdout, stderr } = keygate(...args);
      assert.equal(status, 2, stderr);
      assert.equal(stdout, '');
      assert.equal(stderr.split('\n').length, 2, `one line: ${JSON.stringify(stderr)}`);
      assert.match(stderr.trimEnd(), message);
      assert.equal(existsSync(join(folder, 'data')), false, 'no database was opened');
    });
  }

  for (const [ttl, seconds] of [['1m', 60], ['90 minutes', 5400], ['2h', 7200]] as const) {
    test(`--ttl ${ttl} mints a token living ${seconds} s`, () => {
      const { status, stdout, stderr } = keygate('token', '--user', 'alice', '--ttl', ttl);
      assert.equal(status, 0, stderr);
      const payload = JSON.parse(Buffer.from(stdout.trim().split('.')[1]!, 'base64url').toString()) as { sub: string; iat: number; exp: number };
      assert.equal(payload.sub, 'alice');
      assert.equal(payload.exp - payload.iat, seconds);
    });
  }
});
