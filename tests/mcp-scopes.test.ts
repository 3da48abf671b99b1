import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport, StreamableHTTPError } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { requireBearerAuth } from '@modelcontextprotocol/sdk/server/auth/middleware/bearerAuth.js';
import { createMcpExpressApp } from '@modelcontextprotocol/sdk/server/express.js';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import type { Request, RequestHandler, Response } from 'express';
import { createKeyVerifier, type KeygateKeyVerifier } from '../src/index.js';
import { keygateBearerAuth, keygateMcpVerifier } from '../src/integrations/mcp.js';
import { call, startKeygate, type RunningKeygate } from './support/keygate.js';

// Issue #11's scopes over MCP: an MCP server (the SDK's Express app, StreamableHTTP, stateless)
// guarded by the SDK's requireBearerAuth with keygateMcpVerifier, or by keygateBearerAuth, with
// requiredScopes; the SDK's own client calling it with keygate keys. The MCP server verifies
// with the library (createKeyVerifier) on keygate's database, on a connection of its own.

const REQUIRED = ['tools:call'];
const BASE = '/api/v1/api-keys';

let keygate: RunningKeygate;
let keys: KeygateKeyVerifier;
let listener: Server;
let mcpBase: string;
let userCount = 0;
const openClients: Client[] = [];

/** A stateless MCP server with one tool that answers what the request's AuthInfo says. */
function mcpHandler(): RequestHandler {
  return async (req: Request, res: Response) => {
    const server = new McpServer({ name: 'keygate-scopes-test', version: '1.0.0' });
    server.registerTool('whoami', { description: "The key's id and its scopes, as the server's AuthInfo has them." }, (extra) => {
      const info = extra.authInfo;
      const answer = { key_id: info?.clientId, scopes: info?.scopes, remaining: info?.extra?.remaining };
      return { content: [{ type: 'text', text: JSON.stringify(answer) }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on('close', () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res, req.body);
  };
}

before(async () => {
  keygate = await startKeygate();
  keys = await createKeyVerifier({ databaseUrl: keygate.databaseUrl });
  const app = createMcpExpressApp({ host: '127.0.0.1' });
  // The SDK's middleware checks the scopes; keygate is not told them.
  app.post('/sdk', requireBearerAuth({ verifier: keygateMcpVerifier(keys), requiredScopes: REQUIRED }), mcpHandler());
  // The SDK's middleware, and keygate told the same scopes (so that a refusal uses no quota).
  app.post('/sdk-told', requireBearerAuth({ verifier: keygateMcpVerifier(keys, { requiredScopes: REQUIRED }), requiredScopes: REQUIRED }), mcpHandler());
  app.post('/keygate', keygateBearerAuth(keys, { requiredScopes: REQUIRED }), mcpHandler());
  app.post('/keygate-open', keygateBearerAuth(keys), mcpHandler());
  listener = app.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  mcpBase = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
});
after(async () => {
  try {
    await Promise.all(openClients.map((client) => client.close()));
    if (listener !== undefined) {
      const closed = new Promise<void>((resolve, reject) => listener.close((error) => (error ? reject(error) : resolve())));
      listener.closeAllConnections();
      await closed;
    }
    await keys?.close();
  } finally {
    await keygate?.close();
  }
});

interface TestKey {
  token: string;
  keyId: string;
  apiKey: string;
}

async function newKey(settings: Record<string, unknown> = {}): Promise<TestKey> {
  const token = await keygate.tokenFor(`mcp-scopes-user-${++userCount}-${process.pid}`);
  const created = await call(keygate.baseUrl, 'POST', `${BASE}/`, { token, json: { name: 'mcp key', ...settings } });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return { token, keyId: created.body.key_id, apiKey: created.body.api_key };
}

const remainingOf = async (key: TestKey): Promise<number> => {
  const got = await call(keygate.baseUrl, 'GET', `${BASE}/${key.keyId}`, { token: key.token });
  assert.equal(got.status, 200);
  return got.body.quota.remaining;
};

async function connect(path: string, apiKey: string): Promise<Client> {
  const client = new Client({ name: 'keygate-scopes-test', version: '1.0.0' });
  openClients.push(client);
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpBase + path), { requestInit: { headers: { Authorization: `Bearer ${apiKey}` } } }));
  return client;
}

async function whoami(client: Client): Promise<{ key_id: string; scopes: string[]; remaining?: number }> {
  const result = await client.callTool({ name: 'whoami' });
  assert.notEqual(result.isError, true, JSON.stringify(result));
  const content = result.content as Array<{ type: string; text: string }>;
  return JSON.parse(content[0]!.text);
}

/** The SDK client without an authProvider reports an HTTP refusal as StreamableHTTPError(status, body). */
async function refusedWith(attempt: Promise<unknown>, status: number, error: string): Promise<void> {
  await assert.rejects(attempt, (thrown: unknown) => {
    assert.ok(thrown instanceof StreamableHTTPError, `expected a StreamableHTTPError, got ${String(thrown)}`);
    assert.equal(thrown.code, status, thrown.message);
    assert.ok(thrown.message.includes(`"error":"${error}"`), thrown.message);
    return true;
  });
}

/** One raw POST of an MCP initialize request, as a client's first. */
function rawPost(path: string, apiKey: string): Promise<globalThis.Response> {
  return fetch(mcpBase + path, {
    method: 'POST',
    headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
    body: JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1.0.0' } },
    }),
  });
}

