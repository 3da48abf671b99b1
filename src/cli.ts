#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { openKeygate } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { mintLocalUserToken } from './tokens/user-tokens.js';

const USAGE = `Usage: keygate <command>

Commands:
  --version
      Print keygate's version.
  token --user <id> [--ttl <duration>] [--scope <scope> ...]
      Print a bearer token for user <id>, signed like the server's (same environment).
      --ttl is a duration such as 30m, 12h or 7d (default 1h).`;

class UsageError extends Error {}

const SECONDS_PER_UNIT = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 } as const;

/** Seconds in a --ttl such as 30m, 12h or 7d, as jose's setExpirationTime counts them. */
function durationSeconds(ttl: string): number | undefined {
  const match = /^(\d+)\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|week|weeks)$/i.exec(ttl);
  if (!match) return undefined;
  // Every unit the pattern allows is named by its first letter.
  const unit = match[2]!.charAt(0).toLowerCase() as keyof typeof SECONDS_PER_UNIT;
  return Number(match[1]) * SECONDS_PER_UNIT[unit];
}

async function token(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      user: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      scope: { type: 'string', multiple: true, default: [] },
    },
    strict: true,
  });
  if (!values.user) throw new UsageError('token needs --user <id>');
  const ttlSeconds = durationSeconds(values.ttl);
  if (ttlSeconds === undefined) {
    throw new UsageError(`--ttl must be a duration such as 30m, 12h or 7d, got "${values.ttl}"`);
  }
  const config = loadConfig();
  // The server refuses longer-lived tokens: better not to mint one.
  if (ttlSeconds > config.maxTokenTtlSeconds) {
    throw new UsageError(`--ttl ${values.ttl} is longer than KEYGATE_MAX_TOKEN_TTL_SECONDS (${config.maxTokenTtlSeconds} s) allows`);
  }
  if (config.oidc) {
    throw new UsageError('keygate is in OIDC mode: user tokens come from your identity provider, not from keygate');
  }
  const keygate = await openKeygate(config);
  try {
    const minted = await mintLocalUserToken(keygate.userTokenSecret, { userId: values.user, ttl: values.ttl, scopes: values.scope });
    process.stdout.write(`${minted}\n`);
  } finally {
    await keygate.close();
  }
}

/** The version in package.json, two folders up from dist/src/cli.js. */
function packageVersion(): string {
  return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'token':
      return token(rest);
    case undefined:
    case 'help':
    case '--help':
      process.stdout.write(`${USAGE}\n`);
      return;
    case '--version':
    case 'version':
      process.stdout.write(`${packageVersion()}\n`);
      return;
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(known ? `keygate: ${(error as Error).message}\n${error instanceof UsageError ? `\n${USAGE}\n` : ''}` : `${String(error)}\n`);
  process.exitCode = known ? 2 : 1;
});
