import type { ApiKeyRepository, KeyWrites } from '../store/api-keys-repository.js';

// The one path for changes to a key: it runs the write in a transaction and, once committed,
// tells the change stamp, which is what proves a warm entry fresh (see verifier.ts). The next
// issue records the audit event here too, in the same transaction. No repository method notes
// its own writes, so none can forget to.
//
// Which writes go through it: every write to api_keys but one. Whether a change is noted
// depends on whether it can alter the answer to a verification:
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
// Not a quota's use (ApiKeyRepository.consumeQuota): one conditional UPDATE per verification of
// a key with a quota, which itself decides whether a verification is left; noting it would make
// every warm key of this process read its row again, at every verification of a quota key.
// Not last_used_at: written behind in batches (LastUseRecorder) and read by no verification, so
// it can change no answer, and noting each batch would make every warm key read its row again.

/** Whether a change of each kind is noted for freshness (see above). */
const NOTED = {
  created: false,
  rotated: true,
  updated: true,
  rehashed: false,
  revoked: true,
} as const satisfies Record<string, boolean>;

export type KeyChange = keyof typeof NOTED;

export class KeyChanges {
  constructor(private readonly repository: ApiKeyRepository) {}

  /** Makes a change of the kind `change` with `write`, in one transaction; its result is `write`'s. */
  async apply<T>(change: KeyChange, write: (writes: KeyWrites) => Promise<T>): Promise<T> {
    const result = await this.repository.inTransaction(write);
    // After the commit, never before: a verification that read the stamp after the note but
    // the row before the commit would keep the old row as fresh.
    if (NOTED[change]) this.repository.changes.noteLocalWrite();
    return result;
  }
}
