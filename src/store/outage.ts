import { Unavailable } from '../errors.js';

// A database that does not answer is an outage to wait out, not a bug: every query that fails
// for that reason becomes DatabaseUnavailable (a 503 with Retry-After), and DatabaseOutages
// tells its watchers once when an outage starts and once when it ends, however many requests
// fail in between.

export const DATABASE_UNAVAILABLE_DETAIL = 'The database does not answer; retry shortly';
const RETRY_AFTER_SECONDS = 5;

/** The Unavailable of a query the database did not answer; `cause` is the driver's error. */
export class DatabaseUnavailable extends Unavailable {
  constructor(cause: unknown) {
    super(DATABASE_UNAVAILABLE_DETAIL, { cause, retryAfterSeconds: RETRY_AFTER_SECONDS });
  }
}

/**
 * Whether the error is a database outage, or wraps one (the health check wraps what its ping
 * threw): DatabaseOutages has reported it already, so a request need not log it again.
 */
export function isDatabaseOutage(error: unknown): boolean {
  let current = error;
  for (let depth = 0; depth < 4 && current instanceof Error; depth++, current = current.cause) {
    if (current instanceof DatabaseUnavailable) return true;
  }
  return false;
}

export type OutageChange =
  | { answering: false; cause: { code: string | undefined; message: string } }
  | { answering: true; downForSeconds: number };

export class DatabaseOutages {
  private downSince: number | undefined;
  private readonly watchers: ((change: OutageChange) => void)[] = [];

  /** `watcher` hears of each change: when the database stops answering, and when it answers again. */
  watch(watcher: (change: OutageChange) => void): void {
    this.watchers.push(watcher);
  }

  /** A query failed because the database does not answer. */
  failed(cause: unknown): void {
    if (this.downSince !== undefined) return;
    this.downSince = Date.now();
    // Only the code and message: enough to tell why, and never a whole error object.
    const described = cause instanceof Error ? cause : new Error(String(cause));
    const code = (described as { code?: unknown }).code;
    this.tell({ answering: false, cause: { code: typeof code === 'string' ? code : undefined, message: described.message } });
  }

  /** A query was answered. */
  answered(): void {
    if (this.downSince === undefined) return;
    const downForSeconds = (Date.now() - this.downSince) / 1000;
    this.downSince = undefined;
    this.tell({ answering: true, downForSeconds });
  }

  private tell(change: OutageChange): void {
    for (const watcher of this.watchers) watcher(change);
  }
}

interface Logger {
  warn(fields: object, message: string): void;
  info(fields: object, message: string): void;
}

/** A watcher that writes each change as one log line (pino's signature, as Fastify's logger has). */
export function outagesLoggedTo(log: Logger): (change: OutageChange) => void {
  return (change) => {
    if (change.answering) log.info({ downForSeconds: change.downForSeconds }, 'database answers again');
    else log.warn({ cause: change.cause }, 'database does not answer: requests that need it get 503 until it does');
  };
}
