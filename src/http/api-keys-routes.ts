import type { FastifyInstance } from 'fastify';
import type { ApiKeyService, CreateKeyInput } from '../keys/api-key-service.js';
import { GRANULARITIES, MAX_BUCKETS, type KeyUsage, type UsageHistory } from '../keys/usage-history.js';
import { closedObject, SETTINGS_FIELDS } from '../keys/key-settings.js';
import { detailsResponse, keyResponse } from '../wire-format.js';
import { callerActor } from './actor.js';
import { requireBearerUser, type CallerAuthentication } from './authenticate.js';
import { closedQuery } from './query.js';
import type { RateLimitHook } from './rate-limits.js';
import {
  BEARER_SCHEME,
  contractResponses,
  createBodyDocumentation,
  createBodyValidation,
  CREATED_MESSAGE,
  isEmbeddedCreateBody,
  ROTATED_MESSAGE,
} from './schemas.js';

// The seed's four endpoints, and GET and PATCH of one key. Paths end in a slash as in the seed;
// the router also accepts them without it. operationIds are the seed's: generated clients name
// methods after them. The seed's four keep its request and response shapes field for field (the
// Go client refuses unknown fields); what keys gained is optional on the way in (create's
// settings, rotate's grace) and shown only by the new endpoints.

export const keyIdParams = {
  type: 'object',
  required: ['key_id'],
  properties: { key_id: { type: 'string', title: 'Key Id', maxLength: 64 } },
} as const;

const tags = ['API Keys'];
export const security = [{ [BEARER_SCHEME]: [] }];

interface CreateBody extends Record<string, unknown> {
  name?: unknown;
  expires_days?: unknown;
  environment?: unknown;
}

/**
 * What a create body may hold: a misspelt setting ("quotas", "stauts") must not make a key with
 * none, so anything else is refused, as PATCH and rotate refuse theirs.
 */
export const CREATE_FIELDS = ['name', 'expires_days', 'environment', ...SETTINGS_FIELDS];

/** PATCH's body may also be sent as what it is, a JSON merge patch (RFC 7396). */
const MERGE_PATCH = 'application/merge-patch+json';

/**
 * What every route that manages keys shares, in its encapsulated context: a bearer user token (or
 * a browser session) on every request, the per-user rate limit, and PATCH's merge-patch body.
 */
export function managementContext(app: FastifyInstance, authentication: CallerAuthentication, rateLimit?: RateLimitHook): void {
  app.decorateRequest('caller', null as never);
  app.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
  app.addHook('onRequest', requireBearerUser(authentication));
  // Per user, so after the bearer hook; still before the body is read.
  if (rateLimit !== undefined) app.addHook('onRequest', rateLimit);
}

export function apiKeyRoutes(
  service: ApiKeyService,
  usage: UsageHistory,
  authentication: CallerAuthentication,
  rateLimit?: RateLimitHook,
) {
  return async (app: FastifyInstance): Promise<void> => {
    managementContext(app, authentication, rateLimit);

    app.post<{ Body: CreateBody | { request: CreateBody } }>(
      '/api/v1/api-keys/',
      {
        schema: {
          operationId: 'create_api_key_api_v1_api_keys_post',
          summary: 'Create Api Key',
          description:
            'Create a new API key for the current user. The key is returned once, in this response. ' +
            'The body is embedded under `request` as documented; the flat shape of the seed\'s example, ' +
            '`{"name": ..., "expires_days": ...}`, is accepted too.',
          tags,
          security,
          body: createBodyValidation,
          response: contractResponses({
            201: { description: 'Successful Response', $ref: 'CreateAPIKeyResponse#' },
            400: { description: 'Bad Request - the user already holds the maximum number of keys', $ref: 'ErrorResponse#' },
          }),
        },
        config: { documentedBody: createBodyDocumentation },
      },
      async (request, reply) => {
        const body = isEmbeddedCreateBody(request.body) ? (request.body.request as CreateBody) : request.body;
        closedObject(body, [], CREATE_FIELDS);
        const input: CreateKeyInput = { name: body.name, expiresDays: body.expires_days, environment: body.environment, settings: body };
        const issued = await service.create(callerActor(request), input);
        // The key in clear: no cache, a browser's or a proxy's, may keep this answer.
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ ...keyResponse(issued), api_key: issued.apiKey, message: CREATED_MESSAGE });
      },
    );

    app.get(
      '/api/v1/api-keys/',
      {
        schema: {
          operationId: 'list_api_keys_api_v1_api_keys_get',
          summary: 'List Api Keys',
          description: 'List the current user\'s API keys, newest first: metadata only, never the key.',
          tags,
          security,
          response: contractResponses({
            200: { description: 'Successful Response', type: 'array', items: { $ref: 'APIKeyResponse#' } },
          }),
        },
      },
      async (request) => (await service.list(request.caller.userId)).map(keyResponse),
    );

    oneKeyRoutes(app, service, usage, USER_ROUTES);
  };
}

