import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { openKeygate, type Keygate } from '../src/app.js';
import { EXIT_CODES, exitCodeOf } from '../src/cli/errors.js';
import { UsageError } from '../src/cli/options.js';
import { ConfigError, loadConfig } from '../src/config.js';
import { Conflict, InvalidInput, LimitReached, NotFound } from '../src/errors.js';
import { runCli, type Ran } from './support/cli.js';
import { freshDatabase, temporaryFolder, type TestDatabase } from './support/keygate.js';

// `keygate keys ...` and `keygate audit` as an operator types them: the real binary in a process
// of its own, on a real database (a SQLite file, or in the PostgreSQL pass a fresh database),
// judged by stdout, stderr and exit code. The keys it prints are verified by a keygate opened on
// the same database in this process, as a server on it would verify them.

/** The OS user the CLI acts as, which the audit trail names. */
const OPERATOR = userInfo().username;

/** Runs `keygate ...args` on `databaseUrl`, with nothing else of this process's environment but PATH. */
function keygateCommand(databaseUrl: string, args: string[], env: Record<string, string> = {}): Promise<Ran> {
  return runCli(databaseUrl, args, '', env);
}

/** The single line of stderr (failing when there are more, or none). */
function oneLine(stderr: string): string {
  assert.match(stderr, /^[^\n]+\n$/, `one line on stderr: ${JSON.stringify(stderr)}`);
  return stderr.trimEnd();
}

function lastLine(text: string): string {
  return text.trimEnd().split('\n').at(-1)!;
}

/** A table's lines as cells (cells are two or more spaces apart; a cell holds at most one space in a row). */
function tableCells(text: string): string[][] {
  return text.trimEnd().split('\n').map((line) => line.split(/ {2,}/));
}

/** A stored time as the tables show it: to the second. */
const shown = (iso: string) => iso.replace(/\.\d+Z$/, 'Z');

function occurrences(text: string, part: string): number {
  return text.split(part).length - 1;
}

