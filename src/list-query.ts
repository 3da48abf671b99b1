import { InvalidInput } from './errors.js';
import { isStoredTimestamp } from './valid-input.js';

// The rules of every listing that pages (every user's keys, the audit trail, the CLI's tables):
// page sizes, cursors and time bounds, as query strings and command lines give them (text).

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

/** A page size from text or a number; absent: DEFAULT_PAGE_SIZE. */
export function validLimit(raw: unknown): number {
  if (raw === undefined) return DEFAULT_PAGE_SIZE;
  const limit = typeof raw === 'string' && /^\d{1,6}$/.test(raw) ? Number(raw) : raw;
  if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidInput('limit', `Input should be an integer from 1 to ${MAX_PAGE_SIZE}`, 'int_parsing');
  }
  return limit;
}

/**
 * Where the next page starts, as an opaque text: the sort values of the last row of this page.
 * Not signed: it only ever selects rows the caller may read anyway.
 */
export function encodeCursor(position: [time: string, id: string]): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/**
 * The position a cursor holds: every listing sorts by a time, then an id. Each is checked (a time
 * in the stored form, an id of the listing's shape), so that nothing else reaches a query (a NUL,
 * which PostgreSQL's text cannot hold); a cursor keygate did not make is refused.
 */
export function decodeCursor(raw: unknown, isId: (value: string) => boolean): [time: string, id: string] {
  let position: unknown;
  try {
    position = typeof raw === 'string' && raw.length <= 1024 ? JSON.parse(Buffer.from(raw, 'base64url').toString('utf8')) : undefined;
  } catch {
    position = undefined;
  }
  if (
    Array.isArray(position) &&
    position.length === 2 &&
    typeof position[0] === 'string' &&
    typeof position[1] === 'string' &&
    isStoredTimestamp(position[0]) &&
    isId(position[1])
  ) {
    return [position[0], position[1]];
  }
  throw new InvalidInput('cursor', 'Input should be a cursor as a previous page returned it (next_cursor)', 'value_error');
}

/**
 * A page of `limit` from `rows`, read with one more than the limit: the cursor of the next page,
 * made from the page's last row, only when there is a row after it.
 */
export function pageOf<Row>(rows: Row[], limit: number, position: (row: Row) => [time: string, id: string]): { rows: Row[]; nextCursor: string | null } {
  if (rows.length <= limit) return { rows, nextCursor: null };
  const page = rows.slice(0, limit);
  return { rows: page, nextCursor: encodeCursor(position(page[limit - 1]!)) };
}