/** Where one key's routes live, and who acts through them. */
export interface OneKeyRoutes {
  base: string;
  actor: 'user' | 'admin';
  operationIds: Record<'get' | 'update' | 'rotate' | 'revoke' | 'usage', string>;
  tags: string[];
  /** Whose key the routes reach, as their descriptions say it. */
  whose: string;
  revokeNote: string;
}

const USER_ROUTES: OneKeyRoutes = {
  base: '/api/v1/api-keys',
  actor: 'user',
  // The seed's own, and keygate's for the two it does not have.
  operationIds: {
    get: 'get_api_key',
    update: 'update_api_key',
    rotate: 'rotate_api_key_api_v1_api_keys_key_id_rotate_post',
    revoke: 'revoke_api_key_api_v1_api_keys_key_id_delete',
    usage: 'get_api_key_usage',
  },
  tags,
  whose: 'One of your keys',
  revokeNote: 'A key that does not exist or is not yours is left alone, with the same answer.',
};

const USAGE_PARAMETERS = ['from', 'to', 'granularity'];

type UsageQuerystring = Partial<Record<(typeof USAGE_PARAMETERS)[number], string>>;

/**
 * GET, PATCH, rotate and DELETE of one key, and its usage: the user's routes on their own keys,
 * and the admin routes, the same on anyone's (the service decides what each actor reaches).
 */
