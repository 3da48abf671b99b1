import Fastify from 'fastify';
import { runChild, serveForBench } from './serve.js';

// (a) The ceiling: Fastify alone, the same route and the same answer as keygate's verify
// (same path, same X-API-Key header read, same response schema, so the same serializer work),
// minus the verification itself.

const answer = {
  valid: true,
  user_id: 'bench-user',
  key_id: '3xZ9kQ2mB7aV',
  name: 'bench key',
  expires_at: '2099-01-01T00:00:00.000Z',
};

runChild(async () => {
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
      if (typeof request.headers['x-api-key'] !== 'string') return reply.code(400).send({ detail: 'No API key' });
      return answer;
    },
  );
  await serveForBench(app, { keys: [], setupMs: 0 });
});
