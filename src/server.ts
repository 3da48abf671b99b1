import { randomBytes } from 'node:crypto';
import { createServer, ServerResponse, type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders } from 'node:http';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerFactory,
} from 'fastify';
import type { Keygate } from './app.js';
import type { HttpTimeouts } from './config.js';
import { Unavailable } from './errors.js';
import { adminRoutes } from './http/admin-routes.js';
import { apiKeyRoutes } from './http/api-keys-routes.js';
import { auditRoutes } from './http/audit-routes.js';
import { dashboardRoutes } from './http/dashboard-routes.js';
import { sessionRoutes } from './http/session-routes.js';
import { tokenRoutes } from './http/token-routes.js';
import { forwardAuthRoutes } from './http/forward-auth-routes.js';
import { leaksRoute } from './http/leaks-route.js';
import { oidcRoutes, oidcSignInParts } from './http/oidc-routes.js';
import { setSessionCookie } from './http/session-cookie.js';
import { selfRevokeRoute } from './http/self-revoke-route.js';
import { verifyRoutes } from './http/verify-routes.js';
import { answerClientError, installErrorHandling } from './http/errors.js';
import { acceptEmptyJsonBodies } from './http/json-body.js';
import { installRateLimits } from './http/rate-limits.js';
import { urlRedactor } from './http/redact-url.js';
import { BEARER_SCHEME, registerContractSchemas } from './http/schemas.js';
import { pingDatabase } from './store/database.js';

// No endpoint takes more than a small JSON object (but leak reports, under their own limit):
// anything larger is refused with 413.
const BODY_LIMIT_BYTES = 16 * 1024;

/**
 * The HTTP server, bounded against slow clients (slowloris), with what must happen before
 * Fastify sees a request done in one plain function rather than in hooks that every route,
 * the hot path included, would run:
 * - RFC 9112 section 3.2: an HTTP/1.1 request without Host is a 400 with a detail (Node's own
 *   refusal has no body, so it is turned off);
 * - once closing has begun (the server no longer listens), every answer is the last on its
 *   connection (Connection: close, and Node closes it after the answer), so that a connection
 *   whose request was in flight does not idle on into the grace period. Decided when the answer
 *   starts, in writeHead, since a request in flight arrived while the server still listened.
 */
