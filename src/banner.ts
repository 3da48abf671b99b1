import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Keygate } from './app.js';
import { describeDatabase } from './config.js';

/**
 * `node <the CLI's own file> <args>`, the file named from the server's folder: it works in a clone
 * and in a project that installed keygate alike, with no npm script or npx cache involved. It must
 * run in the same folder and environment, since the default database is a path relative to the folder.
 */
function cliCommand(args: string): string {
  const cli = relative(process.cwd(), fileURLToPath(new URL('cli.js', import.meta.url)));
  return `node ${/\s/.test(cli) ? JSON.stringify(cli) : cli} ${args}`;
}

/** How a user gets a bearer token for this server. */
function tokenLine(keygate: Keygate): string {
  const { oidc } = keygate.config;
  if (oidc) return `user tokens: from ${oidc.issuer} (OIDC mode)`;
  const secret = keygate.config.secret
    ? 'from KEYGATE_SECRET'
    : keygate.userTokenSecretGenerated
      ? 'generated at this start and kept in the database'
      : 'kept in the database';
  return `token secret: ${secret}; mint a user token (in this folder and environment): ${cliCommand('token --user <id>')}`;
}

/**
 * Where a person opens the dashboard: keygate's own address, or KEYGATE_PUBLIC_URL when OIDC
 * sign-in is configured, since a sign-in started at any other address comes back without its
 * flow cookie (the provider sends the browser to the public URL only).
 */
function dashboardAddress(keygate: Keygate, address: string): string {
  const signIn = keygate.config.oidc?.signIn;
  return signIn === undefined ? `${address}/` : new URL('/', signIn.redirectUri).href;
}

/** What a start knows beyond its config: whether local accounts are on with none made yet. */
export interface StartFacts {
  noAccountsYet: boolean;
}

/**
 * What a person starting keygate needs to see once, as one log line (so the log stays one JSON
 * object a line, and the log level silences it): where it listens, where the docs are, which
 * database it runs on and how to get a token; where to open the dashboard. No secret: the database URL loses its password,
 * and the token secret is only said to exist. With no account yet, the one command that makes the
 * first admin (which asks for its password: none is printed).
 */
export function startupBanner(keygate: Keygate, address: string, facts: StartFacts): string {
  return [
    `keygate is ready at ${address}`,
    `dashboard: ${dashboardAddress(keygate, address)}`,
    `docs: ${address}/docs`,
    `database: ${describeDatabase(keygate.config.database)}`,
    ...(facts.noAccountsYet ? [`no accounts yet: create the first admin (it asks for a password) with ${cliCommand('users add admin --admin')}`] : []),
    tokenLine(keygate),
  ].join('; ');
}
