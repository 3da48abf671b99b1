import { isIP } from 'node:net';
import type { FastifyRequest } from 'fastify';
import type { Actor, ActorType, RequestOrigin } from '../audit/actor.js';

// Who a request acts as, for the key service and its audit trail.

/** What of a user agent the trail keeps: enough to recognise a client, not a place to store text. */
const USER_AGENT_MAX_LENGTH = 512;

export function originOf(request: FastifyRequest): RequestOrigin {
  const userAgent = request.headers['user-agent'];
  return {
    // Behind a trusted proxy request.ip is whatever X-Forwarded-For says: only an address is kept.
    clientAddress: isIP(request.ip) === 0 ? null : request.ip,
    userAgent: typeof userAgent === 'string' && userAgent !== '' ? userAgent.slice(0, USER_AGENT_MAX_LENGTH) : null,
    requestId: request.id,
  };
}

/** The authenticated caller (set by the bearer hook), acting as `type`: user on their own routes, admin on the admin ones. */
export function callerActor(request: FastifyRequest, type: Extract<ActorType, 'user' | 'admin'> = 'user'): Actor {
  return { type, id: request.caller.userId, origin: originOf(request) };
}
