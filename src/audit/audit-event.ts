import { randomUUID } from 'node:crypto';
import type { Actor, ActorType } from './actor.js';

// One entry of the audit trail, as the domain makes it and every reader gets it. It names keys
// by key_id and people by id, and holds the old and new values of the non-secret fields a change
// touched: never a key, a secret, a hash or a token (tests/audit.test.ts searches for them).

export const AUDIT_ACTIONS = [
  'key.created',
  'key.updated',
  'key.disabled',
  'key.enabled',
  'key.rotated',
  'key.revoked',
  'key.quota_refilled',
  'key.rehashed',
  /** Only refused: someone reading a key that is not theirs (successful reads are not changes). */
  'key.read',
  /** Only refused: a user without the admin scope on an admin route. */
  'admin.access',
] as const;
export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export type AuditOutcome = 'succeeded' | 'refused';

/** An event's id: a random UUID. */
export const EVENT_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The old and new value of each field a change touched. */
export type FieldChanges = Record<string, { old: unknown; new: unknown }>;

/** What a change tells about itself; KeyChanges adds who, when and from where. */
export interface AuditDraft {
  action: AuditAction;
  keyId: string | null;
  ownerId: string | null;
  outcome?: AuditOutcome;
  changes?: FieldChanges;
  detail?: Record<string, unknown>;
}

export interface AuditEvent {
  eventId: string;
  occurredAt: string;
  actor: { type: ActorType; id: string };
  action: AuditAction;
  outcome: AuditOutcome;
  keyId: string | null;
  ownerId: string | null;
  changes: FieldChanges;
  detail: Record<string, unknown>;
  clientAddress: string | null;
  userAgent: string | null;
  requestId: string | null;
}

export function auditEvent(draft: AuditDraft, actor: Actor, at: Date): AuditEvent {
  return {
    eventId: randomUUID(),
    occurredAt: at.toISOString(),
    actor: { type: actor.type, id: actor.id },
    action: draft.action,
    outcome: draft.outcome ?? 'succeeded',
    keyId: draft.keyId,
    ownerId: draft.ownerId,
    changes: draft.changes ?? {},
    detail: { ...actor.detail, ...draft.detail },
    clientAddress: actor.origin?.clientAddress ?? null,
    userAgent: actor.origin?.userAgent ?? null,
    requestId: actor.origin?.requestId ?? null,
  };
}

/**
 * The fields whose value differs between two documents of a key, old and new; a field absent
 * from one reads as null there (so a create shows every field new, a revoke every field gone).
 * `countWritten` false: the change did not set a quota's count, which verifications move on
 * their own meanwhile, so a difference in it is theirs, not the change's, and is left out.
 */
export function fieldChanges(before: Record<string, unknown> | null, after: Record<string, unknown> | null, countWritten = true): FieldChanges {
  if (!countWritten && before !== null && after !== null) before = { ...before, quota: withRemainingOf(before.quota, after.quota) };
  const changes: FieldChanges = {};
  for (const field of new Set([...Object.keys(before ?? {}), ...Object.keys(after ?? {})])) {
    const old = before?.[field] ?? null;
    const next = after?.[field] ?? null;
    if (JSON.stringify(old) !== JSON.stringify(next)) changes[field] = { old, new: next };
  }
  return changes;
}

/** `quota` with the count of `counted`, when both are quotas. */
function withRemainingOf(quota: unknown, counted: unknown): unknown {
  const isQuota = (value: unknown): value is { remaining: number } => typeof value === 'object' && value !== null && 'remaining' in value;
  return isQuota(quota) && isQuota(counted) ? { ...quota, remaining: counted.remaining } : quota;
}

/** Which events a reader asks for, checked (AuditTrail.find decides what they may read). */
export interface AuditQuery {
  keyId?: string;
  /** The owner of the keys the events are about. */
  ownerId?: string;
  action?: AuditAction;
  /** ISO-8601, inclusive. */
  since?: string;
  /** ISO-8601, exclusive. */
  until?: string;
  limit: number;
  /** Continue after this event (newest first). */
  after?: { occurredAt: string; eventId: string };
}
