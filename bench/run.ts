import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDatabase, postgresBinaries, startPostgres } from '../tests/support/postgres.js';
import { killAllChildren, runLoad, startServer, type ServerChild } from './children.js';
import { fillSynthetic, type FillReport } from './fill.js';
import { measureSlice, summarize, type Measurement, type Slice } from './measure.js';
import { readVerifierCounts } from './metrics.js';
import type { LoadJob } from './protocol.js';
import { checksTable, formatMs, formatRps, markdown, resultsTable, type Check, type Row } from './report.js';

// npm run bench: every server under test in a child process of its own, autocannon in another,
// over loopback, each scenario bounded in time, the whole run bounded too. It reports; it
// asserts nothing and exits 0 whether targets are met or missed (a MISS is printed as such).
//
// Knobs (environment): BENCH_DURATION (s measured per scenario, default 6, in BENCH_ROUNDS
// interleaved rounds, default 4), BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS (default 10),
// BENCH_COLD_KEYS (default 200), BENCH_BIG_STORE (default 1000000), BENCH_CPU_PROF=<folder>
// (every server child runs under node --cpu-prof; summarize with dist/bench/profile-top.js).

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
};

const DURATION_S = number('BENCH_DURATION', 6);
const ROUNDS = Math.round(number('BENCH_ROUNDS', 4));
const WARMUP_S = number('BENCH_WARMUP', 2);
const CONNECTIONS = number('BENCH_CONNECTIONS', 10);
const COLD_KEYS = number('BENCH_COLD_KEYS', 200);
const SMALL_STORE = 1_000;
const BIG_STORE = number('BENCH_BIG_STORE', 1_000_000);
const BCRYPT_COST = 10;
/** Per minute, per key and per address: the most keygate accepts, far above what a run sends. */
const RATE_LIMIT = 100_000_000;
const REQUEST_TIMEOUT_S = 10;
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
// The whole bench, whatever happens: beyond this every child is killed and the run fails.
const WHOLE_RUN_BOUND_MS = 6 * 60 * 1000;

const VERIFY = '/api/v1/api-keys/verify';
const VALIDATE = '/api/v1/api-keys/validate';

const folder = mkdtempSync(join(tmpdir(), 'keygate-bench-'));
let databases = 0;

function cleanUp(): void {
  killAllChildren();
  rmSync(folder, { recursive: true, force: true });
}

/** The environment of a keygate child: ours alone, whatever KEYGATE_* the caller's shell holds. */
function keygateEnv(databaseUrl: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) {
    if (!/^(KEYGATE_|DATABASE_URL$|REDIS_URL$|HOST$|PORT$)/.test(name)) env[name] = value;
  }
  return {
    ...env,
    DATABASE_URL: databaseUrl,
    KEYGATE_LOG_LEVEL: 'silent',
    KEYGATE_SECRET: 'bench-secret-that-is-at-least-32-bytes-long',
    KEYGATE_BCRYPT_COST: String(BCRYPT_COST),
    KEYGATE_MAX_KEYS_PER_USER: '1000',
    // The rate limits stay on (their hook is part of the hot path) but never refuse: one key
    // from one address is all the load there is.
    KEYGATE_RATE_LIMIT_VERIFY_PER_KEY: String(RATE_LIMIT),
    KEYGATE_RATE_LIMIT_VERIFY_PER_IP: String(RATE_LIMIT),
    ...extra,
  };
}

function newDatabasePath(): string {
  databases += 1;
  return join(folder, `keygate-${databases}.db`);
}