describe('requiredScopes through the SDK\'s requireBearerAuth and keygateMcpVerifier', () => {
  test('a key without the required scope is refused 403 insufficient_scope by a real MCP client call', async () => {
    const key = await newKey({ scopes: ['tools:read'] });
    for (const path of ['/sdk', '/sdk-told', '/keygate']) {
      await refusedWith(connect(path, key.apiKey), 403, 'insufficient_scope');
      const raw = await rawPost(path, key.apiKey);
      assert.equal(raw.status, 403, path);
      assert.match(raw.headers.get('www-authenticate') ?? '', /^Bearer error="insufficient_scope"/, path);
      assert.match(raw.headers.get('www-authenticate') ?? '', /scope="tools:call"/, path);
      assert.equal(((await raw.json()) as { error: string }).error, 'insufficient_scope', path);
    }
    // A key with no scopes at all, likewise.
    await refusedWith(connect('/sdk', (await newKey()).apiKey), 403, 'insufficient_scope');
  });

  test('a key with the required scope is let through, and AuthInfo.scopes are the key\'s scopes', async () => {
    const key = await newKey({ scopes: ['tools:read', 'tools:call'] });
    for (const path of ['/sdk', '/sdk-told', '/keygate']) {
      const client = await connect(path, key.apiKey);
      const { tools } = await client.listTools();
      assert.ok(tools.some((tool) => tool.name === 'whoami'), path);
      assert.deepEqual(await whoami(client), { key_id: key.keyId, scopes: ['tools:read', 'tools:call'] }, path);
    }
  });

  test('PATCH removing the scope is refused at the next call of a connected client; PATCH adding it back lets it in again', async () => {
    const key = await newKey({ scopes: ['tools:call', 'tools:read'] });
    const clients = await Promise.all(['/sdk', '/sdk-told', '/keygate'].map((path) => connect(path, key.apiKey)));
    for (const client of clients) assert.equal((await whoami(client)).key_id, key.keyId);

    const removed = await call(keygate.baseUrl, 'PATCH', `${BASE}/${key.keyId}`, { token: key.token, json: { scopes: ['tools:read'] } });
    assert.equal(removed.status, 200, JSON.stringify(removed.body));
    for (const client of clients) await refusedWith(whoami(client), 403, 'insufficient_scope');

    const restored = await call(keygate.baseUrl, 'PATCH', `${BASE}/${key.keyId}`, { token: key.token, json: { scopes: ['tools:read', 'tools:call'] } });
    assert.equal(restored.status, 200);
    for (const client of clients) assert.deepEqual((await whoami(client)).scopes, ['tools:read', 'tools:call']);
  });

  test('told the scopes, keygate refuses a key lacking one before using its quota', async () => {
    const key = await newKey({ scopes: ['tools:read'], quota: { remaining: 5 } });
    for (const path of ['/sdk-told', '/keygate']) {
      for (let i = 0; i < 3; i++) {
        const raw = await rawPost(path, key.apiKey);
        await raw.body?.cancel();
        assert.equal(raw.status, 403, path);
      }
    }
    assert.equal(await remainingOf(key), 5, 'no refused call used any of the quota');
  });

  test('a valid call through MCP uses exactly one of the quota, and the tool sees what is left', async () => {
    const key = await newKey({ scopes: ['tools:call'], quota: { remaining: 100 } });
    const first = await rawPost('/keygate', key.apiKey);
    await first.body?.cancel();
    assert.equal(first.status, 200);
    assert.equal(await remainingOf(key), 99);
    const client = await connect('/keygate', key.apiKey);
    const afterConnect = await remainingOf(key);
    const seen = await whoami(client);
    assert.equal(seen.remaining, afterConnect - 1, 'the call itself used one, and its AuthInfo says what is left after it');
    assert.equal(await remainingOf(key), afterConnect - 1);
  });
});

