import type { Selectable, Transaction } from 'kysely';
import type { AuditEvent, AuditQuery } from '../audit/audit-event.js';
import type { KeygateDb } from './database.js';
import type { AuditEventTable, Database } from './schema.js';

type AuditRow = Selectable<AuditEventTable>;

/** Events per statement of a purge: a long delete would hold SQLite's write lock for its whole length. */
const PURGE_BATCH = 5000;

/** Appends an event in the transaction of the change it records: both commit, or neither. */
export async function appendAuditEvent(trx: Transaction<Database> | KeygateDb, event: AuditEvent): Promise<void> {
  await trx.insertInto('audit_events').values(toRow(event)).execute();
}

export class AuditRepository {
  constructor(private readonly db: KeygateDb) {}

  /** An event with no change of its own to commit with (a refused attempt). */
  append(event: AuditEvent): Promise<void> {
    return appendAuditEvent(this.db, event);
  }

  /** Newest first, then by event_id, so that a cursor continues exactly where a page ended. */
  async find(query: AuditQuery): Promise<AuditEvent[]> {
    let select = this.db.selectFrom('audit_events').selectAll();
    if (query.keyId !== undefined) select = select.where('key_id', '=', query.keyId);
    if (query.ownerId !== undefined) select = select.where('owner_id', '=', query.ownerId);
    if (query.action !== undefined) select = select.where('action', '=', query.action);
    if (query.since !== undefined) select = select.where('occurred_at', '>=', query.since);
    if (query.until !== undefined) select = select.where('occurred_at', '<', query.until);
    const after = query.after;
    if (after !== undefined) {
      select = select.where((eb) =>
        eb.or([
          eb('occurred_at', '<', after.occurredAt),
          eb.and([eb('occurred_at', '=', after.occurredAt), eb('event_id', '<', after.eventId)]),
        ]),
      );
    }
    const rows = await select.orderBy('occurred_at', 'desc').orderBy('event_id', 'desc').limit(query.limit).execute();
    return rows.map(fromRow);
  }

  /** Deletes the events older than `before`, in batches; how many it deleted. */
  async purgeBefore(before: string): Promise<number> {
    let purged = 0;
    for (;;) {
      const batch = this.db.selectFrom('audit_events').select('event_id').where('occurred_at', '<', before).limit(PURGE_BATCH);
      const { numDeletedRows } = await this.db.deleteFrom('audit_events').where('event_id', 'in', batch).executeTakeFirst();
      purged += Number(numDeletedRows);
      if (Number(numDeletedRows) < PURGE_BATCH) return purged;
    }
  }
}

function toRow(event: AuditEvent): AuditRow {
  return {
    event_id: event.eventId,
    occurred_at: event.occurredAt,
    actor_type: event.actor.type,
    actor_id: event.actor.id,
    action: event.action,
    outcome: event.outcome,
    key_id: event.keyId,
    owner_id: event.ownerId,
    changes: JSON.stringify(event.changes),
    detail: JSON.stringify(event.detail),
    client_address: event.clientAddress,
    user_agent: event.userAgent,
    request_id: event.requestId,
  };
}

function fromRow(row: AuditRow): AuditEvent {
  return {
    eventId: row.event_id,
    occurredAt: row.occurred_at,
    actor: { type: row.actor_type, id: row.actor_id },
    action: row.action,
    outcome: row.outcome,
    keyId: row.key_id,
    ownerId: row.owner_id,
    changes: JSON.parse(row.changes) as AuditEvent['changes'],
    detail: JSON.parse(row.detail) as AuditEvent['detail'],
    clientAddress: row.client_address,
    userAgent: row.user_agent,
    requestId: row.request_id,
  };
}
