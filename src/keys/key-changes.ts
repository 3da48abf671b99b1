import { auditEvent, type AuditDraft, type AuditEvent } from '../audit/audit-event.js';
import type { Actor } from '../audit/actor.js';
import type { ApiKeyRepository, KeyWrites } from '../store/api-keys-repository.js';
import type { AuditRepository } from '../store/audit-repository.js';
import type { ChangeFeed, Publication } from './change-feed.js';

// The one path for changes to a key: it runs the write in a transaction, appends the change's
// audit event in that same transaction (so a change that rolls back leaves no event, and no
// event exists without its change), and once committed tells the change feed, which is what
// proves a warm entry fresh (see change-feed.ts), and the audit listeners (the server's log). No
// repository method notes its own writes or records its own events, so none can forget to.
//
// Every change is audited. Whether a change is also noted for freshness depends on whether it
// can alter the answer to a verification:
// - created: not noted. A new key_id, whose text nobody can have presented before the insert
//   returns, so no warm entry or remembered refusal concerns it; noting it would only make every
//   warm key of this process read its row again.
// - rotated, revoked: noted. The old secret must fail on the very next verification.
// - updated (name, expiry, scopes, metadata, status, rate limit, quota settings): noted. A
//   disabled key or a removed scope must be refused on the very next verification.
// - rehashed (the verifier moving a key to the configured hash scheme): not noted. The same
//   secret still verifies, so no answer changes, and the verifier gives the one warm entry of
//   that secret the new hash itself; noting it would make every warm key of this process read
//   its row again, once per rehashed key, for nothing.
// - quota_refilled (a verification moving a quota into its next period): not noted, as a quota's
//   use is not (ApiKeyRepository.consumeQuota: one conditional UPDATE per verification of a key
//   with a quota, which itself decides whether a verification is left; noting it would make
//   every warm key of this process read its row again, at every verification of a quota key).
//   The use itself is not audited either: it is usage (the usage history), not a change.
// Not last_used_at: written behind in batches (UseRecorder) and read by no verification, so
// it can change no answer, and noting each batch would make every warm key read its row again.

/** Whether a change of each kind is noted for freshness (see above). */
const NOTED = {
  created: false,
  rotated: true,
  updated: true,
  rehashed: false,
  quota_refilled: false,
  revoked: true,
} as const satisfies Record<string, boolean>;

export type KeyChange = keyof typeof NOTED;

/** Told of every audit event once it is committed. */
export type AuditListener = (event: AuditEvent) => void;

export class KeyChanges {
  private readonly listeners: AuditListener[] = [];

  constructor(
    private readonly repository: ApiKeyRepository,
    private readonly audit: AuditRepository,
    /** What tells every process holding warm entries of a noted change, before apply() returns. */
    private readonly feed: ChangeFeed,
    private readonly now: () => Date = () => new Date(),
  ) {}

  /** `listener` is told of every event from now on, after its commit. */
  onAuditEvent(listener: AuditListener): void {
    this.listeners.push(listener);
  }

  /**
   * Makes a change of the kind `change` by `actor` with `write`, in one transaction, with the
   * event `describe` makes of `write`'s result (undefined: nothing changed, nothing to record).
   * Its result is `write`'s.
   */
  async apply<T>(
    change: KeyChange,
    actor: Actor,
    write: (writes: KeyWrites) => Promise<T>,
    describe: (result: T) => AuditDraft | undefined,
  ): Promise<T> {
    let event: AuditEvent | undefined;
    let publication: Publication | undefined;
    const result = await this.repository.inTransaction(async (writes) => {
      const written = await write(writes);
      const draft = describe(written);
      if (draft !== undefined) {
        event = auditEvent(draft, actor, this.now());
        await writes.recordAuditEvent(event);
        // Last, so that the feed's lock (PostgreSQL's) is held only while the commit follows.
        if (NOTED[change] && draft.keyId !== null) publication = await this.feed.publish(writes, draft.keyId);
      }
      return written;
    });
    // After the commit, never before: a verification that read the stamp after the note but
    // the row before the commit would keep the old row as fresh. The change is acknowledged
    // (apply returns) only once no instance can answer from what it knew before.
    if (event === undefined) return result;
    this.announce(event);
    if (NOTED[change] && event.keyId !== null) await this.feed.committed(event.keyId, publication);
    return result;
  }

  /** Records an attempt that was refused and so changed nothing (someone else's key, an admin route). */
  async refused(actor: Actor, draft: AuditDraft): Promise<void> {
    const event = auditEvent({ ...draft, outcome: 'refused' }, actor, this.now());
    await this.audit.append(event);
    this.announce(event);
  }

  /** A listener that fails must not turn a committed change into a failure (and lose a new key). */
  private announce(event: AuditEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // The event is in the trail all the same.
      }
    }
  }
}
