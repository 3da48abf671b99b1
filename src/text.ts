// C0 and C1 control characters: they hide in terminals, break log lines, and PostgreSQL's
// text cannot hold NUL. Names and user ids that keygate stores may contain none.
const CONTROL_CHARACTERS = /[\u0000-\u001f\u007f-\u009f]/;

export function hasControlCharacters(text: string): boolean {
  return CONTROL_CHARACTERS.test(text);
}

declare global {
  interface String {
    /** ES2024, in Node 20; the ES2022 library this project compiles against does not declare it. */
    isWellFormed(): boolean;
  }
}

/**
 * No lone surrogates. Such text has no UTF-8 form: PostgreSQL would store U+FFFD in their place,
 * so two different names or user ids ("lone\ud800", "lone\udbff") would become one.
 */
export function isWellFormedUnicode(text: string): boolean {
  return text.isWellFormed();
}

export const USER_ID_MAX_LENGTH = 255;

/**
 * What is wrong with a user id (a token's `sub`, the owner an admin creates a key for):
 * `printable` unless it is 1 to USER_ID_MAX_LENGTH characters with no control character,
 * `unicode` for a lone surrogate; undefined for a good one.
 */
export function userIdProblem(value: unknown): 'printable' | 'unicode' | undefined {
  if (typeof value !== 'string' || value.length === 0 || value.length > USER_ID_MAX_LENGTH || hasControlCharacters(value)) return 'printable';
  return isWellFormedUnicode(value) ? undefined : 'unicode';
}

export function isUserId(value: unknown): value is string {
  return userIdProblem(value) === undefined;
}
