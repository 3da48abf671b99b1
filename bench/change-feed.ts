import { userActor } from '../src/audit/actor.js';
import { openKeygate, type Keygate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import type { ServerChild } from './children.js';
import { percentile } from './stats.js';

// What PostgreSQL's change feed costs a writer (src/store/postgres-change-feed.ts): a revoke
// answers once every instance holding warm entries has acknowledged it. Measured from this
// process as the writer (the key service, as the CLI or an instance's route calls it), with
// three keygate instances listening: the revoke's latency with all of them answering, and with
// one frozen (SIGSTOP), which the writer waits out for at most its lease.

export interface RevokeLatency {
  label: string;
  samples: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
}

const WRITER = userActor('bench-feed-user');

/** The writer: keygate in this process, on the instances' database, holding no warm entries itself. */
export async function openWriter(databaseUrl: string, env: NodeJS.ProcessEnv): Promise<Keygate> {
  return openKeygate(loadConfig({ ...env, DATABASE_URL: databaseUrl, KEYGATE_KEY_HASH: 'hmac-sha256' }), undefined, { holdsWarmEntries: false });
}

/** `count` revokes of fresh keys, one after another, each timed from the call to its answer. */
export async function revokeLatency(writer: Keygate, label: string, count: number): Promise<RevokeLatency> {
  const times: number[] = [];
  for (let i = 0; i < count; i += 1) {
    const { keyId } = await writer.apiKeys.create(WRITER, { name: `feed ${i}` });
    const started = performance.now();
    await writer.apiKeys.revoke(WRITER, keyId);
    times.push(performance.now() - started);
  }
  times.sort((x, y) => x - y);
  return { label, samples: count, p50Ms: percentile(times, 0.5), p99Ms: percentile(times, 0.99), maxMs: times.at(-1) ?? NaN };
}

/** The same with `frozen` stopped (SIGSTOP) for the whole run, then thawed. */
export async function revokeLatencyFrozen(writer: Keygate, frozen: ServerChild, label: string, count: number): Promise<RevokeLatency> {
  frozen.signal('SIGSTOP');
  try {
    return await revokeLatency(writer, label, count);
  } finally {
    frozen.signal('SIGCONT');
  }
}

/**
 * Changes made at `perSecond` (PATCHes renaming one key back and forth, each announced to every
 * instance) for as long as `during` runs: what verification throughput keeps meanwhile.
 */
export async function whileChanging<T>(writer: Keygate, perSecond: number, during: () => Promise<T>): Promise<{ result: T; changesPerSecond: number }> {
  const { keyId } = await writer.apiKeys.create(WRITER, { name: 'churn' });
  let changes = 0;
  let running = true;
  const started = performance.now();
  const churn = (async () => {
    const gapMs = 1000 / perSecond;
    let next = started;
    while (running) {
      await writer.apiKeys.update(WRITER, keyId, { name: `churn ${changes % 2}` });
      changes += 1;
      next += gapMs;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - performance.now())));
    }
  })();
  try {
    const result = await during();
    return { result, changesPerSecond: (changes * 1000) / (performance.now() - started) };
  } finally {
    running = false;
    await churn;
    await writer.apiKeys.revoke(WRITER, keyId);
  }
}
