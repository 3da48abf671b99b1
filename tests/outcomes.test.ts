import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, describe, test } from 'node:test';
import { OAuthError } from '@modelcontextprotocol/sdk/server/auth/errors.js';
import express from 'express';
import Fastify from 'fastify';
import { keygateExpress, keygateFastify } from '../src/index.js';
import { keygateBearerAuth, keygateMcpVerifier } from '../src/integrations/mcp.js';
import { REFUSALS, type Refusal } from '../src/keys/outcomes.js';
import type { Verification } from '../src/keys/verifier.js';
import { keygateForTests } from './support/keygate.js';

// Every outcome of a verification through every adapter: the server's routes (/verify, /validate,
// forward auth), the Fastify and Express glue, the MCP verifier and keygateBearerAuth. The
// outcomes are outcomes.ts's, so a new one runs through here at once, and fails until its
// answers are written below: what each adapter answers is decided there, once, and held here.

interface Answer {
  status: number;
  detail: string;
  /** The Retry-After field, for a refusal to retry; null for a refusal of the key. */
  retryAfter: string | null;
  /** The OAuth error code the MCP verifier raises. */
  mcp: string;
}

const INVALID_KEY: Answer = { status: 401, detail: 'Invalid API key', retryAfter: null, mcp: 'invalid_token' };

const ANSWERS: Record<Refusal, Answer> = {
  malformed: INVALID_KEY,
  unknown: INVALID_KEY,
  expired: INVALID_KEY,
  disabled: INVALID_KEY,
  // The generic answers of the three kinds whose refusals name more (the missing scopes, the
  // wait): what an adapter answers for a refusal that carries no error of its own.
  insufficient_scope: { status: 403, detail: 'The key lacks a required scope', retryAfter: null, mcp: 'insufficient_scope' },
  rate_limited: { status: 429, detail: 'Rate limit exceeded for this key', retryAfter: '60', mcp: 'too_many_requests' },
  quota_exhausted: { status: 429, detail: "This key's usage limit is reached", retryAfter: null, mcp: 'too_many_requests' },
  overloaded: { status: 503, detail: 'Too many keys are being verified at once; retry shortly', retryAfter: '1', mcp: 'server_error' },
};

const PRESENTED = { authorization: 'Bearer some-key-text' };

function answerOf(reason: Refusal): Answer {
  const answer = ANSWERS[reason];
  assert.ok(answer, `no answers written for the outcome '${reason}': say in this test what each adapter answers for it`);
  return answer;
}

const verifierAnswering = (verification: Verification) => ({ verify: async () => verification });

/** An HTTP answer as a caller sees it: status, detail and the two fields a refusal may carry. */
async function seen(response: Response): Promise<{ status: number; detail: unknown; retryAfter: string | null; challenge: string | null }> {
  const body = (await response.json()) as { detail?: unknown };
  return {
    status: response.status,
    detail: body.detail,
    retryAfter: response.headers.get('retry-after'),
    challenge: response.headers.get('www-authenticate'),
  };
}

/** What every keygate adapter answers over HTTP for `reason` (the SDK's middleware has a body of its own). */
function expectedHttp(reason: Refusal) {
  const { status, detail, retryAfter } = answerOf(reason);
  return { status, detail, retryAfter, challenge: status === 401 ? 'Bearer error="invalid_token"' : null };
}

async function listening(app: express.Express): Promise<{ url: string; close(): void }> {
  const server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => server.close() };
}

test('every outcome has its answers written here', () => {
  assert.deepEqual(Object.keys(ANSWERS).sort(), [...REFUSALS].sort());
});

describe('the server\'s verification routes', () => {
  const server = keygateForTests();
  const routes: [string, string][] = [
    ['POST', '/api/v1/api-keys/verify'],
    ['POST', '/api/v1/api-keys/validate'],
    ['GET', '/api/v1/api-keys/forward-auth'],
  ];

  for (const reason of REFUSALS) {
    test(`'${reason}'`, async (t) => {
      t.mock.method(server.keygate.verifier, 'verifyNow', (): Verification => ({ valid: false, reason }));
      for (const [method, path] of routes) {
        const response = await fetch(`${server.baseUrl}${path}`, { method, headers: PRESENTED });
        assert.deepEqual(await seen(response), expectedHttp(reason), `${method} ${path}`);
      }
    });
  }
});

describe('the Fastify glue', () => {
  for (const reason of REFUSALS) {
    test(`'${reason}'`, async () => {
      const app = Fastify();
      app.get('/data', { preHandler: keygateFastify(verifierAnswering({ valid: false, reason })) }, async () => ({ reached: true }));
      try {
        const response = await app.inject({ method: 'GET', url: '/data', headers: PRESENTED });
        assert.deepEqual(
          {
            status: response.statusCode,
            detail: response.json().detail,
            retryAfter: response.headers['retry-after'] ?? null,
            challenge: response.headers['www-authenticate'] ?? null,
          },
          expectedHttp(reason),
        );
      } finally {
        await app.close();
      }
    });
  }
});

describe('the Express glue', () => {
  for (const reason of REFUSALS) {
    test(`'${reason}'`, async () => {
      const app = express();
      app.get('/data', keygateExpress(verifierAnswering({ valid: false, reason })), (_request, response) => {
        response.json({ reached: true });
      });
      const running = await listening(app);
      try {
        assert.deepEqual(await seen(await fetch(`${running.url}/data`, { headers: PRESENTED })), expectedHttp(reason));
      } finally {
        running.close();
      }
    });
  }
});

describe('the MCP glue', () => {
  const closing: (() => void)[] = [];
  after(() => closing.forEach((close) => close()));

  for (const reason of REFUSALS) {
    test(`'${reason}': keygateMcpVerifier raises its OAuth error`, async () => {
      const { detail, mcp } = answerOf(reason);
      await assert.rejects(keygateMcpVerifier(verifierAnswering({ valid: false, reason })).verifyAccessToken('x'), (error: unknown) => {
        assert.ok(error instanceof OAuthError, String(error));
        assert.equal(error.errorCode, mcp);
        assert.equal(error.message, detail);
        return true;
      });
    });

    test(`'${reason}': keygateBearerAuth answers with the status the other adapters give`, async () => {
      const { status, detail, retryAfter, mcp } = answerOf(reason);
      const app = express();
      app.post('/mcp', keygateBearerAuth(verifierAnswering({ valid: false, reason })), (_request, response) => {
        response.json({ reached: true });
      });
      const running = await listening(app);
      closing.push(running.close);
      const response = await fetch(`${running.url}/mcp`, { method: 'POST', headers: PRESENTED });
      assert.equal(response.status, status);
      assert.equal(response.headers.get('retry-after'), retryAfter);
      // The SDK has no 503 or 429: keygateBearerAuth's own answer to "not now" is
      // temporarily_unavailable, to "slow down" too_many_requests.
      const error = status === 503 ? 'temporarily_unavailable' : mcp;
      assert.deepEqual(await response.json(), { error, error_description: detail });
    });
  }
});