describe('keygate keys and keygate audit, on one database', () => {
  let folder: string;
  let database: TestDatabase;
  /** Verifies keys as a server on the same database would. */
  let verifier: Keygate;
  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    // last_used is written only at close: the listings below show it as never, whatever the timing.
    verifier = await openKeygate(loadConfig({ DATABASE_URL: database.url, KEYGATE_LOG_LEVEL: 'silent', KEYGATE_LAST_USED_FLUSH_MS: '3600000' }));
  });
  after(async () => {
    await verifier.close();
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  const keygate = (args: string[], env?: Record<string, string>) => keygateCommand(database.url, args, env);
  const json = async (args: string[]) => {
    const ran = await keygate([...args, '--json']);
    assert.equal(ran.status, 0, ran.stderr);
    return JSON.parse(ran.stdout);
  };
  const verify = (key: string) => verifier.verifier.verify(key);

  /** Every key text a command printed: nothing else may ever show one. */
  const issued: string[] = [];
  let keyId = '';
  let created: Record<string, unknown>;

  test('keys create prints the key once, alone on the last line of stdout, warns on stderr, and the key verifies', async () => {
    const ran = await keygate([
      'keys', 'create', '--user', 'alice', '--name', 'ci deploy', '--scope', 'read', '--scope', 'write',
      '--quota', '100', '--refill', '100/day', '--rate-limit', '60', '--metadata', '{"team":"billing"}',
    ]);
    assert.equal(ran.status, 0, ran.stderr);
    const key = lastLine(ran.stdout);
    assert.match(key, /^mcpkey_live_[A-Za-z0-9]+_[A-Za-z0-9]+$/);
    assert.equal(occurrences(ran.stdout, key), 1);
    assert.equal(oneLine(ran.stderr), 'keygate: this is the only time the key is shown: store it now, it cannot be read back');
    issued.push(key);
    const verification = await verify(key);
    assert.ok(verification.valid, JSON.stringify(verification));
    keyId = verification.key.keyId;
    assert.equal(verification.key.userId, 'alice');
    assert.deepEqual(verification.key.scopes, ['read', 'write']);
    assert.deepEqual(verification.key.metadata, { team: 'billing' });
    assert.match(ran.stdout, new RegExp(`^Created API key ${keyId} for alice, expiring \\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\dZ:\n`));
  });

  test('keys create --json prints an object with api_key, and a key of the test environment', async () => {
    const ran = await keygate(['keys', 'create', '--user', 'bob', '--name', 'sandbox', '--environment', 'test', '--expires-days', '7', '--json']);
    assert.equal(ran.status, 0, ran.stderr);
    const body = JSON.parse(ran.stdout);
    assert.deepEqual(Object.keys(body), ['key_id', 'name', 'created', 'expires_at', 'last_used', 'user_id', 'api_key']);
    assert.equal(body.user_id, 'bob');
    assert.equal(body.name, 'sandbox');
    assert.equal(body.last_used, null);
    assert.equal(Date.parse(body.expires_at) - Date.parse(body.created), 7 * 86_400_000);
    assert.match(body.api_key, new RegExp(`^mcpkey_test_${body.key_id}_`));
    assert.match(oneLine(ran.stderr), /only time the key is shown/);
    issued.push(body.api_key);
    assert.equal((await verify(body.api_key)).valid, true);
  });

  test('keys list --json prints every key in the HTTP API\'s APIKeyDetails shape, newest first', async () => {
    const keys = await json(['keys', 'list']);
    assert.deepEqual(keys.map((key: { user_id: string }) => key.user_id), ['bob', 'alice']);
    created = keys[1];
    assert.equal(created.key_id, keyId);
    assert.deepEqual(
      { ...created, created: undefined, expires_at: undefined, quota: { ...(created.quota as object), next_refill_at: undefined } },
      {
        key_id: keyId,
        name: 'ci deploy',
        created: undefined,
        expires_at: undefined,
        last_used: null,
        user_id: 'alice',
        environment: 'live',
        scopes: ['read', 'write'],
        metadata: { team: 'billing' },
        status: 'active',
        rate_limit: 60,
        // One verification, by the first test.
        quota: { remaining: 99, refill: { amount: 100, interval: 'day' }, next_refill_at: undefined },
        previous_key_expires_at: null,
      },
    );
    assert.deepEqual(await json(['keys', 'list', '--user', 'alice']), [keys[1]]);
    assert.deepEqual(
      (await json(['keys', 'list', '--environment', 'test'])).map((key: { user_id: string }) => key.user_id),
      ['bob'],
    );
  });

  test('keys list prints a table: a header, then a key a line, never a key itself', async () => {
    const ran = await keygate(['keys', 'list', '--user', 'alice']);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stderr, '');
    const [header, ...rows] = tableCells(ran.stdout);
    assert.deepEqual(header, ['KEY ID', 'USER', 'NAME', 'ENV', 'STATUS', 'SCOPES', 'CREATED', 'EXPIRES', 'LAST USED']);
    assert.deepEqual(rows, [
      [keyId, 'alice', 'ci deploy', 'live', 'active', 'read,write', shown(created.created as string), shown(created.expires_at as string), 'never'],
    ]);
    for (const key of issued) assert.ok(!ran.stdout.includes(key));
  });

  test('keys list with a filter that matches nothing prints the header alone', async () => {
    const ran = await keygate(['keys', 'list', '--user', 'nobody']);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stdout.split('\n').length, 2);
    assert.match(ran.stdout, /^KEY ID {2}/);
    assert.deepEqual(await json(['keys', 'list', '--user', 'nobody']), []);
  });

  test('keys show --json is the same object as the listing\'s; keys show prints a field a line', async () => {
    assert.deepEqual(await json(['keys', 'show', keyId]), created);
    const ran = await keygate(['keys', 'show', keyId]);
    assert.equal(ran.status, 0, ran.stderr);
    const fields = Object.fromEntries(tableCells(ran.stdout).map(([label, ...value]) => [label, value.join('  ')]));
    assert.deepEqual(fields, {
      'KEY ID': keyId,
      USER: 'alice',
      NAME: 'ci deploy',
      ENVIRONMENT: 'live',
      STATUS: 'active',
      SCOPES: 'read, write',
      METADATA: '{"team":"billing"}',
      'RATE LIMIT': '60 verifications per minute',
      QUOTA: `99 verifications left, back to 100 every day (next ${shown((created.quota as { next_refill_at: string }).next_refill_at)})`,
      CREATED: shown(created.created as string),
      EXPIRES: shown(created.expires_at as string),
      'LAST USED': 'never',
    });
  });

  test('keys rotate --grace 1h prints a new key once; the old one keeps working beside it', async () => {
    const ran = await keygate(['keys', 'rotate', keyId, '--grace', '1h']);
    assert.equal(ran.status, 0, ran.stderr);
    const key = lastLine(ran.stdout);
    assert.ok(!issued.includes(key));
    assert.match(key, new RegExp(`^mcpkey_live_${keyId}_`));
    assert.equal(occurrences(ran.stdout, key), 1);
    assert.match(ran.stdout, new RegExp(`^Rotated API key ${keyId}: the old key keeps working for 1h\\. The new key:\n`));
    assert.match(oneLine(ran.stderr), /only time the key is shown/);
    assert.equal((await verify(issued[0]!)).valid, true, 'the old key, in its grace');
    assert.equal((await verify(key)).valid, true, 'the new key');
    issued.push(key);
    const shownKey = await json(['keys', 'show', keyId]);
    const graceEnds = Date.parse(shownKey.previous_key_expires_at) - Date.now();
    assert.ok(graceEnds > 0 && graceEnds <= 3600_000, shownKey.previous_key_expires_at);
  });

  test('keys rotate --json without a grace: api_key works, every earlier key of it is refused', async () => {
    const body = await json(['keys', 'rotate', keyId]);
    assert.equal(body.key_id, keyId);
    assert.equal(body.user_id, 'alice');
    assert.equal((await verify(body.api_key)).valid, true);
    for (const old of issued.filter((key) => key.includes(`_${keyId}_`))) {
      assert.deepEqual(await verify(old), { valid: false, reason: 'unknown' });
    }
    issued.push(body.api_key);
  });

  test('keys disable: the key is refused and listed as disabled; keys enable: it works again', async () => {
    const current = issued.at(-1)!;
    const disabled = await keygate(['keys', 'disable', keyId]);
    assert.equal(disabled.status, 0, disabled.stderr);
    assert.equal(disabled.stdout, `Disabled API key ${keyId}.\n`);
    assert.deepEqual(await verify(current), { valid: false, reason: 'disabled' });
    assert.deepEqual((await json(['keys', 'list', '--status', 'disabled'])).map((key: { key_id: string }) => key.key_id), [keyId]);
    const enabled = await keygate(['keys', 'enable', keyId]);
    assert.equal(enabled.status, 0, enabled.stderr);
    assert.equal(enabled.stdout, `Enabled API key ${keyId}.\n`);
    assert.equal((await verify(current)).valid, true);
  });

  test('keys revoke: the key is refused and gone; a second revoke, or a show, exits 3', async () => {
    const current = issued.at(-1)!;
    const revoked = await keygate(['keys', 'revoke', keyId]);
    assert.equal(revoked.status, 0, revoked.stderr);
    assert.equal(revoked.stdout, `Revoked API key ${keyId}.\n`);
    assert.deepEqual(await verify(current), { valid: false, reason: 'unknown' });
    for (const command of ['revoke', 'show', 'disable', 'enable', 'rotate']) {
      const again = await keygate(['keys', command, keyId]);
      assert.equal(again.status, 3, `${command}: ${again.stderr}`);
      assert.equal(again.stdout, '');
      assert.equal(oneLine(again.stderr), `keygate keys ${command}: API key not found`);
    }
  });

  test('keygate audit --json: the CLI\'s changes, newest first, by cli:<OS user>, in the HTTP route\'s event shape', async () => {
    const events = await json(['audit', '--key', keyId]);
    const succeeded = events.filter((event: { outcome: string }) => event.outcome === 'succeeded');
    assert.deepEqual(
      succeeded.map((event: { action: string }) => event.action),
      ['key.revoked', 'key.enabled', 'key.disabled', 'key.rotated', 'key.rotated', 'key.created'],
    );
    // The five refused attempts on the revoked key, newest first: rotate, enable, disable, show, revoke.
    assert.deepEqual(
      events.filter((event: { outcome: string }) => event.outcome === 'refused').map((event: { action: string }) => event.action),
      ['key.rotated', 'key.updated', 'key.updated', 'key.read', 'key.revoked'],
    );
    for (const event of events) {
      assert.deepEqual(event.actor, { type: 'cli', id: OPERATOR });
      assert.deepEqual(Object.keys(event), [
        'event_id', 'occurred_at', 'actor', 'action', 'outcome', 'key_id', 'owner_id', 'changes', 'detail', 'client_address', 'user_agent', 'request_id',
      ]);
      assert.equal(event.key_id, keyId);
      assert.equal(event.owner_id, event.outcome === 'succeeded' ? 'alice' : null);
      assert.equal(event.client_address, null);
    }
    const disabled = succeeded[2];
    assert.deepEqual(disabled.changes, { status: { old: 'active', new: 'disabled' } });
    const graceRotation = succeeded[4];
    assert.equal(graceRotation.detail.grace_seconds, 3600);
    const text = JSON.stringify(events);
    for (const key of issued) assert.ok(!text.includes(key), 'no key in the trail');
  });

  test('keygate audit prints a table, filters by action, user and time (RFC 3339 or a duration ago), and says when more match', async () => {
    const ran = await keygate(['audit', '--key', keyId, '--action', 'key.disabled']);
    assert.equal(ran.status, 0, ran.stderr);
    assert.equal(ran.stderr, '');
    const [header, ...rows] = tableCells(ran.stdout);
    assert.deepEqual(header, ['TIME', 'ACTOR', 'ACTION', 'OUTCOME', 'KEY ID', 'OWNER', 'CHANGES']);
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.slice(1), [`cli:${OPERATOR}`, 'key.disabled', 'succeeded', keyId, 'alice', 'status: active → disabled']);
    assert.match(rows[0]![0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const bobs = await json(['audit', '--user', 'bob']);
    assert.deepEqual(bobs.map((event: { action: string }) => event.action), ['key.created']);
    assert.equal((await json(['audit', '--user', 'bob', '--since', '1h'])).length, 1);
    assert.deepEqual(await json(['audit', '--user', 'bob', '--until', '1h']), []);
    assert.deepEqual(await json(['audit', '--user', 'bob', '--since', '2999-01-01T00:00:00Z']), []);
    assert.equal((await json(['audit', '--user', 'bob', '--since', '2000-01-01T00:00:00+02:00'])).length, 1);

    const limited = await keygate(['audit', '--limit', '2', '--json']);
    assert.equal(limited.status, 0, limited.stderr);
    assert.equal(JSON.parse(limited.stdout).length, 2);
    assert.equal(
      oneLine(limited.stderr),
      'keygate: more events match than the 2 shown (the newest): narrow with --since or --until, or raise --limit (at most 500)',
    );
  });

  test('a create past the user\'s key limit exits 4, with the domain\'s reason, and prints no key', async () => {
    const ran = await keygate(['keys', 'create', '--user', 'bob', '--name', 'one too many'], { KEYGATE_MAX_KEYS_PER_USER: '1' });
    assert.equal(ran.status, 4, ran.stderr);
    assert.equal(ran.stdout, '');
    assert.equal(oneLine(ran.stderr), 'keygate keys create: Maximum of 1 API keys allowed per user. Revoke an existing key before creating more.');
  });

  // Each: exit 2, nothing on stdout, one line naming the option; no key made.
  const refusals: Array<[string[], string | RegExp]> = [
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--scope', 'read', '--scope', 'no spaces'],
      'keygate keys create: --scope (scopes.1): A scope should be 1 to 100 characters, each a letter, a digit or one of : . _ -'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--quota', '5', '--refill', '10/week'],
      "keygate keys create: --refill (quota.refill.interval): Input should be 'hour', 'day' or 'month'"],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--quota', '5', '--refill', '10'],
      'keygate keys create: --refill must be <amount>/<interval>, such as 1000/day, got "10" (see "keygate keys create --help")'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--quota', '5', '--refill', 'many/day'],
      'keygate keys create: --refill (quota.refill.amount): Input should be a valid integer'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--refill', '10/day'], 'keygate keys create: --quota: Field required'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--expires-days', '0'], /^keygate keys create: --expires-days: Input should be from 1 to \d+ days$/],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--rate-limit', 'fast'], 'keygate keys create: --rate-limit: Input should be a valid integer'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--metadata', '[1]'], 'keygate keys create: --metadata: Input should be a valid dictionary'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--metadata', '{team'], /^keygate keys create: --metadata must be JSON, such as '\{"team":"billing"\}': .+ \(see "keygate keys create --help"\)$/],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--environment', 'prod'], "keygate keys create: --environment: Input should be 'live' or 'test'"],
    [['keys', 'create', '--user', 'carol', '--name', ' '], 'keygate keys create: --name: Name must not be empty or blank'],
    [['keys', 'create', '--user', 'carol', '--name', 'n', '--bogus'], 'keygate keys create: unknown option --bogus (see "keygate keys create --help")'],
    [['keys', 'create', '--name', 'n'], 'keygate keys create: --user <id> is required (see "keygate keys create --help")'],
    [['keys', 'create', '--user', 'carol'], 'keygate keys create: --name <name> is required (see "keygate keys create --help")'],
    [['keys', 'list', '--status', 'gone'], "keygate keys list: --status: Input should be 'active' or 'disabled'"],
    [['keys', 'list', 'extra'], 'keygate keys list: unexpected argument "extra" (see "keygate keys list --help")'],
    [['keys', 'show'], 'keygate keys show: <key_id> is required (see "keygate keys show --help")'],
    [['keys', 'show', 'a', 'b'], 'keygate keys show: unexpected argument "b" (see "keygate keys show --help")'],
    [['keys', 'rotate', 'abc', '--grace', 'forever'], 'keygate keys rotate: --grace must be a duration such as 30m, 1h or 0s, got "forever" (see "keygate keys rotate --help")'],
    [['keys', 'rotate', 'abc', '--grace', '400d'], /^keygate keys rotate: --grace: Input should be from 0 to \d+ seconds$/],
    [['keys', 'revoke', '--json'], 'keygate keys revoke: unknown option --json (see "keygate keys revoke --help")'],
    [['keys'], 'keygate keys: no subcommand given (see "keygate keys --help")'],
    [['keys', 'frob'], 'keygate keys: unknown subcommand "frob" (see "keygate keys --help")'],
    [['audit', '--since', 'yesterday'], 'keygate audit: --since: Input should be a valid datetime from year 0000 to 9999, e.g. 2027-01-31T00:00:00Z'],
    [['audit', '--limit', '0'], 'keygate audit: --limit: Input should be an integer from 1 to 500'],
    [['audit', '--action', 'key.frobbed'], /^keygate audit: --action: Input should be 'key\.created' or /],
    [['audit', '--key'], 'keygate audit: --key needs a value (see "keygate audit --help")'],
  ];
  for (const [args, message] of refusals) {
    test(`keygate ${args.join(' ')}: exit 2, "${message}"`, async () => {
      const ran = await keygate(args);
      assert.equal(ran.status, 2, ran.stderr);
      assert.equal(ran.stdout, '');
      if (typeof message === 'string') assert.equal(oneLine(ran.stderr), message);
      else assert.match(oneLine(ran.stderr), message);
    });
  }

  test('none of the refused creates made a key', async () => {
    assert.deepEqual(await json(['keys', 'list', '--user', 'carol']), []);
  });
});

