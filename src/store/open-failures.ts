import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { ConfigError, describeDatabase, type DatabaseLocation } from '../config.js';
import { DatabaseUnavailable } from './outage.js';
import { postgresDoesNotAnswer } from './unreachable.js';

// The usual reasons a database cannot be opened at start, told as one line that names
// DATABASE_URL (without its password) and what to do: a ConfigError, which the server and the
// CLI print as such. Anything else is left as it is, so that its stack is printed.

/** `error`, thrown while opening `location`, as a ConfigError when its reason is a known one. */
export function explainedOpenFailure(location: DatabaseLocation, error: unknown): unknown {
  // The query guard wraps "does not answer" failures; their reason is the driver's error.
  const cause = error instanceof DatabaseUnavailable ? error.cause : error;
  const reason = location.kind === 'postgres' ? postgresReason(cause) : sqliteReason(location.path, cause);
  return reason === undefined ? error : new ConfigError(`DATABASE_URL ${describeDatabase(location)}: ${reason}`, { cause: error });
}

function codeOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

/** The error's own words; an AggregateError (one failure per address of a name) has none of its own. */
function messageOf(error: Error): string {
  if (error.message !== '') return error.message;
  return error instanceof AggregateError && error.errors[0] instanceof Error ? messageOf(error.errors[0]) : String(codeOf(error));
}

function postgresReason(error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = codeOf(error) ?? '';
  // At start, a name that does not resolve is most likely mistyped.
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    const host = (error as { hostname?: string }).hostname ?? 'in DATABASE_URL';
    const what = code === 'ENOTFOUND' ? 'is not found' : 'could not be resolved now';
    return `the host ${host} ${what} (${error.message}): correct the host in DATABASE_URL`;
  }
  if (postgresDoesNotAnswer(error)) {
    return `PostgreSQL does not answer (${messageOf(error)}): start it, or correct the host and port in DATABASE_URL`;
  }
  // SQLSTATE class 28: invalid authorization (a wrong password, an unknown role, no pg_hba.conf entry).
  if (code.startsWith('28')) return `PostgreSQL refused the login (${error.message}): correct the user and password in DATABASE_URL`;
  // node-postgres's own words when the server asks for a password and the URL has none.
  if (/client password must be a string/.test(error.message)) {
    return 'PostgreSQL asks for a password and DATABASE_URL has none: write postgres://user:password@host:5432/db';
  }
  if (code === '3D000') return `${error.message}: create it, or correct the database name in DATABASE_URL`;
  return undefined;
}

/** What SQLite says of a file it cannot use as a database at all (rather than of a query). */
const UNUSABLE_FILE = /^SQLITE_(CANTOPEN|READONLY|PERM|CORRUPT)/;

function sqliteReason(path: string, error: unknown): string | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = codeOf(error) ?? '';
  if (code === 'SQLITE_NOTADB') {
    return "the file is not a SQLite database: point DATABASE_URL at keygate's database file, or at a file that does not exist yet";
  }
  if (UNUSABLE_FILE.test(code)) return `SQLite cannot use the file (${error.message}): point DATABASE_URL at a file keygate may read and write`;
  // mkdir of the file's folder: EEXIST when the folder itself is a file, ENOTDIR when a folder above it is.
  if ((code === 'EEXIST' || code === 'ENOTDIR') && (error as { syscall?: string }).syscall === 'mkdir') {
    const inTheWay = firstExisting(dirname(resolve(path)));
    return `its folder cannot be created: ${inTheWay} is a file, not a folder; choose another path`;
  }
  return undefined;
}

/** The nearest of `folder` and the folders above it that exists (the root always does). */
function firstExisting(folder: string): string {
  let current = folder;
  while (!existsSync(current) && dirname(current) !== current) current = dirname(current);
  return current;
}
