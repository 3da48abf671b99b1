import type { FastifyInstance } from 'fastify';
import { openKeygate } from './app.js';
import { startupBanner } from './banner.js';
import { ChangeFeedError } from './keys/change-feed.js';
import { ConfigError, loadConfig } from './config.js';
import { buildServer, closeGracefully } from './server.js';
import { isDatabaseOutage, outagesLoggedTo } from './store/outage.js';

async function main(): Promise<void> {
  let server: FastifyInstance | undefined;
  const keygate = await openKeygate(loadConfig(), (error) => {
    if (!isDatabaseOutage(error)) {
      server?.log.error(
        { err: error },
        error instanceof ChangeFeedError
          ? error.message
          : 'a background write failed: last-use times and usage counts are kept for the next flush; a rehash is tried again at the key\'s next cold verification',
      );
    }
  });
  server = await buildServer(keygate);
  keygate.databaseOutages.watch(outagesLoggedTo(server.log));
  const shutdown = async (signal: string) => {
    if (!server) return;
    server.log.info({ signal }, 'shutting down');
    await closeGracefully(server, keygate.config.http.shutdownGraceMs);
    await keygate.close(); // writes the pending last_used times
    process.exit(0);
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
  const address = await server.listen({ host: keygate.config.host, port: keygate.config.port });
  const noAccountsYet = keygate.config.signIn.localAccounts && (await keygate.accounts.count()) === 0;
  server.log.info(startupBanner(keygate, address, { noAccountsYet }));
}

/** The one line a start-up failure of a known cause is told in; undefined for others, whose stack is printed. */
function startupFailureLine(error: unknown): string | undefined {
  if (error instanceof ConfigError) return error.message;
  const { code, address, port } = error as { code?: unknown; address?: unknown; port?: unknown };
  if (code === 'EADDRINUSE') {
    return `PORT ${port}: ${address}:${port} is already in use; stop what listens there, or set PORT to a free port (0: any)`;
  }
  if (code === 'EADDRNOTAVAIL') return `HOST ${address} is not an address of this machine; set HOST to one of its addresses, e.g. 127.0.0.1`;
  return undefined;
}

main().catch((error: unknown) => {
  const line = startupFailureLine(error);
  console.error(line === undefined ? error : `keygate: ${line}`);
  process.exit(1);
});
