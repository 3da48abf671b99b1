import { InvalidInput } from './errors.js';

// The rules of every listing that pages (every user's keys, the audit trail, the CLI's tables):
// page sizes, cursors and time bounds, as query strings and command lines give them (text).

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** RFC 3339 date-time, with a zone: what the OpenAPI document's format promises. */
export const ISO_TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** A page size from text or a number; absent: DEFAULT_PAGE_SIZE. */
export function validLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_PAGE_SIZE;
  const limit = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : raw;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidInput('limit', `Input should be an integer from 1 to ${MAX_PAGE_SIZE}`, 'int_parsing');
  }
  return limit;
}

/** An RFC 3339 time, normalised to the stored form (ISO-8601 UTC with milliseconds). */
export function validTimestamp(raw: unknown, field: string): string {
  const at = typeof raw === 'string' && ISO_TIMESTAMP.test(raw) ? Date.parse(raw) : NaN;
  if (Number.isNaN(at)) throw new InvalidInput(field, 'Input should be a valid datetime, e.g. 2027-01-31T00:00:00Z', 'datetime_type');
  return new Date(at).toISOString();
}

/**
 * Where the next page starts, as an opaque text: the sort values of the last row of this page.
 * Not signed: it only ever selects rows the caller may read anyway.
 */
export function encodeCursor(position: readonly string[]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The `arity` sort values a cursor holds; a cursor keygate did not make is refused. */
export function decodeCursor(raw: unknown, arity: number): string[] {
  let position: unknown;
  try {
    position = typeof raw === 'string' && raw.length <= 1024 ? JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) : undefined;
  } catch {
    position = undefined;
  }
  if (!Array.isArray(position) || position.length !== arity || !position.every((value) => typeof value === 'string' && value.length <= 255)) {
    throw new InvalidInput('cursor', 'Input should be a cursor as a previous page returned it (next_cursor)', 'value_error');
  }
  return position as string[];
}
