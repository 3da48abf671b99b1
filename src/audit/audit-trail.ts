import { Forbidden, InvalidInput } from '../errors.js';
import { decodeCursor, encodeCursor, validLimit, validTimestamp } from '../list-query.js';
import type { AuditRepository } from '../store/audit-repository.js';
import { actsForAnyone, type Actor } from './actor.js';
import { AUDIT_ACTIONS, type AuditAction, type AuditEvent, type AuditQuery } from './audit-event.js';

// Reading the audit trail, and forgetting it once it is old. Events are written by KeyChanges,
// with the changes they record.

const DAY_MS = 24 * 60 * 60 * 1000;

/** What a reader asks, as a query string or a command line gives it. */
export interface AuditRequest {
  keyId?: unknown;
  userId?: unknown;
  action?: unknown;
  since?: unknown;
  until?: unknown;
  limit?: unknown;
  cursor?: unknown;
}

export interface AuditPage {
  events: AuditEvent[];
  /** Where the next page starts; null: this was the last. */
  nextCursor: string | null;
}

export class AuditTrail {
  constructor(
    private readonly repository: AuditRepository,
    /** How long events are kept, in days; 0: for ever. */
    private readonly retentionDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The events `request` selects, newest first. A user reads the events about their own keys
   * only (asking for another user's is refused); an admin, the CLI, anyone's.
   */
  async find(actor: Actor, request: AuditRequest): Promise<AuditPage> {
    const query: AuditQuery = { limit: validLimit(request.limit) };
    if (request.userId !== undefined) query.ownerId = text(request.userId, 'user_id');
    if (!actsForAnyone(actor)) {
      if (query.ownerId !== undefined && query.ownerId !== actor.id) {
        throw new Forbidden("Only an admin may read the audit events of other users' keys");
      }
      query.ownerId = actor.id;
    }
    if (request.keyId !== undefined) query.keyId = text(request.keyId, 'key_id');
    if (request.action !== undefined) query.action = validAction(request.action);
    if (request.since !== undefined) query.since = validTimestamp(request.since, 'since');
    if (request.until !== undefined) query.until = validTimestamp(request.until, 'until');
    if (request.cursor !== undefined) {
      const [occurredAt, eventId] = decodeCursor(request.cursor, 2);
      query.after = { occurredAt: occurredAt!, eventId: eventId! };
    }
    const events = await this.repository.find(query);
    const last = events.length === query.limit ? events[events.length - 1] : undefined;
    return { events, nextCursor: last ? encodeCursor([last.occurredAt, last.eventId]) : null };
  }

  /** Deletes the events older than the retention allows; how many. */
  async purge(): Promise<number> {
    if (this.retentionDays === 0) return 0;
    return this.repository.purgeBefore(new Date(this.now().getTime() - this.retentionDays * DAY_MS).toISOString());
  }
}

function text(raw: unknown, field: string): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 255) {
    throw new InvalidInput(field, 'Input should be a string of 1 to 255 characters', 'string_type');
  }
  return raw;
}

function validAction(raw: unknown): AuditAction {
  if (typeof raw !== 'string' || !(AUDIT_ACTIONS as readonly string[]).includes(raw)) {
    throw new InvalidInput('action', `Input should be one of ${AUDIT_ACTIONS.join(', ')}`, 'enum');
  }
  return raw as AuditAction;
}
