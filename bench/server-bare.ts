import Fastify from 'fastify';
import { FastHmac } from '../src/keys/fast-hmac.js';
import { openDatabase } from '../src/store/database.js';
import { runChild, serveForBench } from './serve.js';

// (a) The ceiling: Fastify alone, the same route and the same answer as keygate's verify
// (same path, same X-API-Key header read, same response schema, so the same serializer work),
// minus the verification itself.
//
// (f) With BENCH_FLOOR_DATABASE=<SQLite file>: the same route plus the least that an exact warm
// hit must do per request, done as keygate does it: the HMAC tag of the presented key (no
// plaintext in memory) and PRAGMA data_version on a database opened as keygate opens its own
// (has any other process committed?). No cache, rate limit, metrics or logger. The handler
// stays async like (a)'s, so that f - a is exactly that work; keygate's own handler is a plain
// function, which saves it a promise the floor pays.

const answer = {
  valid: true,
  user_id: 'bench-user',
  key_id: '3xZ9kQ2mB7aV',
  name: 'bench key',
  expires_at: '2099-01-01T00:00:00.000Z',
};

/** The floor's per-request work: whether this key and the database are as last seen. */
async function exactWarmCheck(path: string): Promise<(key: string) => boolean> {
  const store = await openDatabase({ kind: 'sqlite', path });
  const dataVersion = store.externalChanges;
  if (dataVersion === undefined) throw new Error('SQLite has a data_version');
  const tags = new FastHmac();
  let lastTag = '';
  let lastVersion = -1;
  return (key) => {
    const tag = tags.tag(key);
    const version = dataVersion();
    const unchanged = tag === lastTag && version === lastVersion;
    lastTag = tag;
    lastVersion = version;
    return unchanged;
  };
}

runChild(async () => {
  const floorDatabase = process.env.BENCH_FLOOR_DATABASE;
  const check = floorDatabase === undefined ? undefined : await exactWarmCheck(floorDatabase);
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