function execArgvFor(name: string): string[] {
  if (PROFILE_DIR === undefined) return [];
  mkdirSync(PROFILE_DIR, { recursive: true });
  return ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`, `--cpu-prof-name=${name}.cpuprofile`];
}

function progress(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

function job(server: ServerChild, path: string, key: string | undefined, overrides: Partial<LoadJob> = {}): LoadJob {
  return {
    url: server.baseUrl + path,
    method: 'POST',
    headers: key === undefined ? {} : { 'x-api-key': key },
    connections: CONNECTIONS,
    durationSeconds: DURATION_S,
    timeoutSeconds: REQUEST_TIMEOUT_S,
    ...overrides,
  };
}

function firstKey(server: ServerChild): string {
  const key = server.keys[0];
  if (key === undefined) throw new Error('the keygate child issued no key');
  return key;
}

interface Run {
  rows: Row[];
  checks: Check[];
  fills: FillReport[];
  coldSetupMs: number;
}

interface Scenario {
  label: string;
  server: ServerChild;
  job: LoadJob;
  slices: Slice[];
}

async function bench(): Promise<Run> {
  const startKeygate = (name: string, databaseUrl: string, realKeys: number) =>
    startServer('server-keygate.js', keygateEnv(databaseUrl, { BENCH_REAL_KEYS: String(realKeys) }), {
      execArgv: execArgvFor(name),
      startTimeoutMs: 120_000,
    });

  // The stores of 1,000 and 1,000,000 keys: synthetic rows, then the one real key (issued by
  // the server child through its own service) on top.
  const fills: FillReport[] = [];
  const storePaths: string[] = [];
  for (const size of [SMALL_STORE, BIG_STORE]) {
    const path = newDatabasePath();
    progress(`store of ${size.toLocaleString('en-US')} keys: inserting ${(size - 1).toLocaleString('en-US')} synthetic rows`);
    const fill = await fillSynthetic(path, size - 1);
    progress(`  ${(fill.insertMs / 1000).toFixed(2)} s (+ WAL checkpoint and sync to disk ${(fill.checkpointMs / 1000).toFixed(2)} s)`);
    fills.push(fill);
    storePaths.push(path);
  }

  // Phase 1, the ratios: every server of (a), (f), (b), (c) and the two stores is up at once and
  // the scenarios take turns in rounds, so that whatever else the machine does meanwhile falls
  // on all of them alike rather than on whichever ran at that moment.
  progress('starting the bare route, the floor, a warm keygate and the two store keygates');
  const bare = await startServer('server-bare.js', process.env, { execArgv: execArgvFor('a-bare'), startTimeoutMs: 30_000 });
  const floor = await startServer('server-bare.js', { ...process.env, BENCH_FLOOR_DATABASE: newDatabasePath() }, {
    execArgv: execArgvFor('f-floor'),
    startTimeoutMs: 30_000,
  });
  const warm = await startKeygate('bc-warm', `sqlite:${newDatabasePath()}`, 1);
  const small = await startKeygate('store-small', `sqlite:${storePaths[0]}`, 1);
  const big = await startKeygate('store-big', `sqlite:${storePaths[1]}`, 1);
  // The same warm /verify on PostgreSQL (a throwaway cluster from the machine's binaries),
  // where every verification reads its row: the price of exactness across instances.
  const postgres = postgresBinaries() === undefined ? undefined : await startPostgres();
  const postgresDatabase = postgres === undefined ? undefined : await createDatabase(postgres.adminUrl);
  if (postgres === undefined) progress('PostgreSQL is not installed: its row is left out (apt-get install postgresql)');
  const onPostgres = postgresDatabase === undefined ? undefined : await startKeygate('pg-warm', postgresDatabase.url, 1);
  const scenario = (label: string, server: ServerChild, path: string, key: string): Scenario => ({
    label,
    server,
    job: job(server, path, key, { durationSeconds: DURATION_S / ROUNDS }),
    slices: [],
  });
  const a = scenario('(a) bare Fastify route (ceiling)', bare, VERIFY, 'mcpkey_live_bench');
  const f = scenario('(f) floor: bare route + HMAC + PRAGMA data_version', floor, VERIFY, firstKey(warm));
  const b = scenario('(b) warm /verify', warm, VERIFY, firstKey(warm));
  const c = scenario('(c) warm /validate (key -> JWT)', warm, VALIDATE, firstKey(warm));
  const s = scenario(`warm /verify, ${SMALL_STORE.toLocaleString('en-US')} keys in store`, small, VERIFY, firstKey(small));
  const l = scenario(`warm /verify, ${BIG_STORE.toLocaleString('en-US')} keys in store`, big, VERIFY, firstKey(big));
  const p = onPostgres === undefined ? undefined : scenario('warm /verify on PostgreSQL', onPostgres, VERIFY, firstKey(onPostgres));
  const turns = p === undefined ? [a, f, b, c, s, l] : [a, f, b, c, s, l, p];
  progress(`warmup: ${WARMUP_S} s each`);
  for (const turn of turns) await runLoad({ ...turn.job, durationSeconds: WARMUP_S });
  for (let round = 0; round < ROUNDS; round++) {
    progress(`round ${round + 1} of ${ROUNDS}: ${(DURATION_S / ROUNDS).toFixed(1)} s per scenario`);
    // Each round starts one scenario later, so that none always follows the same neighbour.
    for (let i = 0; i < turns.length; i++) {
      const turn = turns[(i + round) % turns.length] as Scenario;
      turn.slices.push(await measureSlice(turn.server, turn.job));
    }
  }
  const warmCounts = await readVerifierCounts(warm.baseUrl);
  const smallCounts = await readVerifierCounts(small.baseUrl);
  const bigCounts = await readVerifierCounts(big.baseUrl);
  const postgresCounts = onPostgres === undefined ? undefined : await readVerifierCounts(onPostgres.baseUrl);
  await Promise.all([bare.stop(), floor.stop(), warm.stop(), small.stop(), big.stop(), onPostgres?.stop()]);
  await postgresDatabase?.drop();
  await postgres?.stop();

  // (d) a burst of first verifications of distinct keys. The warmup uses one extra key of its
  // own; the burst presents every other key exactly once.
  progress(`(d) cold burst: issuing ${COLD_KEYS + 1} keys with bcrypt cost ${BCRYPT_COST}`);
  const cold = await startKeygate('d-cold', `sqlite:${newDatabasePath()}`, COLD_KEYS + 1);
  const [coldWarmupKey, ...coldKeys] = cold.keys;
  if (coldWarmupKey === undefined) throw new Error('the keygate child issued no key');
  progress(`(d) cold burst: ${COLD_KEYS} first verifications (keys issued in ${(cold.setupMs / 1000).toFixed(1)} s)`);
  await runLoad({ ...job(cold, VERIFY, coldWarmupKey), durationSeconds: WARMUP_S });
  const beforeD = await readVerifierCounts(cold.baseUrl);
  const d = summarize([
    await measureSlice(cold, job(cold, VERIFY, undefined, { durationSeconds: undefined, amount: COLD_KEYS, rotatingKeys: coldKeys })),
  ]);
  const afterD = await readVerifierCounts(cold.baseUrl);
  await cold.stop();
  const coldCompares = afterD.bcryptCompares - beforeD.bcryptCompares;
  const distinctPresented = Math.min(d.keysUsed, coldKeys.length);

  // (e) the naive design
  progress('(e) naive: bcrypt on every request');
  const naive = await startServer('server-naive.js', { ...process.env, KEYGATE_BCRYPT_COST: String(BCRYPT_COST) }, {
    execArgv: execArgvFor('e-naive'),
    startTimeoutMs: 30_000,
  });
  const naiveJob = job(naive, VERIFY, firstKey(naive));
  await runLoad({ ...naiveJob, durationSeconds: WARMUP_S });
  const e = summarize([await measureSlice(naive, naiveJob)]);
  await naive.stop();

  const [ma, mf, mb, mc, ms, ml] = [a, f, b, c, s, l].map((turn) => summarize(turn.slices)) as [
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
  ];
  const compares = (n: number) => `bcrypt compares in process: ${n}`;
  const rows: Row[] = [
    { label: a.label, result: ma, note: '' },
    { label: f.label, result: mf, note: 'the least an exact warm hit does; no cache, limits, metrics or logger' },
    { label: b.label, result: mb, note: compares(warmCounts.bcryptCompares) + ' (b and c together)' },
    { label: c.label, result: mc, note: compares(warmCounts.bcryptCompares) + ' (b and c together)' },
    { label: `(d) cold burst, ${COLD_KEYS} new keys`, result: d, note: `${coldCompares} bcrypt compares for ${distinctPresented} distinct keys` },
    { label: '(e) naive: bcrypt every request', result: e, note: 'no database read at all' },
    { label: s.label, result: ms, note: compares(smallCounts.bcryptCompares) },
    { label: l.label, result: ml, note: compares(bigCounts.bcryptCompares) },
  ];
  const mp = p === undefined ? undefined : summarize(p.slices);
  if (p !== undefined && mp !== undefined) {
    rows.push({
      label: p.label,
      result: mp,
      note: `${compares(postgresCounts?.bcryptCompares ?? 0)}; one primary-key read per request`,
      withDatabaseServer: true,
    });
  }

  // Ratios and targets, all within this one run.
  const bOverA = mb.requestsPerSecond / ma.requestsPerSecond;
  const bP99OverA = mb.p99 / ma.p99;
  const cOverA = mc.requestsPerSecond / ma.requestsPerSecond;
  const bigOverSmall = ml.requestsPerSecond / ms.requestsPerSecond;
  // The same ratio round by round: how much of it is the code and how much the moment.
  const byRound = (x: Measurement, y: Measurement) =>
    `rounds ${x.roundRps.map((rps, i) => (rps / (y.roundRps[i] ?? NaN)).toFixed(2)).join(' ')}`;
  const clean = (m: Measurement) => m.errors === 0 && Object.keys(m.otherStatuses).length === 0;
  const allClean = [ma, mf, mb, mc, ms, ml, e, ...(mp === undefined ? [] : [mp])].every(clean);
  const checks: Check[] = [
    {
      name: 'warm /verify req/s ÷ bare req/s (b/a)',
      value: `${bOverA.toFixed(2)} (${byRound(mb, ma)})`,
      target: '≥ 0.75',
      pass: bOverA >= 0.75,
    },
    {
      name: 'floor req/s ÷ bare req/s (f/a; reported, no target)',
      value: `${(mf.requestsPerSecond / ma.requestsPerSecond).toFixed(2)} (${byRound(mf, ma)}); warm /verify ÷ floor (b/f): ${(mb.requestsPerSecond / mf.requestsPerSecond).toFixed(2)}`,
      target: 'none',
      pass: undefined,
    },
    {
      name: 'warm /verify p99 ÷ bare p99',
      value: `${bP99OverA.toFixed(2)} (${formatMs(mb.p99)} / ${formatMs(ma.p99)} ms)`,
      target: '≤ 2.00',
      pass: bP99OverA <= 2,
    },
    {
      name: 'warm /validate req/s ÷ bare req/s (c/a)',
      value: `${cOverA.toFixed(2)} (${byRound(mc, ma)})`,
      target: '≥ 0.50',
      pass: cOverA >= 0.5,
    },
    {
      name: `${BIG_STORE.toLocaleString('en-US')} keys ÷ ${SMALL_STORE.toLocaleString('en-US')} keys, warm /verify req/s`,
      value: `${bigOverSmall.toFixed(2)} (${formatRps(ml.requestsPerSecond)} / ${formatRps(ms.requestsPerSecond)}; ${byRound(ml, ms)})`,
      target: 'within 10% (0.90-1.10)',
      pass: Math.abs(bigOverSmall - 1) <= 0.1,
    },
    {
      name: 'bcrypt compares per warm key per process',
      value: `${warmCounts.bcryptCompares} (b+c), ${smallCounts.bcryptCompares} (1k), ${bigCounts.bcryptCompares} (1M)`,
      target: 'exactly 1 each',
      pass: [warmCounts, smallCounts, bigCounts].every((counts) => counts.bcryptCompares === 1),
    },
    {
      name: 'bcrypt compares in the cold burst',
      value: `${coldCompares} for ${distinctPresented} keys`,
      target: 'one per new key',
      pass: coldCompares === distinctPresented && d.keysUsed <= coldKeys.length,
    },
    ...(mp === undefined
      ? []
      : [
          {
            name: 'warm /verify on PostgreSQL req/s ÷ bare req/s (reported, no target)',
            value: `${(mp.requestsPerSecond / ma.requestsPerSecond).toFixed(2)}; ÷ SQLite (b): ${(mp.requestsPerSecond / mb.requestsPerSecond).toFixed(2)}`,
            target: 'none',
            pass: undefined,
          },
        ]),
    {
      name: 'every measured response of (a)-(c), (e), (f), stores was 2xx',
      value: allClean ? 'yes' : 'no',
      target: 'yes (else ratios are void)',
      pass: allClean,
    },
  ];
  progress(`b/e: warm /verify serves ${(mb.requestsPerSecond / e.requestsPerSecond).toFixed(0)}x the requests/s of bcrypt on every request`);
  return { rows, checks, fills, coldSetupMs: cold.setupMs };
}

async function main(): Promise<void> {
  const watchdog = setTimeout(() => {
    console.error(`bench: still running after ${WHOLE_RUN_BOUND_MS / 60000} minutes; stopping every child`);
    cleanUp();
    process.exit(1);
  }, WHOLE_RUN_BOUND_MS);
  watchdog.unref();
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }

  const started = performance.now();
  const cpuList = cpus();
  const cpuModel = cpuList[0]?.model.trim() ?? 'unknown CPU';
  const environment = `${cpuModel}, ${cpuList.length} cores, Node ${process.version}, ${process.platform}/${process.arch}`;
  let run: Run;
  try {
    run = await bench();
  } finally {
    cleanUp();
  }
  const totalS = (performance.now() - started) / 1000;

  const out: string[] = [];
  out.push('');
  out.push(`keygate bench, ${new Date().toISOString()}`);
  out.push(`machine: ${environment}`);
  out.push(
    `method: every server and the load generator (autocannon 8) in separate processes over 127.0.0.1; ` +
      `${CONNECTIONS} connections, no pipelining; ${WARMUP_S} s warmup (discarded) + ${DURATION_S} s measured per scenario ` +
      `((a)-(c), (f) and the stores in ${ROUNDS} interleaved rounds); ` +
      `bcrypt cost ${BCRYPT_COST}; keygate's verify rate limits in memory at ${RATE_LIMIT.toLocaleString('en-US')}/min (checked, never refusing); latencies are exact per-response times of 2xx answers`,
  );
  out.push('');
  out.push(resultsTable(run.rows));
  out.push('');
  out.push(checksTable(run.checks));
  out.push('');
  const [small, big] = run.fills;
  const fillLine = (fill: FillReport | undefined) =>
    fill === undefined
      ? ''
      : `${fill.rows.toLocaleString('en-US')} synthetic rows in ${(fill.insertMs / 1000).toFixed(2)} s ` +
        `(+ WAL checkpoint and sync to disk ${(fill.checkpointMs / 1000).toFixed(2)} s, ${(fill.fileBytes / 1e6).toFixed(0)} MB)`;
  const spreads = run.rows
    .filter((row) => row.result.roundRps.length > 1)
    .map((row) => `${row.label.split(' ')[0] === 'warm' ? row.label.replace('warm /verify, ', '').replace(' in store', '') : row.label.split(' ')[0]} ${(Math.max(...row.result.roundRps) / Math.min(...row.result.roundRps)).toFixed(2)}`);
  // PostgreSQL's own processes are "other" in its row: that is its work, not noise.
  const busiest = Math.max(
    ...run.rows.filter((row) => !row.withDatabaseServer).map((row) => (Number.isFinite(row.result.otherCpu) ? row.result.otherCpu : 0)),
  );
  if (busiest > 0.2) {
    out.push(
      `WARNING: something else used up to ${Math.round(busiest * 100)}% of a core while measuring (column "other"): ` +
        'this run is contaminated; run again on a quiet machine before comparing figures',
    );
  }
  out.push(`noise: req/s max÷min between rounds: ${spreads.join(', ')}; a ratio closer to its target than that is not significant`);
  out.push(`store fill (one transaction, batched INSERTs): ${fillLine(small)}; ${fillLine(big)}`);
  out.push(`cold keys issued through ApiKeyService (real bcrypt, ${BCRYPT_COST}) in ${(run.coldSetupMs / 1000).toFixed(1)} s`);
  out.push(
    'CPU srv/load/other: share of one core used by the server, by the load generator and by anything else (other processes, steal; on PostgreSQL mostly PostgreSQL itself) while measuring',
  );
  const missed = run.checks.filter((check) => check.pass === false).length;
  out.push(missed === 0 ? 'all targets met' : `${missed} target(s) MISSED (reported, not enforced)`);
  out.push(`whole bench: ${totalS.toFixed(0)} s`);
  out.push('');
  out.push('Markdown, for the README:');
  out.push('');
  out.push(markdown(run.rows, run.checks, `${environment}, ${new Date().toISOString().slice(0, 10)}`));
  console.log(out.join('\n'));
}

main().catch((error: unknown) => {
  console.error('bench failed:', error);
  cleanUp();
  process.exit(1);
});
