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
  /** The OAuth scope the caller lacks, when that is the reason. */
  readonly missingScope: string | undefined;

  constructor(message: string, options: { missingScope?: string } = {}) {
    super(message);
    this.missingScope = options.missingScope;
  }
}

export class NotFound extends KeygateError {}

/** A per-user quota (keys per user) is used up. */
export class LimitReached extends KeygateError {}

/** One input field breaks a rule; `field` names it as the caller sent it. */
export class InvalidInput extends KeygateError {
  constructor(
    readonly field: string,
    message: string,
    readonly type: string,
  ) {
    super(message);
  }
}

/** Something keygate depends on (the identity provider) does not answer. */
export class Unavailable extends KeygateError {}
