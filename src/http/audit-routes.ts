import type { FastifyInstance } from 'fastify';
import { AUDIT_ACTIONS } from '../audit/audit-event.js';
import type { AuditTrail } from '../audit/audit-trail.js';
import { auditEventResponse } from '../wire-format.js';
import { callerActor } from './actor.js';
import type { CallerAuthentication } from './authenticate.js';
import { closedQuery } from './query.js';
import { managementContext, security } from './api-keys-routes.js';
import type { RateLimitHook } from './rate-limits.js';
import { contractResponses, pagedListing } from './schemas.js';

// The audit trail: a user reads the events about their own keys, an admin everyone's.

const LISTING = pagedListing(
  { title: 'AuditPage', items: 'events', itemSchema: 'AuditEvent', what: 'Events' },
  {
    key_id: { type: 'string' },
    user_id: { type: 'string' },
    action: { type: 'string', enum: [...AUDIT_ACTIONS] },
    since: { type: 'string', format: 'date-time' },
    until: { type: 'string', format: 'date-time' },
  },
);

export function auditRoutes(trail: AuditTrail, authentication: CallerAuthentication, rateLimit?: RateLimitHook) {
  return async (app: FastifyInstance): Promise<void> => {
    managementContext(app, authentication, rateLimit);

    app.get(
      '/api/v1/audit',
      {
        schema: {
          operationId: 'list_audit_events',
          summary: 'List Audit Events',
          description:
            'Changes to keys and refused attempts at them, newest first: yours (the events about your keys), or for an ' +
            'admin everyone\'s. Filters: key_id, user_id (the owner; admins only for another user), action, since ' +
            '(inclusive) and until (exclusive) as RFC 3339 times; `limit` per page (default 50, at most 500), the ' +
            'next page from `next_cursor`.',
          tags: ['Audit'],
          security,
          querystring: LISTING.querystring,
          response: contractResponses({ 200: LISTING.response }),
        },
      },
      async (request) => {
        const query = closedQuery(request.query, LISTING.parameters);
        const actor = callerActor(request, request.caller.admin ? 'admin' : 'user');
        const page = await trail.find(actor, {
          keyId: query.key_id,
          userId: query.user_id,
          action: query.action,
          since: query.since,
          until: query.until,
          limit: query.limit,
          cursor: query.cursor,
        });
        return { events: page.events.map(auditEventResponse), next_cursor: page.nextCursor };
      },
    );
  };
}
