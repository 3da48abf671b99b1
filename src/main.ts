import type { FastifyInstance } from 'fastify';
import { openKeygate } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { buildServer, closeGracefully } from './server.js';
import { isDatabaseOutage, outagesLoggedTo } from './store/outage.js';

async function main(): Promise<void> {
  let server: FastifyInstance | undefined;
  const keygate = await openKeygate(loadConfig(), (error) => {
    if (!isDatabaseOutage(error)) server?.log.error({ err: error }, 'writing last-use times failed; they are kept for the next flush');
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
  await server.listen({ host: keygate.config.host, port: keygate.config.port });
}

main().catch((error: unknown) => {
  console.error(error instanceof ConfigError ? `keygate: ${error.message}` : error);
  process.exit(1);
});
