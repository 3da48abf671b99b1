import type { Duplex } from 'node:stream';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, { type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Keygate } from './app.js';
import { Unavailable } from './errors.js';
import { apiKeyRoutes } from './http/api-keys-routes.js';
import { verifyRoutes } from './http/verify-routes.js';
import { installErrorHandling } from './http/errors.js';
import { acceptEmptyJsonBodies } from './http/json-body.js';
import { installRateLimits } from './http/rate-limits.js';
import { BEARER_SCHEME, registerContractSchemas } from './http/schemas.js';
import { pingDatabase } from './store/database.js';

// No endpoint takes more than a small JSON object: anything larger is refused with 413.
const BODY_LIMIT_BYTES = 16 * 1024;

/** Bytes that do not parse as HTTP never reach a route; they still get a JSON `detail`. */
function answerMalformedRequest(_error: Error, socket: Duplex): void {
  const body = JSON.stringify({ detail: 'Malformed HTTP request' });
  if (socket.writable) {
    socket.end(
      `HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}

/** URLs the router cannot take apart: bad percent-encoding, a parameter over 100 characters. */
function answerUnroutableUrl(error: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  const detail = error.code === 'FST_ERR_MAX_PARAM_LENGTH' ? 'A path parameter is too long' : 'The URL is not valid';
  reply.code(error.statusCode ?? 400).send({ detail });
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The body schema the OpenAPI document shows, where it differs from the one validated. */
    documentedBody?: unknown;
  }
}

export async function buildServer(keygate: Keygate): Promise<FastifyInstance> {
  const { config } = keygate;
  const app = Fastify({
    // Silent means no logger at all: Fastify then makes no child logger per request either.
    logger:
      config.logLevel === 'silent'
        ? false
        : { level: config.logLevel, redact: { paths: ['req.headers.authorization', 'req.headers["x-api-key"]'], censor: '[redacted]' } },
    bodyLimit: BODY_LIMIT_BYTES,
    // Behind a load balancer, rate limits per client address need the address it forwards.
    trustProxy: config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    // allErrors: report every bad field at once, as FastAPI does; no type coercion: "365" is not a number.
    ajv: { customOptions: { allErrors: true, coerceTypes: false } },
    clientErrorHandler: answerMalformedRequest,
    frameworkErrors: answerUnroutableUrl,
  });

  acceptEmptyJsonBodies(app);
  installErrorHandling(app);
  registerContractSchemas(app, config);

  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'keygate',
        version: '0.1.0',
        description: 'Create, list, rotate and revoke API keys for the current user.',
      },
      components: {
        securitySchemes: {
          [BEARER_SCHEME]: { type: 'http', scheme: 'bearer' },
          ApiKeyHeader: { type: 'apiKey', in: 'header', name: 'X-API-Key' },
        },
      },
    },
    // Components keep their own names (CreateAPIKeyRequest, ...) instead of def-0, def-1.
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) },
    transform: ({ schema, url, route }) => {
      const documentedBody = route.config?.documentedBody;
      return { schema: documentedBody ? { ...schema, body: documentedBody } : schema, url } as never;
    },
  });
  await app.register(swaggerUi, { routePrefix: '/docs' });

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  app.get('/healthz', { schema: { hide: true } }, async () => {
    // 503, not 500: a load balancer should take this instance out, not page anyone about a bug.
    await pingDatabase(keygate.db).catch((error: unknown) => {
      throw new Unavailable('The database does not answer', { cause: error, retryAfterSeconds: 5 });
    });
    return { status: 'ok' };
  });
  app.get('/metrics', { schema: { hide: true } }, async (_request, reply) => {
    reply.type(keygate.metrics.registry.contentType);
    return keygate.metrics.registry.metrics();
  });
  const rateLimits = await installRateLimits(app, config, keygate.metrics.rateLimits);
  await app.register(apiKeyRoutes(keygate.apiKeys, keygate.users, keygate.exchange, rateLimits.manage));
  await app.register(verifyRoutes(keygate.verifier, keygate.exchange, rateLimits.verify));
  return app;
}
