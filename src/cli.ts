#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { inspect, parseArgs, type ParseArgsConfig } from 'node:util';
import { openKeygate } from './app.js';
import { ConfigError, describeDatabase, loadConfig, type Config } from './config.js';
import { mintLocalUserToken } from './tokens/user-tokens.js';

type Options = NonNullable<ParseArgsConfig['options']>;

const USAGE = `Usage: keygate <command> [options]

Commands:
  token --user <id> [--ttl <duration>] [--scope <scope> ...]
      Print a bearer token for user <id>, signed like the server's (same environment).
  help [<command>]
      Print this help, or a command's.
  version
      Print keygate's version (also --version).

Options:
  -h, --help     Print this help.
  --version      Print keygate's version.

"keygate <command> --help" prints a command's options.`;

const TOKEN_USAGE = `Usage: keygate token --user <id> [--ttl <duration>] [--scope <scope> ...]

Prints a bearer token for user <id> on the last line of stdout, signed with the secret the
server uses: run it in the server's environment (the same folder, DATABASE_URL, KEYGATE_SECRET).

Options:
  --user <id>         The user: the token's sub (required).
  --ttl <duration>    Lifetime, such as 30m, 12h or 7d (default 1h): at least 1m, at most
                      KEYGATE_MAX_TOKEN_TTL_SECONDS (30 days by default).
  --scope <scope>     A scope the token carries; repeat for several.
  -h, --help          Print this help.`;

/** A mistake in the command line: one line on stderr naming it, and exit code 2. */
class UsageError extends Error {
  constructor(
    message: string,
    /** The command whose --help lists what is allowed; undefined for keygate itself. */
    readonly command?: string,
  ) {
    super(message);
  }
}

// Shorter tokens would expire on their way to the first request, or before it (0m would be
// expired at once): refused rather than minted.
const MIN_TTL_SECONDS = 60;

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** Seconds in a --ttl such as 30m, 12h or 7d. */
function durationSeconds(ttl: string): number | undefined {
  const match = /^(\d+)\s*(s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?|w|weeks?)$/i.exec(ttl);
  if (!match) return undefined;
  // Every unit the pattern allows is named by its first letter.
  const unit = match[2]!.charAt(0).toLowerCase() as keyof typeof SECONDS_PER_UNIT;
  return Number(match[1]) * SECONDS_PER_UNIT[unit];
}

/**
 * Refuses, with a message of its own, what node's strict parseArgs would refuse with a
 * multi-line one: an unknown option, an option without its value (`--user --ttl 1h` is a missing
 * user, not the user "--ttl"), a value given to a flag, a positional argument, and an option
 * given twice that is not meant to repeat.
 */
function checkOptions(command: string, args: string[], options: Options): void {
  const { tokens } = parseArgs({ args, options, strict: false, allowPositionals: true, tokens: true });
  const seen = new Set<string>();
  for (const token of tokens) {
    if (token.kind === 'positional') throw new UsageError(`unexpected argument "${token.value}"`, command);
    if (token.kind === 'option-terminator') throw new UsageError('unexpected argument "--"', command);
    const spec = options[token.name];
    if (spec === undefined) throw new UsageError(`unknown option ${token.rawName}`, command);
    if (spec.type === 'boolean' && token.value !== undefined) throw new UsageError(`${token.rawName} takes no value`, command);
    if (spec.type === 'string' && (token.value === undefined || (!token.inlineValue && token.value.startsWith('-')))) {
      throw new UsageError(`${token.rawName} needs a value`, command);
    }
    if (seen.has(token.name) && !spec.multiple) throw new UsageError(`${token.rawName} is given twice`, command);
    seen.add(token.name);
  }
}

const TOKEN_OPTIONS = {
  user: { type: 'string' },
  ttl: { type: 'string', default: '1h' },
  scope: { type: 'string', multiple: true, default: [] as string[] },
  help: { type: 'boolean', short: 'h' },
} satisfies Options;