function serverFactory(timeouts: HttpTimeouts): FastifyServerFactory {
  return (handler) => {
    class LastWhenClosing extends ServerResponse {
      override writeHead(statusCode: number, message?: string | OutgoingHttpHeaders | OutgoingHttpHeader[], headers?: OutgoingHttpHeaders | OutgoingHttpHeader[]): this {
        if (!server.listening) this.shouldKeepAlive = false;
        // Either of writeHead's two forms, passed on as it came.
        return super.writeHead(statusCode, message as string | undefined, headers);
      }
    }
    const server = createServer(
      {
        ServerResponse: LastWhenClosing,
        requestTimeout: timeouts.requestTimeoutMs,
        headersTimeout: timeouts.headersTimeoutMs,
        keepAliveTimeout: timeouts.keepAliveTimeoutMs,
        // Node looks for expired requests only this often (30 s by default). A quarter of the
        // shorter timeout (the config keeps the headers one shorter) cuts a slow client within
        // 1.25 times its timeout.
        connectionsCheckingInterval: Math.max(25, Math.floor(timeouts.headersTimeoutMs / 4)),
        requireHostHeader: false,
      },
      (request, response) => {
        if (request.headers.host === undefined && request.httpVersion === '1.1') {
          const body = JSON.stringify({ detail: 'The Host header is missing' });
          response.writeHead(400, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
          response.end(request.method === 'HEAD' ? undefined : body);
          return;
        }
        handler(request, response);
      },
    );
    return server;
  };
}

/**
 * Stops accepting, closes idle connections at once and waits for the requests in flight, for at
 * most `graceMs`; then every connection left is closed. Without that a client that never
 * finishes its request would hold the shutdown forever: Node stops enforcing request timeouts
 * once the server is closing.
 */
export async function closeGracefully(app: FastifyInstance, graceMs: number): Promise<void> {
  const cutoff = setTimeout(() => {
    app.log.warn({ graceMs }, 'shutdown grace period over: closing the connections still open');
    app.server.closeAllConnections();
  }, graceMs);
  try {
    await app.close();
  } finally {
    clearTimeout(cutoff);
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

/** A request id a proxy gave that is safe to keep (in logs and the audit trail). */
const GIVEN_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * Request ids: behind a trusted proxy, the X-Request-Id it sends (so that a trace spans the proxy
 * and keygate), unless it could be a key sent in the wrong header; otherwise this process's own,
 * a random prefix and a counter (unique across instances and restarts, with no random draw per
 * request on the hot path).
 */
function requestIds(trustProxy: boolean | string, keyPrefixes: readonly string[]): (request: IncomingMessage) => string {
  const prefix = randomBytes(6).toString('base64url');
  let next = 0;
  const own = () => `${prefix}-${(next++).toString(36)}`;
  if (trustProxy === false) return own;
  return (request) => {
    const given = request.headers['x-request-id'];
    const safe = typeof given === 'string' && GIVEN_REQUEST_ID.test(given) && !keyPrefixes.some((keyPrefix) => given.includes(keyPrefix));
    return safe ? given : own();
  };
}

/** How often the server looks for audit events and usage hours past their retention (and once at start). */
const PURGE_INTERVAL_MS = 60 * 60 * 1000;

/**
 * Every audit event as a log line too, for a log pipeline to ship; and the retention of the
 * trail and of the keys' usage history beside it (KEYGATE_AUDIT_RETENTION_DAYS for both), kept
 * by whichever servers run (each purge is idempotent, so several instances may). Each purge
 * reports for itself: one failing does not keep the other from running.
 */
function keepAuditTrail(app: FastifyInstance, keygate: Keygate): void {
  keygate.changes.onAuditEvent((event) => app.log.info({ audit: event }, `audit: ${event.action} ${event.outcome}`));
  const purgeOld = (what: string, purge: () => Promise<number>) =>
    void purge().then(
      (purged) => purged > 0 && app.log.info({ purged }, `audit: ${what} past their retention purged`),
      (error: unknown) => app.log.error({ err: error }, `audit: purging old ${what} failed`),
    );
  const purge = () => {
    purgeOld('events', () => keygate.audit.purge());
    purgeOld('usage hours', () => keygate.usage.purge());
  };
  const purging = setInterval(purge, PURGE_INTERVAL_MS).unref();
  app.addHook('onReady', async () => purge());
  app.addHook('onClose', () => clearInterval(purging));
}

export async function buildServer(keygate: Keygate): Promise<FastifyInstance> {
  const { config } = keygate;
  const redactUrl = urlRedactor([config.keyPrefixes.live, config.keyPrefixes.test]);
  const app = Fastify({
    // Silent means no logger at all: Fastify then makes no child logger per request either.
    logger:
      config.logLevel === 'silent'
        ? false
        : {
            level: config.logLevel,
            redact: {
              paths: ['req.headers.authorization', 'req.headers["x-api-key"]', 'req.headers.cookie', 'req.headers["x-csrf-token"]'],
              censor: '[redacted]',
            },
            // Fastify's own, with the URL redacted: clients do put keys in query strings and paths.
            serializers: {
              req: (request: FastifyRequest) => ({
                method: request.method,
                url: redactUrl(request.url),
                host: request.host,
                remoteAddress: request.ip,
                remotePort: request.socket.remotePort,
              }),
            },
          },
    bodyLimit: BODY_LIMIT_BYTES,
    genReqId: requestIds(config.trustProxy, [config.keyPrefixes.live, config.keyPrefixes.test]),
    // Behind a load balancer, rate limits per client address need the address it forwards.
    trustProxy: config.trustProxy,
    routerOptions: { ignoreTrailingSlash: true },
    // allErrors: report every bad field at once, as FastAPI does; no type coercion: "365" is not a number.
    ajv: { customOptions: { allErrors: true, coerceTypes: false } },
    clientErrorHandler: answerClientError,
    frameworkErrors: answerUnroutableUrl,
    serverFactory: serverFactory(config.http),
    // Requests that arrive while closing are served (with Connection: close) during the grace
    // period, rather than refused with Fastify's 503, whose body has no `detail`.
    return503OnClosing: false,
  });

  acceptEmptyJsonBodies(app);
  installErrorHandling(app, redactUrl);
  keepAuditTrail(app, keygate);
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
  const rateLimits = await installRateLimits(app, config, keygate.metrics.rateLimits, (presented) =>
    keygate.verifier.authenticKeyId(presented),
  );
  const authentication = { users: keygate.users, exchange: keygate.exchange, sessions: keygate.sessions };
  await app.register(apiKeyRoutes(keygate.apiKeys, keygate.usage, authentication, rateLimits.manage));
  await app.register(adminRoutes(keygate.apiKeys, keygate.usage, authentication, keygate.changes, config.adminScope, rateLimits.manage));
  await app.register(auditRoutes(keygate.audit, authentication, rateLimits.manage));
  const { accounts, sessions, refreshTokens, users, userTokenSecret } = keygate;
  const oidcSignIn = oidcSignInParts(config, userTokenSecret, async (request, reply, identity) => setSessionCookie(request, reply, await sessions.start(identity)));
  await app.register(sessionRoutes({ accounts, sessions, settings: config.signIn, adminScope: config.adminScope, oidc: oidcSignIn !== undefined, rateLimit: rateLimits.signIn }));
  await app.register(tokenRoutes({ accounts, refreshTokens, users, settings: config.signIn, userTokenSecret, rateLimit: rateLimits.signIn }));
  await app.register(oidcRoutes(oidcSignIn, rateLimits.signIn));
  const verificationLimits = { hook: rateLimits.verify, perKey: rateLimits.perKey };
  await app.register(verifyRoutes(keygate.verifier, keygate.exchange, verificationLimits));
  await app.register(forwardAuthRoutes(keygate.verifier, keygate.exchange, verificationLimits));
  await app.register(selfRevokeRoute(keygate.verifier, keygate.apiKeys, rateLimits.verify));
  await app.register(leaksRoute(config.leaks, keygate.verifier, keygate.apiKeys, rateLimits.verify));
  await app.register(dashboardRoutes());
  return app;
}
