import { openKeygate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { runChild, serveForBench } from './serve.js';

// (b, c, d, and the 1,000 / 1,000,000-key runs) The real keygate: openKeygate + buildServer from
// the environment the parent sets (a temporary SQLite file, KEYGATE_LOG_LEVEL=silent, ...).
// Before listening it issues BENCH_REAL_KEYS keys through its own ApiKeyService, so they carry
// real bcrypt hashes, spread over users BENCH_KEYS_PER_USER at a time.

const CREATE_CONCURRENCY = 4;

runChild(async () => {
  const count = Number(process.env.BENCH_REAL_KEYS ?? '1');
  const perUser = Number(process.env.BENCH_KEYS_PER_USER ?? '50');
  const keygate = await openKeygate(loadConfig(), (error) => console.error('bench keygate: last-use write failed', error));

  const started = performance.now();
  const keys: string[] = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const issued = await keygate.apiKeys.create(`bench-user-${Math.floor(i / perUser)}`, { name: `bench key ${i}` });
      keys[i] = issued.apiKey;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, worker));
  const setupMs = performance.now() - started;

  const app = await buildServer(keygate);
  await serveForBench(app, { keys, setupMs }, () => keygate.close());
});
