import { InvalidInput } from './errors.js';
import { isUserId, USER_ID_MAX_LENGTH, userIdProblem } from './text.js';

// Rules for input fields that several services share: a user id, a choice among names, a time.

/** RFC 3339 date-time, with a zone: what the OpenAPI document's format promises. */
const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** The stored form of a time, ISO-8601 UTC with milliseconds: fixed-width, so it sorts as text. */
const STORED_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

export function validUserId(raw: unknown, field = 'user_id'): string {
  if (isUserId(raw)) return raw;
  if (userIdProblem(raw) === 'unicode') {
    throw new InvalidInput(field, 'User id must be well-formed Unicode (it has a lone surrogate)', 'string_unicode');
  }
  throw new InvalidInput(field, `Input should be a user id of 1 to ${USER_ID_MAX_LENGTH} printable characters`, 'string_type');
}

export function validChoice<T extends string>(raw: unknown, field: string, choices: readonly T[]): T {
  if (typeof raw !== 'string' || !(choices as readonly string[]).includes(raw)) {
    throw new InvalidInput(field, `Input should be ${choices.map((name) => `'${name}'`).join(' or ')}`, 'enum');
  }
  return raw as T;
}

/**
 * An RFC 3339 time, normalised to the stored form. Years beyond 9999 are refused: their ISO form
 * (+010000-...) would no longer sort as text among the stored times.
 */
export function validTimestamp(raw: unknown, field: string): string {
  const at = typeof raw === 'string' && ISO_TIMESTAMP.test(raw) ? Date.parse(raw) : NaN;
  const stored = Number.isNaN(at) ? undefined : new Date(at).toISOString();
  if (stored === undefined || !isStoredTimestamp(stored)) {
    throw new InvalidInput(field, 'Input should be a valid datetime from year 0000 to 9999, e.g. 2027-01-31T00:00:00Z', 'datetime_type');
  }
  return stored;
}

export function isStoredTimestamp(text: string): boolean {
  return STORED_TIMESTAMP.test(text);
}
