import { openKeygate } from '../app.js';
import { describeDatabase, loadConfig, type Config } from '../config.js';
import { mintLocalUserToken } from '../tokens/user-tokens.js';
import type { Command } from './command.js';
import { durationSeconds, HELP_OPTION, parseCommand, UsageError, type Options } from './options.js';
import { print, warn } from './output.js';

const USAGE = `Usage: keygate token --user <id> [--ttl <duration>] [--scope <scope> ...]

Prints a bearer token for user <id> on the last line of stdout, signed with the secret the
server uses: run it in the server's environment (the same folder, DATABASE_URL, KEYGATE_SECRET).

Options:
  --user <id>         The user: the token's sub (required).
  --ttl <duration>    Lifetime, such as 30m, 12h or 7d (default 1h): at least 1m, at most
                      KEYGATE_MAX_TOKEN_TTL_SECONDS (30 days by default).
  --scope <scope>     A scope the token carries; repeat for several.
  -h, --help          Print this help.`;

// Shorter tokens would expire on their way to the first request, or before it (0m would be
// expired at once): refused rather than minted.
const MIN_TTL_SECONDS = 60;

const OPTIONS = {
  user: { type: 'string' },
  ttl: { type: 'string', default: '1h' },
  scope: { type: 'string', multiple: true, default: [] as string[] },
  ...HELP_OPTION,
} satisfies Options;

async function token(args: string[]): Promise<void> {
  const { values } = parseCommand('token', args, OPTIONS);
  if (values.help) return print(USAGE);
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
  const keygate = await openKeygate(config, undefined, { holdsWarmEntries: false });
  try {
    // In seconds, as checked above: jose's own duration syntax is not quite the one accepted here.
    const minted = await mintLocalUserToken(keygate.userTokenSecret, { userId: values.user, ttl: `${ttlSeconds}s`, scopes: values.scope });
    print(minted);
    warn(signedWith(config));
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

export const TOKEN_COMMAND: Command = { name: 'token', usage: USAGE, run: token };
