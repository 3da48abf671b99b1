// Who makes a change, as the audit trail names them, and what the key service lets each touch.

export const ACTOR_TYPES = ['user', 'admin', 'cli', 'leak_report', 'key_holder', 'system'] as const;
export type ActorType = (typeof ACTOR_TYPES)[number];

/** Where a request came from; absent for the CLI and for keygate's own changes. */
export interface RequestOrigin {
  clientAddress: string | null;
  userAgent: string | null;
  requestId: string | null;
}

/**
 * Who acts:
 * - user: a user token's `sub`, on their own keys only;
 * - admin: a user token with the admin scope, on the admin routes, on anyone's keys;
 * - cli: the operator at the keygate CLI, named by their OS user, on anyone's keys;
 * - leak_report: a signed leak report (its source, e.g. github), on the keys it reports;
 * - key_holder: whoever presented a key's secret, on that key (self-revoke), named by its key_id;
 * - system: keygate itself (a quota's refill, a rehash).
 */
export interface Actor {
  type: ActorType;
  id: string;
  origin?: RequestOrigin;
  /**
   * What the actor acts on, in the detail of every event its change records (a leak report's
   * url, source and type), beside the change's own fields, which win a clash. Never a secret.
   */
  detail?: Record<string, unknown>;
}

/**
 * Whether `actor` oversees every user: lists anyone's keys, creates keys for any user_id, reads
 * the whole audit trail. Admins and the operator at the CLI only.
 */
export function oversees(actor: Actor): boolean {
  return actor.type === 'admin' || actor.type === 'cli';
}

/**
 * Whether `actor` may act on the key `keyId` of `ownerId`: a user on their own keys, a key's
 * holder on that key alone, a leak report on the keys it reports (its route passes only those),
 * keygate itself and whoever oversees on any.
 */
export function reaches(actor: Actor, key: { keyId: string; ownerId: string }): boolean {
  switch (actor.type) {
    case 'user':
      return key.ownerId === actor.id;
    case 'key_holder':
      return key.keyId === actor.id;
    case 'admin':
    case 'cli':
    case 'leak_report':
    case 'system':
      return true;
  }
}

/** keygate's own changes: a due quota refill, moving a key's hash to the configured scheme. */
export const SYSTEM: Actor = Object.freeze({ type: 'system', id: 'keygate' });

/** A user acting on their own keys. */
export function userActor(userId: string, origin?: RequestOrigin): Actor {
  return { type: 'user', id: userId, origin };
}
