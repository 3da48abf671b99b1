import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { InvalidTokenError, ServerError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import { startMcpServer, type RunningMcpServer } from '../examples/mcp-server/server.js';
import { keygateMcpVerifier } from '../src/integrations/mcp.js';
import { refusalError, type Refusal, type Verification } from '../src/keys/verifier.js';
import { call, startKeygate, type RunningKeygate } from './support/keygate.js';
import { changeRowBehindKeygate } from './support/behind-keygate.js';

// The MCP glue end to end: a keygate server and the example MCP server in this process, on one
// SQLite file but each with its own connection (as two processes would be), and the SDK's own
// client talking to the MCP server with keygate keys as bearer tokens.

const INVALID_KEY_DETAIL = 'Invalid API key';

let keygate: RunningKeygate;
let mcp: RunningMcpServer;
let userCount = 0;
const openClients: Client[] = [];

before(async () => {
  keygate = await startKeygate();
  mcp = await startMcpServer({ databaseUrl: keygate.databaseUrl, port: 0 });
});
after(async () => {
  try {
    await Promise.all(openClients.map((client) => client.close()));
    await mcp?.close();
  } finally {
    await keygate?.close();
  }
});

/** A fresh user with one key, created over keygate's HTTP API. */
async function userWithKey(): Promise<{ userId: string; token: string; keyId: string; apiKey: string }> {
  const userId = `mcp-user-${++userCount}@example.com`;
  const token = await keygate.tokenFor(userId);
  const created = await call(keygate.baseUrl, 'POST', '/api/v1/api-keys/', { token, json: { name: 'mcp client' } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { userId, token, keyId: created.body.key_id, apiKey: created.body.api_key };
}

/** An SDK client connected to the example server, presenting `apiKey` as a bearer token (or nothing). */
async function connect(apiKey: string | undefined): Promise<Client> {
  const client = new Client({ name: 'keygate-test', version: '1.0.0' });
  openClients.push(client);
  const headers: Record<string, string> = apiKey === undefined ? {} : { Authorization: `Bearer ${apiKey}` };
  await client.connect(new StreamableHTTPClientTransport(new URL(mcp.url), { requestInit: { headers } }));
  return client;
}

async function whoami(client: Client): Promise<{ user_id: string; key_id: string; key_name: string }> {
  const result = await client.callTool({ name: 'whoami' });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  const content = result.content as Array<{ type: string; text: string }>;
  assert.equal(content[0]?.type, 'text');
  return JSON.parse(content[0].text);
}

/** The SDK client reports an HTTP refusal without an authProvider as StreamableHTTPError(status, body). */
async function refusedWith401(attempt: Promise<unknown>, description = INVALID_KEY_DETAIL): Promise<void> {
  await assert.rejects(attempt, (error: unknown) => {
    assert.ok(error instanceof StreamableHTTPError, `expected a StreamableHTTPError, got ${String(error)}`);
    assert.equal(error.code, 401);
    assert.match(error.message, /"error":"invalid_token"/);
    assert.ok(error.message.includes(`"error_description":"${description}"`), error.message);
    return true;
  });
}

describe('an MCP server behind keygateMcpVerifier', () => {
  test('a valid key lists the tools and calls one, which sees the key\'s owner', async () => {
    const { userId, keyId, apiKey } = await userWithKey();
    const client = await connect(apiKey);
    const { tools } = await client.listTools();
    assert.ok(tools.some((tool) => tool.name === 'whoami'), JSON.stringify(tools));
    assert.deepEqual(await whoami(client), { user_id: userId, key_id: keyId, key_name: 'mcp client' });
  });

  test('no key: 401 from requireBearerAuth, on POST, GET and DELETE alike', async () => {
    await refusedWith401(connect(undefined), 'Missing Authorization header');
    for (const method of ['POST', 'GET', 'DELETE']) {
      const response = await fetch(mcp.url, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
      assert.equal(response.status, 401, method);
      assert.match(response.headers.get('www-authenticate') ?? '', /^Bearer error="invalid_token"/);
      await response.body?.cancel();
    }
  });

  test('a wrong key, a malformed one and a key of another scheme: 401 with one detail', async () => {
    const { apiKey } = await userWithKey();
    const wrongSecret = apiKey.slice(0, -1) + (apiKey.endsWith('a') ? 'b' : 'a');
    await refusedWith401(connect(wrongSecret));
    await refusedWith401(connect('not-a-keygate-key'));
    await refusedWith401(connect(apiKey.replace('mcpkey_live_', 'mcpkey_test_')));
  });

  test('GET and DELETE with a valid key pass the guard and are refused as not offered (stateless)', async () => {
    const { apiKey } = await userWithKey();
    for (const method of ['GET', 'DELETE']) {
      const response = await fetch(mcp.url, { method, headers: { authorization: `Bearer ${apiKey}` } });
      assert.equal(response.status, 405, method);
      await response.body?.cancel();
    }
  });

  test('after a revoke, the very next request with the key gets 401', async () => {
    const { token, keyId, apiKey } = await userWithKey();
    const client = await connect(apiKey);
    assert.equal((await whoami(client)).key_id, keyId);

    const revoked = await call(keygate.baseUrl, 'DELETE', `/api/v1/api-keys/${keyId}`, { token });
    assert.equal(revoked.status, 204);

    await refusedWith401(client.listTools());
    await refusedWith401(connect(apiKey));
  });

  test('after a rotate, the old key gets 401 on its next request and the new key works', async () => {
    const { userId, token, keyId, apiKey } = await userWithKey();
    const oldClient = await connect(apiKey);
    assert.equal((await whoami(oldClient)).key_id, keyId);

    const rotated = await call(keygate.baseUrl, 'POST', `/api/v1/api-keys/${keyId}/rotate`, { token });
    assert.equal(rotated.status, 200, JSON.stringify(rotated.body));
    const newKey: string = rotated.body.new_api_key;

    await refusedWith401(whoami(oldClient));
    const newClient = await connect(newKey);
    assert.deepEqual(await whoami(newClient), { user_id: userId, key_id: keyId, key_name: 'mcp client' });
    await refusedWith401(connect(apiKey));
  });

  test('an expired key gets 401 on its next request', async () => {
    const { keyId, apiKey } = await userWithKey();
    const client = await connect(apiKey);
    assert.equal((await whoami(client)).key_id, keyId);

    // No waiting: the key's expiry is moved into the past behind keygate, and announced. The
    // version moves with it, as with every change keygate itself makes to a key's settings.
    await changeRowBehindKeygate(keygate.keygate.db, keyId, { expires_at: '2000-01-01T00:00:00.000Z', version: 1_000 });

    await refusedWith401(client.listTools());
  });
});

describe('keygateMcpVerifier', () => {
  const verifierAnswering = (verification: Verification) => keygateMcpVerifier({ verify: async () => verification });

  test('a valid key becomes AuthInfo: key_id as client, its scopes, expiry in seconds, the owner and the rest in extra', async () => {
    const key = {
      userId: 'u@example.com',
      keyId: 'abcDEF123456',
      name: 'n',
      expiresAt: '2031-02-03T04:05:06.789Z',
      environment: 'test' as const,
      scopes: ['tools:read', 'tools:call:search'],
      metadata: { team: 'search' },
    };
    const info = await verifierAnswering({ valid: true, key, remaining: 7 }).verifyAccessToken('the-token');
    assert.deepEqual(info, {
      token: 'the-token',
      clientId: 'abcDEF123456',
      scopes: ['tools:read', 'tools:call:search'],
      expiresAt: Date.parse('2031-02-03T04:05:06.789Z') / 1000,
      extra: { userId: 'u@example.com', keyId: 'abcDEF123456', name: 'n', environment: 'test', metadata: { team: 'search' }, remaining: 7 },
    });
  });

  for (const reason of ['malformed', 'unknown', 'expired'] as const) {
    test(`'${reason}' is InvalidTokenError (401) with the one detail`, async () => {
      await assert.rejects(verifierAnswering({ valid: false, reason }).verifyAccessToken('x'), (error: unknown) => {
        assert.ok(error instanceof InvalidTokenError);
        assert.equal(error.message, INVALID_KEY_DETAIL);
        return true;
      });
    });
  }

  for (const reason of ['overloaded'] satisfies Refusal[]) {
    test(`'${reason}' is ServerError (requireBearerAuth's 500; it has no 429 or 503), not a 401`, async () => {
      await assert.rejects(verifierAnswering({ valid: false, reason }).verifyAccessToken('x'), (error: unknown) => {
        assert.ok(error instanceof ServerError);
        assert.ok(!(error instanceof InvalidTokenError));
        assert.equal(error.message, refusalError({ reason }).message);
        return true;
      });
    });
  }
});
