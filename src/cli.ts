#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { openKeygate } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { mintLocalUserToken } from './tokens/user-tokens.js';

const USAGE = `Usage: keygate <command>

Commands:
  token --user <id> [--ttl <duration>] [--scope <scope> ...]
      Print a bearer token for user <id>, signed like the server's (same environment).
      --ttl is a duration such as 30m, 12h or 7d (default 1h).`;

class UsageError extends Error {}

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
  if (!/^\d+\s*(s|sec|secs|m|min|mins|h|hr|hrs|d|day|days|w|week|weeks)$/i.test(values.ttl)) {
    throw new UsageError(`--ttl must be a duration such as 30m, 12h or 7d, got "${values.ttl}"`);
  }
  const config = loadConfig();
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
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((error: unknown) => {
  const known = error instanceof UsageError || error instanceof ConfigError || (error as { code?: string }).code?.startsWith('ERR_PARSE_ARGS');
  process.stderr.write(known ? `keygate: ${(error as Error).message}\n${error instanceof UsageError ? `\n${USAGE}\n` : ''}` : `${String(error)}\n`);
  process.exitCode = known ? 2 : 1;
});
