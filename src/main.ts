import { openKeygate } from './app.js';
import { ConfigError, loadConfig } from './config.js';
import { buildServer } from './server.js';

async function main(): Promise<void> {
  const keygate = await openKeygate(loadConfig());
  const server = await buildServer(keygate);
  const shutdown = async (signal: string) => {
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