describe('keygateBearerAuth and an exhausted quota', () => {
  test('429 too_many_requests with the usage-limit detail, no Retry-After without refill', async () => {
    const key = await newKey({ quota: { remaining: 1 } });
    const first = await rawPost('/keygate-open', key.apiKey);
    await first.body?.cancel();
    assert.equal(first.status, 200);

    const refused = await rawPost('/keygate-open', key.apiKey);
    assert.equal(refused.status, 429);
    assert.equal(refused.headers.get('retry-after'), null);
    const body = (await refused.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'too_many_requests');
    assert.match(body.error_description, /usage limit is reached/i);
    // The SDK's own client sees the 429.
    await refusedWith(connect('/keygate-open', key.apiKey), 429, 'too_many_requests');
  });

  test('with refill: 429 with Retry-After until the refill', async () => {
    const key = await newKey({ quota: { remaining: 1, refill: { amount: 10, interval: 'hour' } } });
    await (await rawPost('/keygate-open', key.apiKey)).body?.cancel();
    const refused = await rawPost('/keygate-open', key.apiKey);
    assert.equal(refused.status, 429);
    const seconds = Number(refused.headers.get('retry-after'));
    assert.ok(Number.isInteger(seconds) && seconds >= 1 && seconds <= 3600, `Retry-After ${refused.headers.get('retry-after')}`);
    const body = (await refused.json()) as { error: string; error_description: string };
    assert.equal(body.error, 'too_many_requests');
    assert.match(body.error_description, /refills at \d{4}-\d{2}-\d{2}T/);
  });

  test('with requiredScopes too, an exhausted key that has the scope gets 429, not 403', async () => {
    const key = await newKey({ scopes: ['tools:call'], quota: { remaining: 0 } });
    const refused = await rawPost('/keygate', key.apiKey);
    assert.equal(refused.status, 429);
    assert.equal(((await refused.json()) as { error: string }).error, 'too_many_requests');
  });

  test('where the bare requireBearerAuth, which has no 429, answers 400', async () => {
    const key = await newKey({ scopes: ['tools:call'], quota: { remaining: 0 } });
    const refused = await rawPost('/sdk', key.apiKey);
    assert.equal(refused.status, 400);
    assert.equal(((await refused.json()) as { error: string }).error, 'too_many_requests');
  });
});

describe('the library\'s verify with scopes', () => {
  test('a key lacking a required scope is insufficient_scope, and uses none of its quota', async () => {
    const key = await newKey({ scopes: ['b'], quota: { remaining: 3 } });
    const refused = await keys.verify(key.apiKey, { scopes: ['a'] });
    assert.equal(refused.valid, false);
    assert.equal(!refused.valid && refused.reason, 'insufficient_scope');
    const partly = await keys.verify(key.apiKey, { scopes: ['b', 'a'] });
    assert.equal(!partly.valid && partly.reason, 'insufficient_scope', 'every required scope is needed');
    assert.equal(await remainingOf(key), 3);

    const admitted = await keys.verify(key.apiKey, { scopes: ['b'] });
    assert.equal(admitted.valid, true);
    assert.equal(admitted.valid && admitted.remaining, 2);
  });

  test('a valid answer carries the key\'s scopes, metadata and environment, and remaining only with a quota', async () => {
    const withQuota = await newKey({ scopes: ['a', 'b'], metadata: { team: 'search', tier: 2 }, environment: 'test', quota: { remaining: 10 } });
    const checked = await keys.verify(withQuota.apiKey, { scopes: ['a', 'b'] });
    assert.ok(checked.valid, JSON.stringify(checked));
    assert.equal(checked.key.keyId, withQuota.keyId);
    assert.deepEqual([...checked.key.scopes], ['a', 'b']);
    assert.deepEqual(checked.key.metadata, { team: 'search', tier: 2 });
    assert.equal(checked.key.environment, 'test');
    assert.equal(checked.remaining, 9);

    const plain = await newKey({ scopes: ['a'] });
    const unlimited = await keys.verify(plain.apiKey);
    assert.ok(unlimited.valid);
    assert.equal(unlimited.key.environment, 'live');
    assert.equal(unlimited.remaining, undefined);
    assert.deepEqual([...unlimited.key.scopes], ['a']);
    assert.deepEqual(unlimited.key.metadata, {});
    // No requirement, or an empty one, asks nothing of the scopes.
    assert.ok((await keys.verify(plain.apiKey, { scopes: [] })).valid);
  });

  test('the metadata handed out cannot be changed by its receiver, however deep: the next verification returns it as set', async () => {
    const key = await newKey({ metadata: { limits: { depth: 3, tags: ['a'] } } });
    const first = await keys.verify(key.apiKey);
    assert.ok(first.valid);
    const limits = first.key.metadata.limits as { depth: number; tags: string[] };
    assert.throws(() => {
      limits.depth = 99;
    }, TypeError);
    assert.throws(() => limits.tags.push('b'), TypeError);
    const second = await keys.verify(key.apiKey);
    assert.ok(second.valid);
    assert.deepEqual(second.key.metadata, { limits: { depth: 3, tags: ['a'] } });
  });

  test('a PATCH removing a scope is refused at the library\'s very next verification', async () => {
    const key = await newKey({ scopes: ['a', 'b'] });
    assert.ok((await keys.verify(key.apiKey, { scopes: ['a'] })).valid); // warm
    const patched = await call(keygate.baseUrl, 'PATCH', `${BASE}/${key.keyId}`, { token: key.token, json: { scopes: ['b'] } });
    assert.equal(patched.status, 200);
    const refused = await keys.verify(key.apiKey, { scopes: ['a'] });
    assert.equal(!refused.valid && refused.reason, 'insufficient_scope');
    assert.ok((await keys.verify(key.apiKey, { scopes: ['b'] })).valid);
  });
});
