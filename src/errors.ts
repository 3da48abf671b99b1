// Typed failures of the domain. Only src/http/errors.ts turns them into status codes.

export abstract class KeygateError extends Error {
  override get name(): string {
    return this.constructor.name;
  }
}

/** The caller is not authenticated: no credentials, or credentials that do not check out. */
export class Unauthenticated extends KeygateError {}

/** The caller is authenticated but may not do this. */
export class Forbidden extends KeygateError {
  /** The OAuth scopes the caller lacks, when that is the reason (space-separated, as a challenge names them). */
  readonly missingScope: string | undefined;

  constructor(message: string, options: { missingScope?: string } = {}) {
    super(message);
    this.missingScope = options.missingScope;
  }
}

export class NotFound extends KeygateError {}

/** The change lost a race with another change of the same thing; the caller may look again and retry. */
export class Conflict extends KeygateError {}

/** A per-user quota (keys per user) is used up. */
export class LimitReached extends KeygateError {}

/** One input field breaks a rule; `field` names it as the caller sent it (a path for a nested one: ['quota', 'refill', 'interval']). */
export class InvalidInput extends KeygateError {
  constructor(
    readonly field: string | readonly (string | number)[],
    message: string,
    readonly type: string,
  ) {
    super(message);
  }
}

/** The request is unusable as sent (no API key where one is needed). */
export class BadRequest extends KeygateError {}

/** The caller must slow down: try again after `retryAfterSeconds` (undefined: no retry will help until something changes). */
export class TooManyRequests extends KeygateError {
  constructor(
    message: string,
    readonly retryAfterSeconds: number | undefined,
    /** A rate limit's RateLimit fields, for the answer's header (not a quota's). */
    readonly limitFields?: { limit: number; remaining: number; resetSeconds: number },
  ) {
    super(message);
  }
}

/** keygate cannot answer now: something it depends on does not answer, or it is overloaded. */
export class Unavailable extends KeygateError {
  readonly retryAfterSeconds: number;

  constructor(message: string, options: ErrorOptions & { retryAfterSeconds?: number } = {}) {
    super(message, options);
    this.retryAfterSeconds = options.retryAfterSeconds ?? 30;
  }
}
