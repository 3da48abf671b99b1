import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { keygateForTests, rawExchange, type RawExchange } from './support/keygate.js';

// Requests that never reach a route, sent over raw sockets because fetch() will not send them:
// each still gets a proper HTTP answer, with a JSON `detail` wherever a body is allowed.

const server = keygateForTests();

function assertDetail(answer: RawExchange, status: number, detail: string): void {
  assert.equal(answer.status, status);
  assert.match(answer.headers['content-type'] ?? '', /^application\/json/);
  assert.deepEqual(JSON.parse(answer.body), { detail });
}

describe('HTTP edge cases', () => {
  test('an HTTP/1.1 request without Host is a 400 with a detail', async () => {
    const answer = await rawExchange(server.baseUrl, 'GET /healthz HTTP/1.1\r\nConnection: close\r\n\r\n');
    assertDetail(answer, 400, 'The Host header is missing');
  });

  test('an HTTP/1.0 request needs no Host', async () => {
    const answer = await rawExchange(server.baseUrl, 'GET /healthz HTTP/1.0\r\n\r\n');
    assert.equal(answer.status, 200);
    assert.deepEqual(JSON.parse(answer.body), { status: 'ok' });
  });

  test('CONNECT is a 405 with a detail, not a dropped connection', async () => {
    const answer = await rawExchange(server.baseUrl, 'CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n');
    assertDetail(answer, 405, 'CONNECT is not supported: keygate is not a proxy');
    assert.equal(answer.headers.allow, 'GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS');
  });

  test('an Expect other than 100-continue is a 417 with a detail', async () => {
    const answer = await rawExchange(server.baseUrl, 'GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: nonsense\r\nConnection: close\r\n\r\n');
    assertDetail(answer, 417, 'Only "Expect: 100-continue" is supported');
  });

  test('headers over the size limit are a 431 with a detail', async () => {
    const answer = await rawExchange(server.baseUrl, `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: ${'a'.repeat(20_000)}\r\n\r\n`);
    assertDetail(answer, 431, 'The request headers are too large');
  });

  test('a malformed request line is a 400 with a detail', async () => {
    const answer = await rawExchange(server.baseUrl, 'GET /healthz HTTP/9.9 extra\r\nHost: 127.0.0.1\r\n\r\n');
    assertDetail(answer, 400, 'Malformed HTTP request');
  });

  test('a malformed HEAD is a 400 without a body', async () => {
    const answer = await rawExchange(server.baseUrl, 'HEAD /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n');
    assert.equal(answer.status, 400);
    assert.equal(answer.body, '');
  });

  test('a HEAD of a missing route is a 404 without a body', async () => {
    const answer = await rawExchange(server.baseUrl, 'HEAD /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
    assert.equal(answer.status, 404);
    assert.equal(answer.body, '');
  });
});
