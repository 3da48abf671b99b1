import Fastify from 'fastify';
import { FastHmac } from '../src/keys/fast-hmac.js';
import { KeyFormat } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hashing.js';
import { runChild, serveForBench } from './serve.js';

// (e) The naive design: one bcrypt compare (keygate's own KeyHasher, same cost) on every
// request, nothing remembered. No database read at all, so this is its best case.

runChild(async () => {
  const cost = Number(process.env.KEYGATE_BCRYPT_COST ?? '10');
  const format = new KeyFormat({ live: 'mcpkey_live_', test: 'mcpkey_test_' }, FastHmac.newKey());
  // Queue bounds far beyond the load: the naive design refuses nothing, it only waits.
  const hasher = new KeyHasher({ scheme: 'bcrypt', bcryptCost: cost, pepper: FastHmac.newKey(), concurrency: 4, maxWaiting: 100_000, maxWaitMs: 600_000 });
  const keyId = format.newKeyId();
  const key = format.issue(keyId, 'live');
  const started = performance.now();
  const storedHash = await hasher.hash(key);
  const setupMs = performance.now() - started;
  const answer = { valid: true, user_id: 'bench-user', key_id: keyId, name: 'bench key', expires_at: '2099-01-01T00:00:00.000Z' };

  const app = Fastify({ logger: false });
  app.post('/api/v1/api-keys/verify', async (request, reply) => {
    const presented = request.headers['x-api-key'];
    if (typeof presented !== 'string') return reply.code(400).send({ detail: 'No API key' });
    if (format.keyIdOf(presented) === undefined || !(await hasher.matches(presented, storedHash))) {
      return reply.code(401).send({ detail: 'Invalid API key' });
    }
    return answer;
  });
  await serveForBench(app, { keys: [key], setupMs });
});
