import type { FastifyInstance } from 'fastify';
import type { ApiKeyService, ApiKeyView, CreateKeyInput, KeyDetails } from '../keys/api-key-service.js';
import { closedObject, settingsDocument, SETTINGS_FIELDS } from '../keys/key-settings.js';
import type { ExchangeTokens } from '../tokens/exchange-tokens.js';
import type { UserTokenVerifier } from '../tokens/user-tokens.js';
import { requireBearerUser } from './authenticate.js';
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

const keyIdParams = {
  type: 'object',
  required: ['key_id'],
  properties: { key_id: { type: 'string', title: 'Key Id', maxLength: 64 } },
} as const;

const tags = ['API Keys'];
const security = [{ [BEARER_SCHEME]: [] }];

interface CreateBody extends Record<string, unknown> {
  name?: unknown;
  expires_days?: unknown;
  environment?: unknown;
}

/**
 * What a create body may hold: a misspelt setting ("quotas", "stauts") must not make a key with
 * none, so anything else is refused, as PATCH and rotate refuse theirs.
 */
const CREATE_FIELDS = ['name', 'expires_days', 'environment', ...SETTINGS_FIELDS];

/** PATCH's body may also be sent as what it is, a JSON merge patch (RFC 7396). */
const MERGE_PATCH = 'application/merge-patch+json';

export function apiKeyRoutes(
  service: ApiKeyService,
  users: UserTokenVerifier,
  exchange: ExchangeTokens,
  rateLimit?: RateLimitHook,
) {
  return async (app: FastifyInstance): Promise<void> => {
    app.decorateRequest('caller', null as never);
    app.addContentTypeParser(MERGE_PATCH, { parseAs: 'string' }, app.getDefaultJsonParser('error', 'error'));
    app.addHook('onRequest', requireBearerUser(users, exchange));
    // Per user, so after the bearer hook; still before the body is read.
    if (rateLimit !== undefined) app.addHook('onRequest', rateLimit);

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
        const issued = await service.create(request.caller.userId, input);
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

    app.delete<{ Params: { key_id: string } }>(
      '/api/v1/api-keys/:key_id',
      {
        schema: {
          operationId: 'revoke_api_key_api_v1_api_keys_key_id_delete',
          summary: 'Revoke Api Key',
          description:
            'Permanently deletes the API key; clients using it lose access at once. ' +
            'A key that does not exist or is not yours is left alone, with the same answer.',
          tags,
          security,
          params: keyIdParams,
          response: contractResponses({ 204: { description: 'Successful Response', type: 'null' } }),
        },
      },
      async (request, reply) => {
        await service.revoke(request.caller.userId, request.params.key_id);
        return reply.code(204).send();
      },
    );

    app.get<{ Params: { key_id: string } }>(
      '/api/v1/api-keys/:key_id',
      {
        schema: {
          operationId: 'get_api_key',
          summary: 'Get Api Key',
          description: 'One of your keys in full: settings, quota left and next refill, a grace in progress. Never the key itself.',
          tags,
          security,
          params: keyIdParams,
          response: contractResponses({
            200: { description: 'Successful Response', $ref: 'APIKeyDetails#' },
            404: { description: 'Not Found - no such key for the current user', $ref: 'ErrorResponse#' },
          }),
        },
      },
      async (request) => detailsResponse(await service.get(request.caller.userId, request.params.key_id)),
    );

    app.patch<{ Params: { key_id: string }; Body: unknown }>(
      '/api/v1/api-keys/:key_id',
      {
        schema: {
          operationId: 'update_api_key',
          summary: 'Update Api Key',
          description:
            'Changes name, expires_at, scopes, metadata, status, rate_limit or quota, as a JSON merge patch (RFC 7396; ' +
            `Content-Type ${MERGE_PATCH} or application/json). In force at the very next verification, on every instance.`,
          tags,
          security,
          params: keyIdParams,
          // Checked by the domain after the merge, as a whole: a patch is valid when its result is.
          body: { type: 'object' },
          response: contractResponses({
            200: { description: 'Successful Response', $ref: 'APIKeyDetails#' },
            404: { description: 'Not Found - no such key for the current user', $ref: 'ErrorResponse#' },
            409: { description: 'Conflict - the key changed concurrently; read it and retry', $ref: 'ErrorResponse#' },
          }),
        },
        config: { documentedBody: { $ref: 'UpdateAPIKeyRequest#' } },
      },
      async (request) => detailsResponse(await service.update(request.caller.userId, request.params.key_id, request.body)),
    );

    app.post<{ Params: { key_id: string }; Body: { grace_seconds?: unknown } | undefined }>(
      '/api/v1/api-keys/:key_id/rotate',
      {
        schema: {
          operationId: 'rotate_api_key_api_v1_api_keys_key_id_rotate_post',
          summary: 'Rotate Api Key',
          description:
            'Issues a new key under the same key_id; the old key stops working at once, or with ' +
            '`{"grace_seconds": N}` once N seconds have passed.',
          tags,
          security,
          params: keyIdParams,
          response: contractResponses({
            200: { description: 'Successful Response', $ref: 'RotateAPIKeyResponse#' },
            404: { description: 'Not Found - no such key for the current user', $ref: 'ErrorResponse#' },
            409: { description: 'Conflict - a concurrent rotation or revoke of this key won; this one changed nothing', $ref: 'ErrorResponse#' },
          }),
        },
        config: { documentedBody: { $ref: 'RotateAPIKeyRequest#' } },
      },
      async (request, reply) => {
        // A misspelt grace_seconds must not rotate with no grace at all, killing the old key at once.
        const body = closedObject(request.body === undefined ? {} : request.body, [], ['grace_seconds']);
        const rotated = await service.rotate(request.caller.userId, request.params.key_id, { graceSeconds: body.grace_seconds });
        reply.header('cache-control', 'no-store'); // the new key in clear, as on create
        return { key_id: rotated.keyId, new_api_key: rotated.apiKey, message: ROTATED_MESSAGE };
      },
    );
  };
}

function keyResponse(key: ApiKeyView) {
  return { key_id: key.keyId, name: key.name, created: key.created, expires_at: key.expiresAt, last_used: key.lastUsed };
}

function detailsResponse(key: KeyDetails) {
  const { quota, ...settings } = settingsDocument(key.settings);
  return {
    ...keyResponse(key),
    user_id: key.userId,
    environment: key.environment,
    ...settings,
    quota: quota && { ...quota, next_refill_at: key.nextRefillAt },
    previous_key_expires_at: key.previousKeyExpiresAt,
  };
}
