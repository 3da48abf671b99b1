import type { ApiKeyRepository } from '../store/api-keys-repository.js';

/**
 * Records when each key was last used, written behind: a verification only notes the time in
 * memory, and a timer writes at most one update per key per interval, in one transaction.
 * close() writes what is left, so a clean shutdown loses nothing.
 */
export class LastUseRecorder {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly repository: ApiKeyRepository,
    flushIntervalMs: number,
    private readonly onError: (error: unknown) => void,
  ) {
    this.timer = setInterval(() => void this.flush(), flushIntervalMs);
    this.timer.unref(); // never keeps a process alive on its own
  }

  touch(keyId: string): void {
    this.pending.set(keyId, Date.now());
  }

  /** Writes every time noted so far; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.writePending());
    return this.flushing;
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }

  private async writePending(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    const times = new Map([...batch].map(([keyId, at]) => [keyId, new Date(at).toISOString()]));
    try {
      await this.repository.recordLastUse(times);
    } catch (error) {
      // Put the batch back (unless a newer use is already noted) so the next flush retries it.
      for (const [keyId, at] of batch) if (!this.pending.has(keyId)) this.pending.set(keyId, at);
      this.onError(error);
    }
  }
}
