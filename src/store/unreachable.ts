// Which failures of a database driver mean "the database does not answer": worth a retry
// later, unlike a bad query or a bug, which stay errors (500).

/**
 * Socket failures node-postgres passes on as they come: the server is down or out of reach, or
 * its name does not resolve now (ENOTFOUND too: a DNS record that comes and goes, as a
 * database's service name may while it is rescheduled, is no bug of the request).
 */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);

/** admin shutdown, crash shutdown, cannot connect now (starting or stopping), too many connections. */
const POSTGRES_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** SQLSTATE class 08: connection exception. */
const CONNECTION_EXCEPTION = /^08[0-9A-Z]{3}$/;

/** What node-postgres and its pool say, without a code, of a connection that broke or never came up. */
const POSTGRES_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error and is not queryable)/;

/**
 * Locked beyond busy_timeout (by another process, or another connection of this one), the file
 * unreadable or unwritable, or the disk full; extended codes (SQLITE_IOERR_WRITE, ...) count too.
 */
const SQLITE_CODES = /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN)(_|$)|^SQLITE_FULL$/;

function codeOf(error: unknown): string | undefined {
  const code = error instanceof Error ? (error as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export function postgresDoesNotAnswer(error: unknown): boolean {
  // Connecting to a name with several addresses fails with one error per address.
  if (error instanceof AggregateError) return error.errors.some(postgresDoesNotAnswer);
  if (!(error instanceof Error)) return false;
  const code = codeOf(error);
  if (code !== undefined && (SOCKET_CODES.has(code) || POSTGRES_SQLSTATES.has(code) || CONNECTION_EXCEPTION.test(code))) return true;
  return POSTGRES_MESSAGES.test(error.message);
}

export function sqliteDoesNotAnswer(error: unknown): boolean {
  return SQLITE_CODES.test(codeOf(error) ?? '');
}
