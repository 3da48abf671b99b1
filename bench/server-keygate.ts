import { openKeygate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { authorityKey, issueKeys, rotatedAwayKey } from './issue.js';
import { runChild, serveForBench } from './serve.js';

// (b, c, d, g, w and the 1,000 / 1,000,000-key runs) The real keygate: openKeygate + buildServer
// from the environment the parent sets (a temporary SQLite file, KEYGATE_LOG_LEVEL=silent, ...).
// Before listening it issues BENCH_REAL_KEYS keys through its own ApiKeyService, so they carry
// real hashes, spread over users BENCH_KEYS_PER_USER at a time; with BENCH_REAL_KEYS=0 on an
// existing database it issues none (a restart). BENCH_ROTATED_AWAY=1 adds a rotated-away key (g),
// BENCH_AUTHORITY_KEY=1 a key with scopes and metadata (h).

runChild(async () => {
  const count = Number(process.env.BENCH_REAL_KEYS ?? '1');
  const perUser = Number(process.env.BENCH_KEYS_PER_USER ?? '50');
  const keygate = await openKeygate(loadConfig(), (error) => console.error('bench keygate: last-use write failed', error));

  const started = performance.now();
  const keys = await issueKeys(keygate, count, perUser);
  const setupMs = performance.now() - started;
  const rotatedAway = process.env.BENCH_ROTATED_AWAY === '1' ? await rotatedAwayKey(keygate) : undefined;
  const authority = process.env.BENCH_AUTHORITY_KEY === '1' ? await authorityKey(keygate) : undefined;

  const app = await buildServer(keygate);
  await serveForBench(app, { keys, setupMs, rotatedAway, authorityKey: authority }, () => keygate.close());
});
