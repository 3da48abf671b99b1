import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden } from '../errors.js';
import type { ApiKeyService } from '../keys/api-key-service.js';
import { ENVIRONMENTS } from '../keys/format.js';
import { closedObject, KEY_STATUSES } from '../keys/key-settings.js';
import type { UsageHistory } from '../keys/usage-history.js';
import type { KeyChanges } from '../keys/key-changes.js';
import { detailsResponse, issuedKeyResponse } from '../wire-format.js';
import { callerActor } from './actor.js';
import type { CallerAuthentication } from './authenticate.js';
import { CREATE_FIELDS, managementContext, oneKeyRoutes, security, type OneKeyRoutes } from './api-keys-routes.js';
import { closedQuery } from './query.js';
import type { RateLimitHook } from './rate-limits.js';
import { contractResponses, CREATED_MESSAGE, pagedListing } from './schemas.js';

// Every user's keys, for a user token that carries the admin scope: list them, create one for any
// user_id (a service account is just a user id), and GET, PATCH, rotate, revoke and read the usage
// of any of them.
// Every other caller gets 403 on every route here, and the attempt is audited.

const tags = ['Admin'];
const BASE = '/api/v1/admin/api-keys';

const ADMIN_ROUTES: OneKeyRoutes = {
  base: BASE,
  actor: 'admin',
  operationIds: {
    get: 'admin_get_api_key',
    update: 'admin_update_api_key',
    rotate: 'admin_rotate_api_key',
    revoke: 'admin_revoke_api_key',
    usage: 'admin_get_api_key_usage',
  },
  tags,
  whose: 'Any user\'s key (admins only)',
  revokeNote: 'Admins only. A key that does not exist is left alone, with the same answer.',
};

const LISTING = pagedListing(
  { title: 'APIKeyPage', items: 'keys', itemSchema: 'APIKeyDetails', what: 'Keys' },
  {
    user_id: { type: 'string' },
    status: { type: 'string', enum: [...KEY_STATUSES] },
    environment: { type: 'string', enum: [...ENVIRONMENTS] },
  },
);


export function adminRoutes(
  service: ApiKeyService,
  usage: UsageHistory,
  authentication: CallerAuthentication,
  changes: Pick<KeyChanges, 'refused'>,
  adminScope: string,
  rateLimit?: RateLimitHook,
) {
  return async (app: FastifyInstance): Promise<void> => {
    managementContext(app, authentication, rateLimit);
    app.addHook('onRequest', requireAdmin(changes, adminScope));

    app.get(
      BASE,
      {
        schema: {
          operationId: 'admin_list_api_keys',
          summary: 'List Every Api Key',
          description:
            "Every user's keys, newest first, metadata only (never a key or a hash), filtered by user_id, status and " +
            'environment; `limit` per page (default 50, at most 500), the next page from `next_cursor`.',
          tags,
          security,
          querystring: LISTING.querystring,
          response: contractResponses({ 200: LISTING.response }),
        },
      },
      async (request) => {
        const { user_id, status, environment, limit, cursor } = closedQuery(request.query, LISTING.parameters);
        const page = await service.listAll(callerActor(request, 'admin'), { userId: user_id, status, environment, limit, cursor });
        return { keys: page.keys.map(detailsResponse), next_cursor: page.nextCursor };
      },
    );

    app.post<{ Body: Record<string, unknown> }>(
      BASE,
      {
        schema: {
          operationId: 'admin_create_api_key',
          summary: 'Create Api Key For A User',
          description: 'Creates a key for `user_id` (any user, or a service account): the key is returned once, in this response.',
          tags,
          security,
          body: { type: 'object' },
          response: contractResponses({
            201: { description: 'Successful Response', $ref: 'IssuedAPIKey#' },
            400: { description: 'Bad Request - the user already holds the maximum number of keys', $ref: 'ErrorResponse#' },
          }),
        },
        config: { documentedBody: { $ref: 'AdminCreateAPIKeyRequest#' } },
      },
      async (request, reply) => {
        const body = closedObject(request.body, [], ['user_id', ...CREATE_FIELDS]);
        const issued = await service.create(callerActor(request, 'admin'), {
          userId: body.user_id,
          name: body.name,
          expiresDays: body.expires_days,
          environment: body.environment,
          settings: body,
        });
        return reply.code(201).header('cache-control', 'no-store').send({ ...issuedKeyResponse(issued), message: CREATED_MESSAGE });
      },
    );

    oneKeyRoutes(app, service, usage, ADMIN_ROUTES);
  };
}

/** Admins only: anyone else is refused, and the attempt audited (with the route it was at). */
function requireAdmin(changes: Pick<KeyChanges, 'refused'>, adminScope: string) {
  return async (request: FastifyRequest): Promise<void> => {
    if (request.caller.admin) return;
    await changes.refused(callerActor(request), {
      action: 'admin.access',
      keyId: null,
      ownerId: null,
      detail: { reason: 'not_admin', method: request.method, route: request.routeOptions.url },
    });
    throw new Forbidden(`This route is for admins: the token lacks the scope "${adminScope}"`, { missingScope: adminScope });
  };
}
