import Fastify from 'fastify';
import { FastHmac } from '../src/keys/fast-hmac.js';
import { runChild, serveForBench } from './serve.js';

// (a) The ceiling: Fastify alone, the same route and the same answer as keygate's verify
// (same path, same X-API-Key header read, same response schema, so the same serializer work),
// minus the verification itself.
//
// (f) With BENCH_FLOOR=1: the same route plus the least that an exact warm hit must do per
// request, done as keygate does it: the HMAC tag of the presented key (no plaintext in memory)
// and the lease check (a clock read and a compare; the change feed reads the database on a timer
// of its own, not per request: src/keys/change-feed.ts). No cache, rate limit, metrics or
// logger. The handler stays async like (a)'s, so that f - a is exactly that work; keygate's own
// handler is a plain function, which saves it a promise the floor pays.

const answer = {
  valid: true,
  user_id: 'bench-user',
  key_id: '3xZ9kQ2mB7aV',
  name: 'bench key',
  expires_at: '2099-01-01T00:00:00.000Z',
};

/** The floor's per-request work: whether this key is as last seen, and the lease still holds. */
function exactWarmCheck(): (key: string) => boolean {
  const tags = new FastHmac();
  const trustedUntil = performance.now() + 3_600_000;
  let lastTag = '';
  return (key) => {
    const tag = tags.tag(key);
    const unchanged = tag === lastTag && performance.now() < trustedUntil;
    lastTag = tag;
    return unchanged;
  };
}

runChild(async () => {
  const check = process.env.BENCH_FLOOR === '1' ? exactWarmCheck() : undefined;
  const app = Fastify({ logger: false });
  app.post(
    '/api/v1/api-keys/verify',
    {
      schema: {
        response: {
          200: {
            type: 'object',
            required: ['valid', 'user_id', 'key_id', 'name', 'expires_at'],
            properties: {
              valid: { type: 'boolean', const: true },
              user_id: { type: 'string' },
              key_id: { type: 'string' },
              name: { type: 'string' },
              expires_at: { type: 'string', format: 'date-time' },
            },
          },
          400: { type: 'object', properties: { detail: { type: 'string' } } },
        },
      },
    },
    async (request, reply) => {
      const key = request.headers['x-api-key'];
      if (typeof key !== 'string') return reply.code(400).send({ detail: 'No API key' });
      check?.(key);
      return answer;
    },
  );
  await serveForBench(app, { keys: [], setupMs: 0 });
});
