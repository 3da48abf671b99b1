// Failures that recur with every request (Redis away, an identity provider down, bcrypt's queue
// full) must not write a log line per request exactly when the service is under strain.

const LOG_EVERY_MS = 10_000;

/** pino's warn, as Fastify's logger has it. */
interface WarnLogger {
  warn(fields: object, message: string): void;
}

/** Logs a recurring failure once, then at most once per LOG_EVERY_MS, with how many it left out. */
export class ThrottledWarning {
  private lastLoggedAt = -Infinity;
  private unlogged = 0;

  constructor(
    private readonly log: WarnLogger,
    private readonly message: string,
  ) {}

  report(error: unknown): void {
    const now = performance.now();
    if (now - this.lastLoggedAt < LOG_EVERY_MS) {
      this.unlogged += 1;
      return;
    }
    // The message only: an error may carry what it was asked (a Redis command names users).
    const reason = error instanceof Error ? error.message : String(error);
    this.log.warn({ reason, alsoFailedSinceLastLog: this.unlogged }, this.message);
    this.lastLoggedAt = now;
    this.unlogged = 0;
  }

  reset(): void {
    this.lastLoggedAt = -Infinity;
    this.unlogged = 0;
  }
}