describe('keygate keys and audit where nothing can run', () => {
  test('a database that does not answer: exit 1, one line naming DATABASE_URL', async () => {
    for (const args of [['keys', 'list'], ['audit']]) {
      const ran = await keygateCommand('postgres://127.0.0.1:1/x', args);
      assert.equal(ran.status, 1, ran.stderr);
      assert.equal(ran.stdout, '');
      assert.match(oneLine(ran.stderr), /^keygate: DATABASE_URL postgres:\/\/127\.0\.0\.1:1\/x: PostgreSQL does not answer \(/);
    }
  });

  test('exit codes by the domain error: 2 refused input, 3 not found, 4 a rule or a race, 1 the rest', () => {
    assert.equal(exitCodeOf(new UsageError('bad')), 2);
    assert.equal(exitCodeOf(new InvalidInput('name', 'bad', 'string_type')), 2);
    assert.equal(exitCodeOf(new NotFound('API key not found')), 3);
    assert.equal(exitCodeOf(new Conflict('changed concurrently')), 4);
    assert.equal(exitCodeOf(new LimitReached('too many')), 4);
    assert.equal(exitCodeOf(new ConfigError('DATABASE_URL')), 1);
    assert.equal(exitCodeOf(new Error('unexpected')), 1);
    assert.deepEqual(EXIT_CODES, { ok: 0, failed: 1, usage: 2, notFound: 3, refused: 4 });
  });
});

describe('keygate help for the operator commands', () => {
  let folder: string;
  let databaseUrl: string;
  before(() => {
    folder = temporaryFolder();
    databaseUrl = `sqlite:${join(folder, 'untouched.db')}`;
  });
  after(() => rmSync(folder, { recursive: true, force: true }));

  const subcommands = ['list', 'show', 'create', 'rotate', 'disable', 'enable', 'revoke'];
  const helps: Array<[string[], string]> = [
    [['keys', '--help'], 'Usage: keygate keys <subcommand>'],
    [['keys', '-h'], 'Usage: keygate keys <subcommand>'],
    [['help', 'keys'], 'Usage: keygate keys <subcommand>'],
    [['audit', '--help'], 'Usage: keygate audit '],
    [['help', 'audit'], 'Usage: keygate audit '],
    [['help', 'help'], 'Usage: keygate help '],
    ...subcommands.map((name): [string[], string] => [['keys', name, '--help'], `Usage: keygate keys ${name} `]),
    [['help', 'keys', 'create'], 'Usage: keygate keys create '],
    [['keys', 'create', '--user', 'alice', '--help'], 'Usage: keygate keys create '],
    [['keys', 'show', 'abc', '-h'], 'Usage: keygate keys show '],
  ];
  for (const [args, start] of helps) {
    test(`keygate ${args.join(' ')} prints "${start}..." and opens no database`, async () => {
      const ran = await keygateCommand(databaseUrl, args);
      assert.equal(ran.status, 0, ran.stderr);
      assert.equal(ran.stderr, '');
      assert.ok(ran.stdout.startsWith(start), ran.stdout);
      assert.equal(existsSync(join(folder, 'untouched.db')), false);
    });
  }

  test('keygate keys create --help lists every option create takes', async () => {
    const { stdout } = await keygateCommand(databaseUrl, ['keys', 'create', '--help']);
    const options = ['--user <id>', '--name <name>', '--scope <scope>', '--expires-days <days>', '--environment <env>', '--quota <n>',
      '--refill <n>/<interval>', '--rate-limit <n>', '--metadata <json>', '--json', '-h, --help'];
    const lines = stdout.split('\n');
    for (const option of options) assert.ok(lines.some((line) => line.startsWith(`  ${option} `)), option);
  });

  test('keygate keys --help names every subcommand; keygate --help the new commands and every exit code', async () => {
    const keys = await keygateCommand(databaseUrl, ['keys', '--help']);
    for (const name of subcommands) assert.match(keys.stdout, new RegExp(`^ {2}${name} `, 'm'));
    const top = await keygateCommand(databaseUrl, ['--help']);
    assert.match(top.stdout, /^ {2}keys list\|show\|create\|rotate\|disable\|enable\|revoke /m);
    assert.match(top.stdout, /^ {2}audit \[--user <id>\]/m);
    const codes = top.stdout.slice(top.stdout.indexOf('Exit codes:'));
    for (const code of [0, 1, 2, 3, 4]) assert.match(codes, new RegExp(`^ {2}${code} {2}\\S`, 'm'));
  });
});
