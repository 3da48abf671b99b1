import { Forbidden, InvalidInput } from '../errors.js';
import type { KeyFormat } from '../keys/format.js';
import { decodeCursor, pageOf, validLimit } from '../list-query.js';
import { validChoice, validTimestamp, validUserId } from '../valid-input.js';
import type { AuditRepository } from '../store/audit-repository.js';
import { oversees, type Actor } from './actor.js';
import { AUDIT_ACTIONS, EVENT_ID, type AuditEvent, type AuditQuery } from './audit-event.js';

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
    /** What a key_id looks like: a filter or cursor of any other text is refused before a query. */
    private readonly format: Pick<KeyFormat, 'isKeyId'>,
    /** How long events are kept, in days; 0: for ever. */
    private readonly retentionDays: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /**
   * The events `request` selects, newest first. A user reads the events about their own keys
   * only (asking for another user's is refused); an admin, the CLI, anyone's.
   */
  async find(actor: Actor, request: AuditRequest): Promise<AuditPage> {
    const limit = validLimit(request.limit);
    // One more than asked: whether there is a next page.
    const query: AuditQuery = { limit: limit + 1 };
    if (request.userId !== undefined) query.ownerId = validUserId(request.userId);
    if (!oversees(actor)) {
      if (query.ownerId !== undefined && query.ownerId !== actor.id) {
        throw new Forbidden("Only an admin may read the audit events of other users' keys");
      }
      query.ownerId = actor.id;
    }
    if (request.keyId !== undefined) query.keyId = this.validKeyId(request.keyId);
    if (request.action !== undefined) query.action = validChoice(request.action, 'action', AUDIT_ACTIONS);
    if (request.since !== undefined) query.since = validTimestamp(request.since, 'since');
    if (request.until !== undefined) query.until = validTimestamp(request.until, 'until');
    if (request.cursor !== undefined) {
      const [occurredAt, eventId] = decodeCursor(request.cursor, (id) => EVENT_ID.test(id));
      query.after = { occurredAt, eventId };
    }
    const page = pageOf(await this.repository.find(query), limit, (event) => [event.occurredAt, event.eventId]);
    return { events: page.rows, nextCursor: page.nextCursor };
  }

  private validKeyId(raw: unknown): string {
    if (typeof raw === 'string' && this.format.isKeyId(raw)) return raw;
    throw new InvalidInput('key_id', 'Input should be a key_id, as create and list answer it', 'string_pattern_mismatch');
  }

  /** Deletes the events older than the retention allows; how many. */
  async purge(): Promise<number> {
    if (this.retentionDays === 0) return 0;
    return this.repository.purgeBefore(new Date(this.now().getTime() - this.retentionDays * DAY_MS).toISOString());
  }
}
