import assert from 'node:assert/strict';
import { once } from 'node:events';
import { rmSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { mintLocalUserToken } from '../src/tokens/user-tokens.js';
import { call, freshDatabase, spawnKeygate, temporaryFolder, TEST_SECRET, type JsonResponse, type KeygateProcess, type TestDatabase } from './support/keygate.js';

// Crash durability: the real server process, a few concurrent clients creating, rotating and
// revoking keys, SIGKILL in the middle of it, a restart on the same database, and then every
// write the clients saw acknowledged must be there, exactly; writes still in flight at the kill
// may or may not have happened, but never halfway. On SQLite (the pass's default) and on
// PostgreSQL (the second pass): freshDatabase() gives a database of the pass's kind.
//
// Bounded by counts, not time: each client stops after MAX_OPERATIONS_PER_CLIENT requests, and
// the kill comes once KILL_AFTER_ACKNOWLEDGED answers have arrived, while the others are in flight.

const CLIENTS = 4;
const MAX_OPERATIONS_PER_CLIENT = 40;
const KILL_AFTER_ACKNOWLEDGED = 60;
/** Live keys a client keeps at least, so that rotates and revokes always have something to act on. */
const MIN_LIVE_KEYS = 3;

interface TrackedKey {
  keyId: string;
  /** Every key acknowledged for this key_id, oldest first: the last is the current one. */
  versions: string[];
  /** A revoke of it answered 204. */
  revoked: boolean;
  /** The request on it that was in flight at the kill: no answer ever came. */
  inFlight?: 'rotate' | 'revoke';
}

interface Client {
  userId: string;
  token: string;
  keys: TrackedKey[];
  /** The name of the create in flight at the kill (names are unique), if one was. */
  createInFlight?: string;
  /** Answers that broke the contract while the server was up. */
  surprises: string[];
}

describe('durability: SIGKILL under load, then a restart on the same database', () => {
  let folder: string;
  let database: TestDatabase;
  let env: Record<string, string>;
  let server: KeygateProcess | undefined;
  let acknowledged = 0;

  before(async () => {
    folder = temporaryFolder();
    database = await freshDatabase(folder);
    env = {
      DATABASE_URL: database.url,
      KEYGATE_SECRET: TEST_SECRET,
      // Limits off: this is about what survives a crash, not about who may ask how often.
      KEYGATE_MAX_KEYS_PER_USER: '1000',
      KEYGATE_RATE_LIMIT_MANAGE_PER_USER: '0',
      KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: '0',
      KEYGATE_RATE_LIMIT_VERIFY_PER_IP: '0',
    };
  });
  after(async () => {
    await server?.stop();
    await database.drop();
    rmSync(folder, { recursive: true, force: true });
  });

  /** One client's load: its own user, one request at a time, until the kill or its budget ends. */
  async function runClient(client: Client, index: number, baseUrl: string, kill: () => void, killed: () => boolean): Promise<void> {
    for (let operation = 0; operation < MAX_OPERATIONS_PER_CLIENT; operation++) {
      // After the kill nothing new starts: only requests that reached the server count as in flight.
      if (killed()) return;
      const live = client.keys.filter((key) => !key.revoked);
      const roll = Math.random();
      const kind = live.length < MIN_LIVE_KEYS || roll < 0.3 ? 'create' : roll < 0.8 ? 'rotate' : 'revoke';
      const target = live[Math.floor(Math.random() * live.length)] as TrackedKey;
      const name = `client ${index} key ${operation}`;
      let answer: JsonResponse;
      try {
        if (kind === 'create') {
          client.createInFlight = name;
          answer = await call(baseUrl, 'POST', '/api/v1/api-keys/', { token: client.token, json: { name } });
        } else {
          target.inFlight = kind;
          answer = kind === 'rotate'
            ? await call(baseUrl, 'POST', `/api/v1/api-keys/${target.keyId}/rotate`, { token: client.token })
            : await call(baseUrl, 'DELETE', `/api/v1/api-keys/${target.keyId}`, { token: client.token });
        }
      } catch {
        return; // the server is gone: the request stays marked in flight
      }
      if (kind === 'create') {
        client.createInFlight = undefined;
        if (answer.status !== 201) client.surprises.push(`create: ${answer.status} ${JSON.stringify(answer.body)}`);
        else client.keys.push({ keyId: answer.body.key_id, versions: [answer.body.api_key], revoked: false });
      } else {
        target.inFlight = undefined;
        if (kind === 'rotate' && answer.status === 200) target.versions.push(answer.body.new_api_key);
        else if (kind === 'revoke' && answer.status === 204) target.revoked = true;
        else client.surprises.push(`${kind} ${target.keyId}: ${answer.status} ${JSON.stringify(answer.body)}`);
      }
      acknowledged += 1;
      if (acknowledged === KILL_AFTER_ACKNOWLEDGED) kill();
    }
  }

  test('every acknowledged write survives, no unacknowledged one is half done', async (t) => {
    const clients: Client[] = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, index) => {
        const userId = `durable-${index}`;
        return { userId, token: await mintLocalUserToken(TEST_SECRET, { userId, ttl: '1h' }), keys: [], surprises: [] };
      }),
    );

    const first = await spawnKeygate(env, folder);
    server = first;
    const exited = once(first.child, 'exit');
    let killed = false;
    const kill = () => {
      killed = true;
      first.child.kill('SIGKILL');
    };
    await Promise.all(clients.map((client, index) => runClient(client, index, first.baseUrl, kill, () => killed)));
    assert.ok(killed, `the load ended before ${KILL_AFTER_ACKNOWLEDGED} acknowledged answers: the kill never came mid-load`);
    const [, signal] = await exited;
    assert.equal(signal, 'SIGKILL');
    assert.deepEqual(clients.flatMap((client) => client.surprises), [], 'answers before the kill broke the contract');
    const inFlight = clients.reduce((n, c) => n + (c.createInFlight ? 1 : 0) + c.keys.filter((key) => key.inFlight).length, 0);
    t.diagnostic(`${acknowledged} acknowledged writes, ${inFlight} in flight at the kill`);

    server = await spawnKeygate(env, folder);
    const { baseUrl } = server;
    const verify = (key: string) => call(baseUrl, 'POST', '/api/v1/api-keys/verify', { headers: { 'x-api-key': key } });

    for (const client of clients) {
      const listed = await call(baseUrl, 'GET', '/api/v1/api-keys/', { token: client.token });
      assert.equal(listed.status, 200);
      const rows: { key_id: string; name: string; created: string; expires_at: string }[] = listed.body;
      const listedIds = new Set(rows.map((row) => row.key_id));
      assert.equal(listedIds.size, rows.length, `${client.userId}: a key is listed twice`);

      for (const key of client.keys) {
        const present = listedIds.has(key.keyId);
        const current = key.versions.at(-1) as string;
        if (key.revoked) {
          assert.ok(!present, `${client.userId}: ${key.keyId} is listed after its revoke answered 204`);
          assert.equal((await verify(current)).status, 401, `${key.keyId}: revoked, yet its key verifies`);
          continue;
        }
        if (key.inFlight === 'revoke') {
          // Either done or not: the row is there and its current key works, or neither.
          assert.equal((await verify(current)).status, present ? 200 : 401, `${key.keyId}: a revoke in flight left it half done`);
          continue;
        }
        assert.ok(present, `${client.userId}: ${key.keyId} was acknowledged, never revoked, and is gone`);
        const answer = await verify(current);
        if (key.inFlight === 'rotate' && answer.status === 401) {
          // The rotate in flight committed: the row now holds a key the client never saw.
        } else {
          assert.equal(answer.status, 200, `${key.keyId}: the key of its last acknowledged answer does not verify`);
          assert.equal(answer.body.key_id, key.keyId);
          assert.equal(answer.body.user_id, client.userId);
        }
        // The two versions before the current one: each costs a bcrypt compare, and all older
        // ones were replaced the same way.
        for (const older of key.versions.slice(-3, -1)) {
          assert.equal((await verify(older)).status, 401, `${key.keyId}: a key rotated away (acknowledged) verifies again`);
        }
      }

      // A row no answer told the client about can only be the create in flight at the kill, whole.
      const known = new Set(client.keys.map((key) => key.keyId));
      const unknown = rows.filter((row) => !known.has(row.key_id));
      assert.ok(unknown.length <= (client.createInFlight ? 1 : 0), `${client.userId}: rows no create acknowledged: ${JSON.stringify(unknown)}`);
      for (const row of unknown) {
        assert.equal(row.name, client.createInFlight);
        assert.ok(Date.parse(row.expires_at) > Date.parse(row.created), `${row.key_id}: a half-written row ${JSON.stringify(row)}`);
      }
    }

    // And the restarted server takes writes again.
    const [client] = clients as [Client];
    const created = await call(baseUrl, 'POST', '/api/v1/api-keys/', { token: client.token, json: { name: 'after the restart' } });
    assert.equal(created.status, 201);
    assert.equal((await verify(created.body.api_key)).status, 200);
  });
});
