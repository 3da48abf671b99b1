import type { FastifyInstance } from 'fastify';
import { openKeygate } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { buildServer } from './server.js';

async function main(): Promise<void> {
  let server: FastifyInstance | undefined;
  const keygate = await openKeygate(loadConfig(), (error) => {
    server?.log.error({ err: error }, 'writing last-use times failed; they are kept for the next flush');
  });
  server = await buildServer(keygate);
  const shutdown = async (signal: string) => {
    if (!server) return;
    server.log.info({ signal }, 'shutting down');
    await server.close();
    await keygate.close();
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
