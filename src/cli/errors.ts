import { inspect } from 'node:util';
import { ConfigError } from '../config.js';
import { Conflict, InvalidInput, KeygateError, LimitReached, NotFound } from '../errors.js';
import { UsageError } from './options.js';

// The one place that turns failures into the CLI's exit codes and its one line on stderr, as
// src/http/errors.ts turns them into HTTP answers. keygate --help documents the codes.

export const EXIT_CODES = {
  ok: 0,
  /** keygate could not run: a setting, a database that does not answer, anything unexpected. */
  failed: 1,
  /** A mistake in the command line, or a value the domain refuses (InvalidInput). */
  usage: 2,
  notFound: 3,
  /** Refused by a rule (the user's key limit) or by a race (a concurrent change won). */
  refused: 4,
} as const;

export function exitCodeOf(error: unknown): number {
  if (error instanceof UsageError || error instanceof InvalidInput) return EXIT_CODES.usage;
  if (error instanceof NotFound) return EXIT_CODES.notFound;
  if (error instanceof Conflict || error instanceof LimitReached) return EXIT_CODES.refused;
  return EXIT_CODES.failed;
}

/**
 * The domain's field names, as the options that carry them are spelt: the longest prefix of a
 * field's path that is here names the option.
 */
const OPTION_OF_FIELD: Record<string, string> = {
  user_id: '--user',
  key_id: '--key',
  name: '--name',
  expires_days: '--expires-days',
  environment: '--environment',
  status: '--status',
  scopes: '--scope',
  metadata: '--metadata',
  rate_limit: '--rate-limit',
  quota: '--quota',
  'quota.remaining': '--quota',
  'quota.refill': '--refill',
  grace_seconds: '--grace',
  action: '--action',
  since: '--since',
  until: '--until',
  limit: '--limit',
  username: '<username>',
  password: 'password',
};

/** Where the refused value came from: its option, and the field inside it when that is deeper (scopes.1, metadata.a). */
function refusedOption(field: InvalidInput['field']): string {
  const path = typeof field === 'string' ? [field] : field.map(String);
  for (let length = path.length; length > 0; length -= 1) {
    const option = OPTION_OF_FIELD[path.slice(0, length).join('.')];
    if (option !== undefined) return length === path.length ? option : `${option} (${path.join('.')})`;
  }
  return path.join('.');
}

/** `keygate <command>`, or `keygate` alone. */
function commandName(command: string | undefined): string {
  return command === undefined ? 'keygate' : `keygate ${command}`;
}

/**
 * The line `error` is told in, by `command` (the one that ran, when the error does not name its
 * own). A known error is one line, whatever its message holds; an unexpected one is the whole
 * stack, to report.
 */
export function errorLine(error: unknown, command: string | undefined): string {
  const known = knownErrorLine(error, command);
  return known === undefined ? inspect(error) : known.replace(/\s*[\r\n]+\s*/g, ' ');
}

function knownErrorLine(error: unknown, command: string | undefined): string | undefined {
  if (error instanceof UsageError) {
    const name = commandName(error.command);
    return `${name}: ${error.message} (see "${name} --help")`;
  }
  if (error instanceof ConfigError) return `keygate: ${error.message}`;
  if (error instanceof InvalidInput) {
    const option = refusedOption(error.field);
    return `${commandName(command)}: ${option === '' ? '' : `${option}: `}${error.message}`;
  }
  if (error instanceof KeygateError) return `${commandName(command)}: ${error.message}`;
  return undefined;
}