export function oneKeyRoutes(app: FastifyInstance, service: ApiKeyService, usage: UsageHistory, routes: OneKeyRoutes): void {
  app.delete<{ Params: { key_id: string } }>(
    `${routes.base}/:key_id`,
    {
      schema: {
        operationId: routes.operationIds.revoke,
        summary: 'Revoke Api Key',
        description:
          'Permanently deletes the API key; clients using it lose access at once. ' +
          routes.revokeNote,
        tags: routes.tags,
        security,
        params: keyIdParams,
        response: contractResponses({ 204: { description: 'Successful Response', type: 'null' } }),
      },
    },
    async (request, reply) => {
      await service.revoke(callerActor(request, routes.actor), request.params.key_id);
      return reply.code(204).send();
    },
  );

  app.get<{ Params: { key_id: string } }>(
    `${routes.base}/:key_id`,
    {
      schema: {
        operationId: routes.operationIds.get,
        summary: 'Get Api Key',
        description: `${routes.whose} in full: settings, quota left and next refill, a grace in progress. Never the key itself.`,
        tags: routes.tags,
        security,
        params: keyIdParams,
        response: contractResponses({
          200: { description: 'Successful Response', $ref: 'APIKeyDetails#' },
          404: { description: 'Not Found - no such key for the caller', $ref: 'ErrorResponse#' },
        }),
      },
    },
    async (request) => detailsResponse(await service.get(callerActor(request, routes.actor), request.params.key_id)),
  );

  app.get<{ Params: { key_id: string }; Querystring: UsageQuerystring }>(
    `${routes.base}/:key_id/usage`,
    {
      schema: {
        operationId: routes.operationIds.usage,
        summary: 'Get Api Key Usage',
        description:
          `${routes.whose}: its verifications per UTC hour or day, valid and refused, every bucket from \`from\` (inclusive, ` +
          'moved back to the start of its bucket) to `to` (exclusive, moved on to the end of its bucket), zeros included. ' +
          `By default \`to\` is now and \`from\` 24 hours before (hour) or 30 days (day); at most ${MAX_BUCKETS} buckets. ` +
          'Counts are written behind: a verification shows once KEYGATE_LAST_USED_FLUSH_MS (default 2 s) has passed.',
        tags: routes.tags,
        security,
        params: keyIdParams,
        // No additionalProperties: false (Fastify's validator would drop the rest, so a misspelt
        // parameter would go unnoticed): the handler refuses them.
        querystring: {
          type: 'object',
          properties: {
            from: { type: 'string', format: 'date-time', description: 'RFC 3339; inclusive.' },
            to: { type: 'string', format: 'date-time', description: 'RFC 3339; exclusive. Default: now.' },
            granularity: { type: 'string', enum: [...GRANULARITIES], default: 'hour' },
          },
        },
        response: contractResponses({
          200: { description: 'Successful Response', $ref: 'KeyUsage#' },
          404: { description: 'Not Found - no such key for the caller', $ref: 'ErrorResponse#' },
        }),
      },
    },
    async (request) => {
      const query = closedQuery(request.query, USAGE_PARAMETERS) as UsageQuerystring;
      return usageResponse(await usage.of(callerActor(request, routes.actor), request.params.key_id, query));
    },
  );

  app.patch<{ Params: { key_id: string }; Body: unknown }>(
    `${routes.base}/:key_id`,
    {
      schema: {
        operationId: routes.operationIds.update,
        summary: 'Update Api Key',
        description:
          'Changes name, expires_at, scopes, metadata, status, rate_limit or quota, as a JSON merge patch (RFC 7396; ' +
          `Content-Type ${MERGE_PATCH} or application/json). In force at the very next verification, on every instance.`,
        tags: routes.tags,
        security,
        params: keyIdParams,
        // Checked by the domain after the merge, as a whole: a patch is valid when its result is.
        body: { type: 'object' },
        response: contractResponses({
          200: { description: 'Successful Response', $ref: 'APIKeyDetails#' },
          404: { description: 'Not Found - no such key for the caller', $ref: 'ErrorResponse#' },
          409: { description: 'Conflict - the key changed concurrently; read it and retry', $ref: 'ErrorResponse#' },
        }),
      },
      config: { documentedBody: { $ref: 'UpdateAPIKeyRequest#' } },
    },
    async (request) => detailsResponse(await service.update(callerActor(request, routes.actor), request.params.key_id, request.body)),
  );

  app.post<{ Params: { key_id: string }; Body: { grace_seconds?: unknown } | undefined }>(
    `${routes.base}/:key_id/rotate`,
    {
      schema: {
        operationId: routes.operationIds.rotate,
        summary: 'Rotate Api Key',
        description:
          'Issues a new key under the same key_id; the old key stops working at once, or with ' +
          '`{"grace_seconds": N}` once N seconds have passed.',
        tags: routes.tags,
        security,
        params: keyIdParams,
        response: contractResponses({
          200: { description: 'Successful Response', $ref: 'RotateAPIKeyResponse#' },
          404: { description: 'Not Found - no such key for the caller', $ref: 'ErrorResponse#' },
          409: { description: 'Conflict - a concurrent rotation or revoke of this key won; this one changed nothing', $ref: 'ErrorResponse#' },
        }),
      },
      config: { documentedBody: { $ref: 'RotateAPIKeyRequest#' } },
    },
    async (request, reply) => {
      // A misspelt grace_seconds must not rotate with no grace at all, killing the old key at once.
      const body = closedObject(request.body === undefined ? {} : request.body, [], ['grace_seconds']);
      const rotated = await service.rotate(callerActor(request, routes.actor), request.params.key_id, { graceSeconds: body.grace_seconds });
      reply.header('cache-control', 'no-store'); // the new key in clear, as on create
      return { key_id: rotated.keyId, new_api_key: rotated.apiKey, message: ROTATED_MESSAGE };
    },
  );
}

function usageResponse(usage: KeyUsage) {
  return { key_id: usage.keyId, granularity: usage.granularity, from: usage.from, to: usage.to, series: usage.series, total: usage.total };
}