async function token(args: string[]): Promise<void> {
  checkOptions('token', args, TOKEN_OPTIONS);
  const { values } = parseArgs({ args, options: TOKEN_OPTIONS, strict: true });
  if (values.help) return print(TOKEN_USAGE);
  if (!values.user) throw new UsageError('--user <id> is required', 'token');
  const ttlSeconds = durationSeconds(values.ttl);
  if (ttlSeconds === undefined) {
    throw new UsageError(`--ttl must be a duration such as 30m, 12h or 7d, got "${values.ttl}"`, 'token');
  }
  if (ttlSeconds < MIN_TTL_SECONDS) throw new UsageError(`--ttl ${values.ttl} is shorter than the minimum, 1m`, 'token');
  const config = loadConfig();
  // The server refuses longer-lived tokens: better not to mint one.
  if (ttlSeconds > config.maxTokenTtlSeconds) {
    throw new UsageError(`--ttl ${values.ttl} is longer than KEYGATE_MAX_TOKEN_TTL_SECONDS (${config.maxTokenTtlSeconds} s) allows`, 'token');
  }
  if (config.oidc) {
    throw new UsageError('keygate is in OIDC mode: user tokens come from your identity provider, not from keygate', 'token');
  }
  const keygate = await openKeygate(config);
  try {
    // In seconds, as checked above: jose's own duration syntax is not quite the one accepted here.
    const minted = await mintLocalUserToken(keygate.userTokenSecret, { userId: values.user, ttl: `${ttlSeconds}s`, scopes: values.scope });
    print(minted);
    process.stderr.write(`keygate: ${signedWith(config)}\n`);
  } finally {
    await keygate.close();
  }
}

/**
 * Which secret signed the token, and so which server accepts it (stderr, leaving stdout to the
 * token alone): a token minted on another database than the server's is the usual refusal.
 */
function signedWith(config: Config): string {
  const database = describeDatabase(config.database);
  if (config.secret !== undefined) return `signed with KEYGATE_SECRET (database ${database}): the server must have the same KEYGATE_SECRET`;
  return `signed with the secret kept in ${database}: the server must run on that database`;
}

/** The version in package.json, two folders up from dist/src/cli.js. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

function print(text: string): void {
  process.stdout.write(`${text}\n`);
}

const COMMAND_USAGE: Record<string, string> = { token: TOKEN_USAGE, help: USAGE, version: 'Usage: keygate version\n\nPrints keygate\'s version.' };

/** `help [<command>]`: keygate's help, or that command's. */
function help(args: string[]): void {
  const [command, ...extra] = args;
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, 'help');
  if (command === undefined) return print(USAGE);
  const usage = COMMAND_USAGE[command];
  if (usage === undefined) throw new UsageError(`unknown command "${command}"`);
  print(usage);
}

/** `version` takes only --help: anything else is a mistake worth saying. */
function version(args: string[]): void {
  checkOptions('version', args, { help: { type: 'boolean', short: 'h' } });
  print(args.length > 0 ? COMMAND_USAGE.version! : packageVersion());
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'token':
      return token(rest);
    case 'help':
      return help(rest);
    case '-h':
    case '--help':
      return help([]);
    case 'version':
    case '--version':
      return version(rest);
    case undefined:
      throw new UsageError('no command given');
    default:
      throw new UsageError(command.startsWith('-') ? `unknown option ${command}` : `unknown command "${command}"`);
  }
}

/** The one line a usage error prints, with where to read what is allowed. */
function usageLine(error: UsageError): string {
  const name = error.command === undefined ? 'keygate' : `keygate ${error.command}`;
  return `${name}: ${error.message} (see "${name} --help")`;
}

function errorLine(error: unknown): string {
  if (error instanceof UsageError) return usageLine(error);
  if (error instanceof ConfigError) return `keygate: ${error.message}`;
  // Unknown: the whole stack, to report.
  return inspect(error);
}

// 2 for a mistake in the command line; 1 for a failure to start (a setting, the database) and any
// other. Exits once the line is out rather than when the event loop empties: a connection that
// failed half-way (node-postgres after PostgreSQL asked for a password it was not given) may never close.
main(process.argv.slice(2)).catch((error: unknown) => {
  process.stderr.write(`${errorLine(error)}\n`, () => process.exit(error instanceof UsageError ? 2 : 1));
});
