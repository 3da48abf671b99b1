import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDatabase, postgresBinaries, startPostgres } from '../tests/support/postgres.js';
import type { HashScheme } from '../src/keys/hashing.js';
import { killAllChildren, runLoad, runVerifyLoop, startServer, type ServerChild } from './children.js';
import { fillSynthetic, type FillReport } from './fill.js';
import { measureSlice, summarize, type Measurement, type Slice } from './measure.js';
import { openWriter, revokeLatency, revokeLatencyFrozen, whileChanging, type RevokeLatency } from './change-feed.js';
import { readVerifierCounts, type VerifierCounts } from './metrics.js';
import type { LoadJob, LoopResult } from './protocol.js';
import { checksTable, formatMs, formatRps, markdown, resultsTable, type Check, type Row } from './report.js';

// npm run bench: every server under test in a child process of its own, autocannon in another,
// over loopback, each scenario bounded in time, the whole run bounded too. It reports; it
// asserts nothing and exits 0 whether targets are met or missed (a MISS is printed as such).
//
// Knobs (environment): BENCH_DURATION (s measured per scenario, default 6, in BENCH_ROUNDS
// interleaved rounds, default 4), BENCH_WARMUP (s, default 2), BENCH_CONNECTIONS (default 10),
// BENCH_COLD_KEYS (default 200), BENCH_RESTART_KEYS (default 1000), BENCH_BIG_STORE (default
// 1000000), BENCH_LOOP_CALLS (default 200000), BENCH_CPU_PROF=<folder> (every server child runs
// under node --cpu-prof; summarize with dist/bench/profile-top.js).

const number = (name: string, fallback: number): number => {
  const raw = process.env[name];
  const value = raw === undefined || raw === '' ? fallback : Number(raw);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`${name} must be a positive number, got "${raw}"`);
  return value;
};

const DURATION_S = number('BENCH_DURATION', 6);
const ROUNDS = Math.round(number('BENCH_ROUNDS', 4));
const WARMUP_S = number('BENCH_WARMUP', 2);
/** (k): revokes timed with every instance answering, and with one frozen (each waits out a lease). */
const FEED_REVOKES = Math.round(number('BENCH_FEED_REVOKES', 300));
const FEED_FROZEN_REVOKES = Math.round(number('BENCH_FEED_FROZEN_REVOKES', 3));
const FEED_CHANGES_PER_S = 50;
/** The PostgreSQL instances' lease (keygate's default). */
const FEED_LEASE_MS = 3000;
const FEED_LEASE = { KEYGATE_LEASE_MS: String(FEED_LEASE_MS) };
const CONNECTIONS = number('BENCH_CONNECTIONS', 10);
const COLD_KEYS = number('BENCH_COLD_KEYS', 200);
const RESTART_KEYS = number('BENCH_RESTART_KEYS', 1_000);
const RESTART_CONNECTIONS = 50;
const LOOP_CALLS = number('BENCH_LOOP_CALLS', 200_000);
const HASH_SCHEMES: readonly HashScheme[] = ['bcrypt', 'hmac-sha256'];
const SMALL_STORE = 1_000;
const BIG_STORE = number('BENCH_BIG_STORE', 1_000_000);
const BCRYPT_COST = 10;
/** Per minute, per key and per address: the most keygate accepts, far above what a run sends. */
const RATE_LIMIT = 100_000_000;
const REQUEST_TIMEOUT_S = 10;
// First verifications of bcrypt keys wait in keygate's bounded queue (KEYGATE_BCRYPT_QUEUE_WAIT_MS,
// 30 s by default) and are answered 503 beyond it: the load generator waits longer than that, so
// that what is measured is keygate's answer, never the load generator giving up first.
const FIRST_SIGHT_TIMEOUT_S = 60;
// A child's start is bounded by its key issuing: bcrypt cost 10 takes about 35 ms a key on the
// 2-core machine the README reports (1,000 keys in ~35 s); this allows six times that.
const START_BOUND_MS = 120_000;
const ISSUE_BOUND_MS_PER_KEY = 200;
const PROFILE_DIR = process.env.BENCH_CPU_PROF ? resolve(process.env.BENCH_CPU_PROF) : undefined;
// The whole bench, whatever happens: beyond this every child is killed and the run fails. About
// 5 minutes on a quiet 2-core machine, most of it (w) with bcrypt (1,000 keys issued, then
// verified: ~35 s each) and the interleaved rounds; the bound leaves twice that for a busy one.
const WHOLE_RUN_BOUND_MS = 11 * 60 * 1000;

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
  firstSights: FirstSight[];
  loop: LoopResult;
}

interface Scenario {
  label: string;
  server: ServerChild;
  job: LoadJob;
  slices: Slice[];
}

/** First verifications of distinct keys, each presented once: the cold burst (d) and the restart (w). */
interface FirstSight {
  label: string;
  result: Measurement;
  /** Keys presented, each exactly once. */
  keys: number;
  compares: number;
  /** Keys the measured process issued itself: the restarted one must issue none. */
  issuedByMeasured: number;
  /** Issuing the keys, and for a restart starting the new process, milliseconds. */
  issueMs: number;
  restartMs: number | undefined;
}

const integer = (n: number) => n.toLocaleString('en-US');

function startKeygate(name: string, databaseUrl: string, realKeys: number, extra: Record<string, string> = {}): Promise<ServerChild> {
  return startServer('server-keygate.js', keygateEnv(databaseUrl, { BENCH_REAL_KEYS: String(realKeys), ...extra }), {
    execArgv: execArgvFor(name),
    startTimeoutMs: START_BOUND_MS + realKeys * ISSUE_BOUND_MS_PER_KEY,
  });
}

/** Presents every key once over `connections` connections at once, and counts the hash compares that took. */
async function verifyEachOnce(server: ServerChild, keys: string[], connections: number): Promise<{ result: Measurement; compares: number }> {
  const before = await readVerifierCounts(server.baseUrl);
  const burst = job(server, VERIFY, undefined, {
    connections,
    durationSeconds: undefined,
    amount: keys.length,
    rotatingKeys: keys,
    expectedStatus: 200,
    timeoutSeconds: FIRST_SIGHT_TIMEOUT_S,
  });
  const result = summarize([await measureSlice(server, burst)]);
  const after = await readVerifierCounts(server.baseUrl);
  return { result, compares: after.hashCompares - before.hashCompares };
}

/**
 * (d) COLD_KEYS first verifications of distinct keys, all at once (a connection per key), on a
 * keygate that has served one other key for the warmup: its code is warm, its keys are not.
 */
async function coldBurst(scheme: HashScheme, label: string): Promise<FirstSight> {
  progress(`${label}: issuing ${COLD_KEYS + 1} keys`);
  const server = await startKeygate(`d-cold-${scheme}`, `sqlite:${newDatabasePath()}`, COLD_KEYS + 1, { KEYGATE_KEY_HASH: scheme });
  const [warmupKey, ...keys] = server.keys;
  if (warmupKey === undefined) throw new Error('the keygate child issued no key');
  progress(`${label}: ${keys.length} first verifications at once (keys issued in ${(server.setupMs / 1000).toFixed(1)} s)`);
  await runLoad({ ...job(server, VERIFY, warmupKey), durationSeconds: WARMUP_S });
  const { result, compares } = await verifyEachOnce(server, keys, keys.length);
  await server.stop();
  return { label, result, keys: keys.length, compares, issuedByMeasured: 0, issueMs: server.setupMs, restartMs: undefined };
}

/**
 * (w) A keygate issues RESTART_KEYS keys and is stopped; a new one on the same database file
 * (issuing nothing) then sees each key once, RESTART_CONNECTIONS at a time, with no warmup:
 * what a restart costs before every client is served from memory again.
 */
async function afterRestart(scheme: HashScheme, label: string): Promise<FirstSight> {
  const databaseUrl = `sqlite:${newDatabasePath()}`;
  const env = { KEYGATE_KEY_HASH: scheme };
  progress(`${label}: issuing ${integer(RESTART_KEYS)} keys`);
  const issuer = await startKeygate(`w-issue-${scheme}`, databaseUrl, RESTART_KEYS, env);
  await issuer.stop();
  progress(`${label}: restarted, ${integer(issuer.keys.length)} first verifications (keys issued in ${(issuer.setupMs / 1000).toFixed(1)} s)`);
  const restarted = await startKeygate(`w-restart-${scheme}`, databaseUrl, 0, env);
  // (autocannon refuses more connections than requests: only a BENCH_RESTART_KEYS below 50 needs the min)
  const { result, compares } = await verifyEachOnce(restarted, issuer.keys, Math.min(RESTART_CONNECTIONS, issuer.keys.length));
  await restarted.stop();
  return {
    label,
    result,
    keys: issuer.keys.length,
    compares,
    issuedByMeasured: restarted.keys.length,
    issueMs: issuer.setupMs,
    restartMs: restarted.startMs,
  };
}

interface GFirstSight {
  status: number;
  before: VerifierCounts;
  after: VerifierCounts;
}

/**
 * One request alone with `key`, and the keygate's counters around it. Alone, since concurrent
 * first requests each read the row (only their compare is shared): one request, one row read.
 */
async function firstSightOf(server: ServerChild, key: string): Promise<GFirstSight> {
  const before = await readVerifierCounts(server.baseUrl);
  const response = await fetch(server.baseUrl + VERIFY, { method: 'POST', headers: { 'x-api-key': key }, signal: AbortSignal.timeout(REQUEST_TIMEOUT_S * 1000) });
  await response.arrayBuffer();
  return { status: response.status, before, after: await readVerifierCounts(server.baseUrl) };
}

function firstSightRow(sight: FirstSight): Row {
  const restart = sight.restartMs === undefined ? '' : `; restart to listening ${(sight.restartMs / 1000).toFixed(1)} s`;
  return { label: sight.label, result: sight.result, note: `${integer(sight.compares)} hash compares for ${integer(sight.result.keysUsed)} keys presented${restart}` };
}

/** Every answer of a status, e.g. "200× 200" or "180× 200, 20× 503, 1 errors". */
function answers(result: Measurement): string {
  const parts = [`${integer(result.ok)}× 200`, ...Object.entries(result.otherStatuses).map(([status, count]) => `${integer(count)}× ${status}`)];
  if (result.errors > 0) parts.push(`${result.errors} errors (${result.timeouts} timeouts)`);
  return parts.join(', ');
}

/** The two checks of a kind of first verifications: every answer a 200 for each key once, and one compare per key. */
function firstSightChecks(what: string, sights: FirstSight[], restart: boolean): Check[] {
  const tag = (sight: FirstSight) => sight.label.split(' ')[0] ?? sight.label;
  const allAnswered = (sight: FirstSight) =>
    sight.result.ok === sight.keys && sight.result.errors === 0 && Object.keys(sight.result.otherStatuses).length === 0 && sight.result.keysUsed === sight.keys;
  return [
    {
      name: `${sights.map(tag).join(', ')} ${what}: every answer 200, each key presented once${restart ? '; the restart issued no key' : ''}`,
      value: sights
        .map((sight) => `${tag(sight)} ${answers(sight.result)} (${integer(sight.result.keysUsed)} presented)${restart ? `, ${sight.issuedByMeasured} issued` : ''}`)
        .join('; '),
      target: `all 200${restart ? ', 0 issued' : ''}`,
      pass: sights.every((sight) => allAnswered(sight) && sight.issuedByMeasured === 0),
    },
    {
      name: `hash compares in ${sights.map(tag).join(', ')}`,
      value: sights.map((sight) => `${tag(sight)} ${integer(sight.compares)} for ${integer(sight.keys)} keys`).join('; '),
      target: 'one per key',
      pass: sights.every((sight) => sight.compares === sight.keys),
    },
  ];
}

async function bench(): Promise<Run> {
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

  // Phase 1, the ratios: every server of (a), (f), (b), (c), (g) and the two stores is up at once
  // and the scenarios take turns in rounds, so that whatever else the machine does meanwhile
  // falls on all of them alike rather than on whichever ran at that moment.
  progress('starting the bare route, the floor, a warm keygate and the two store keygates');
  const bare = await startServer('server-bare.js', process.env, { execArgv: execArgvFor('a-bare'), startTimeoutMs: 30_000 });
  const floor = await startServer('server-bare.js', { ...process.env, BENCH_FLOOR: '1' }, {
    execArgv: execArgvFor('f-floor'),
    startTimeoutMs: 30_000,
  });
  const warm = await startKeygate('bcg-warm', `sqlite:${newDatabasePath()}`, 1, { BENCH_ROTATED_AWAY: '1', BENCH_AUTHORITY_KEY: '1' });
  const small = await startKeygate('store-small', `sqlite:${storePaths[0]}`, 1);
  const big = await startKeygate('store-big', `sqlite:${storePaths[1]}`, 1);
  // The same warm /verify on PostgreSQL (a throwaway cluster from the machine's binaries),
  // where every verification reads its row: the price of exactness across instances.
  const postgres = postgresBinaries() === undefined ? undefined : await startPostgres();
  const postgresDatabase = postgres === undefined ? undefined : await createDatabase(postgres.adminUrl);
  if (postgres === undefined) progress('PostgreSQL is not installed: its row is left out (apt-get install postgresql)');
  const onPostgres = postgresDatabase === undefined ? undefined : await startKeygate('pg-warm', postgresDatabase.url, 1, FEED_LEASE);
  const scenario = (label: string, server: ServerChild, path: string, key: string, overrides: Partial<LoadJob> = {}): Scenario => ({
    label,
    server,
    job: job(server, path, key, { durationSeconds: DURATION_S / ROUNDS, ...overrides }),
    slices: [],
  });
  const rotatedAway = warm.rotatedAway;
  if (rotatedAway === undefined) throw new Error('the warm keygate child rotated no key away');
  const scoped = warm.authorityKey;
  if (scoped === undefined) throw new Error('the warm keygate child issued no key with scopes and metadata');
  const a = scenario('(a) bare Fastify route (ceiling)', bare, VERIFY, 'mcpkey_live_bench');
  const f = scenario('(f) floor: bare route + HMAC + lease check', floor, VERIFY, firstKey(warm));
  const b = scenario('(b) warm /verify', warm, VERIFY, firstKey(warm));
  const c = scenario('(c) warm /validate (key -> JWT)', warm, VALIDATE, firstKey(warm));
  // (g) the same warm keygate, asked over and over about a key rotated away: 401 is its answer.
  const g = scenario('(g) repeated wrong key (rotated away), /verify', warm, VERIFY, rotatedAway, { expectedStatus: 401 });
  // (h) the same warm keygate, a key with 5 scopes and metadata: the same request as (b)'s.
  const h = scenario('(h) warm /verify, key with scopes + metadata', warm, VERIFY, scoped);
  // (h2) the same key, the caller requiring one of its scopes.
  const h2 = scenario('(h2) warm /verify, key with scopes + metadata, ?scope=tools:read', warm, `${VERIFY}?scope=tools:read`, scoped);
  const s = scenario(`warm /verify, ${SMALL_STORE.toLocaleString('en-US')} keys in store`, small, VERIFY, firstKey(small));
  const l = scenario(`warm /verify, ${BIG_STORE.toLocaleString('en-US')} keys in store`, big, VERIFY, firstKey(big));
  const p = onPostgres === undefined ? undefined : scenario('warm /verify on PostgreSQL', onPostgres, VERIFY, firstKey(onPostgres));
  // (g) warms up last, after its key's first sight, so that the warm keygate's counters tell that
  // first sight from (b)'s and (c)'s first sights, and from everything after it.
  const turns = p === undefined ? [a, f, b, h, h2, c, s, l, g] : [a, f, b, h, h2, c, s, l, p, g];
  progress(`warmup: ${WARMUP_S} s each`);
  let gSight: GFirstSight | undefined;
  for (const turn of turns) {
    if (turn === g) gSight = await firstSightOf(warm, rotatedAway);
    await runLoad({ ...turn.job, durationSeconds: WARMUP_S });
  }
  if (gSight === undefined) throw new Error('(g) was not warmed up');
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
  await Promise.all([bare.stop(), floor.stop(), warm.stop(), small.stop(), big.stop()]);
  // (k) the change feed: three instances on the PostgreSQL database, the first of them (p)'s.
  const feed = onPostgres === undefined || postgresDatabase === undefined ? undefined : await changeFeedPhase(onPostgres, postgresDatabase.url);
  await onPostgres?.stop();
  await postgresDatabase?.drop();
  await postgres?.stop();

  // (d), (d2) the cold burst and (w), (w2) the restart, each with both hash schemes.
  const bursts: FirstSight[] = [];
  const restarts: FirstSight[] = [];
  for (const [i, scheme] of HASH_SCHEMES.entries()) {
    bursts.push(await coldBurst(scheme, `(d${i === 0 ? '' : i + 1}) cold burst, ${COLD_KEYS} new keys, ${scheme}`));
  }
  for (const [i, scheme] of HASH_SCHEMES.entries()) {
    restarts.push(await afterRestart(scheme, `(w${i === 0 ? '' : i + 1}) ${integer(RESTART_KEYS)} keys after a restart, ${scheme}`));
  }

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

  // (g) in process: the verifier alone, without Fastify.
  progress(`(g) in process: verifyNow() ${integer(LOOP_CALLS)} times with a warm key and with a rotated-away key`);
  const loop = await runVerifyLoop(
    keygateEnv(`sqlite:${newDatabasePath()}`, { BENCH_LOOP_CALLS: String(LOOP_CALLS), BENCH_LOOP_ROUNDS: String(ROUNDS) }),
    START_BOUND_MS,
  );

  const [ma, mf, mb, mh, mh2, mc, mg, ms, ml] = [a, f, b, h, h2, c, g, s, l].map((turn) => summarize(turn.slices)) as [
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
    Measurement,
  ];
  const compares = (n: number) => `hash compares in process: ${n}`;
  const rows: Row[] = [
    { label: a.label, result: ma, note: '' },
    { label: f.label, result: mf, note: 'the least an exact warm hit does; no cache, limits, metrics or logger' },
    { label: b.label, result: mb, note: compares(warmCounts.hashCompares) + ' (b, h, h2, c and g together)' },
    { label: h.label, result: mh, note: 'same keygate as (b); its scopes and metadata in every answer' },
    { label: h2.label, result: mh2, note: 'same key as (h); the required scope read and checked' },
    { label: c.label, result: mc, note: compares(warmCounts.hashCompares) + ' (b, h, h2, c and g together)' },
    { label: g.label, result: mg, note: 'same keygate as (b); 401 expected' },
    ...bursts.map(firstSightRow),
    ...restarts.map(firstSightRow),
    { label: '(e) naive: bcrypt every request', result: e, note: 'no database read at all' },
    { label: s.label, result: ms, note: compares(smallCounts.hashCompares) },
    { label: l.label, result: ml, note: compares(bigCounts.hashCompares) },
  ];
  const mp = p === undefined ? undefined : summarize(p.slices);
  if (p !== undefined && mp !== undefined) {
    rows.push({
      label: p.label,
      result: mp,
      note: `${compares(postgresCounts?.hashCompares ?? 0)}; row reads in all: ${postgresCounts?.rowReads ?? 0} (none while its lease holds)`,
      withDatabaseServer: true,
    });
  }

  // Ratios and targets, all within this one run.
  const bOverA = mb.requestsPerSecond / ma.requestsPerSecond;
  const bP99OverA = mb.p99 / ma.p99;
  const cOverA = mc.requestsPerSecond / ma.requestsPerSecond;
  const bigOverSmall = ml.requestsPerSecond / ms.requestsPerSecond;
  const gOverBMicros = mg.serverMicrosPerRequest / mb.serverMicrosPerRequest;
  // The same ratio round by round: how much of it is the code and how much the moment.
  const byRound = (x: Measurement, y: Measurement) =>
    `rounds ${x.roundRps.map((rps, i) => (rps / (y.roundRps[i] ?? NaN)).toFixed(2)).join(' ')}`;
  const clean = (m: Measurement) => m.errors === 0 && Object.keys(m.otherStatuses).length === 0;
  const allClean = [ma, mf, mb, mh, mh2, mc, mg, ms, ml, e, ...(mp === undefined ? [] : [mp])].every(clean);
  // The warm keygate's counters: (b) and (c) first (their warmups), then (g)'s first sight, then
  // (g)'s warmup and the measured rounds of all three, which should read no row and compare no hash.
  const { before: beforeG, after: afterG } = gSight;
  const gFirst = { compares: afterG.hashCompares - beforeG.hashCompares, reads: afterG.rowReads - beforeG.rowReads };
  const later = { compares: warmCounts.hashCompares - afterG.hashCompares, reads: warmCounts.rowReads - afterG.rowReads };
  const measuredOfWarm = [mb, mh, mh2, mc, mg].reduce((total, m) => total + m.ok + Object.values(m.otherStatuses).reduce((x, y) => x + y, 0), 0);
  const checks: Check[] = [
    {
      name: 'warm /verify req/s ÷ bare req/s (b/a)',
      value: `${bOverA.toFixed(2)} (${byRound(mb, ma)})`,
      target: '≥ 0.75',
      pass: bOverA >= 0.75,
    },
    {
      name: 'key with scopes + metadata ÷ plain key, each ÷ bare (h/a ÷ b/a)',
      value: `${(mh.requestsPerSecond / mb.requestsPerSecond).toFixed(2)} (h/a ${(mh.requestsPerSecond / ma.requestsPerSecond).toFixed(2)}, b/a ${bOverA.toFixed(2)}; ${byRound(mh, mb)})`,
      target: '≥ 0.95',
      pass: mh.requestsPerSecond / mb.requestsPerSecond >= 0.95,
    },
    {
      name: 'the same key, one scope required ÷ plain key (h2/b; reported, no target)',
      value: `${(mh2.requestsPerSecond / mb.requestsPerSecond).toFixed(2)} (${byRound(mh2, mb)})`,
      target: 'none',
      pass: undefined,
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
      name: 'repeated wrong key ÷ warm key, server µs/req (g/b)',
      value: `${gOverBMicros.toFixed(2)} (${formatRps(mg.serverMicrosPerRequest)} / ${formatRps(mb.serverMicrosPerRequest)} µs)`,
      target: '≤ 1.00',
      pass: gOverBMicros <= 1,
    },
    {
      name: 'repeated wrong key ÷ warm key, req/s (g/b; reported, no target)',
      value: `${(mg.requestsPerSecond / mb.requestsPerSecond).toFixed(2)} (${byRound(mg, mb)})`,
      target: 'none',
      pass: undefined,
    },
    {
      name: 'repeated wrong key ÷ warm key, verifyNow() in process, µs/call (reported, no target)',
      value:
        `${(loop.wrongMicros / loop.warmMicros).toFixed(2)} (${loop.wrongMicros.toFixed(2)} / ${loop.warmMicros.toFixed(2)} µs, ` +
        `${integer(loop.calls)} calls each${loop.promises > 0 ? `; ${loop.promises} needed a promise` : ''})`,
      target: 'none',
      pass: undefined,
    },
    {
      name: '(g) repeated wrong key: hash compares, row reads',
      value:
        `${gFirst.compares}, ${gFirst.reads} for its first request (HTTP ${gSight.status}); then ${later.compares}, ${later.reads} ` +
        `over (g)'s warmup and the ${integer(measuredOfWarm)} measured requests of (b), (c), (g)`,
      target: '1, 1; then 0, 0',
      pass: gSight.status === 401 && gFirst.compares === 1 && gFirst.reads === 1 && later.compares === 0 && later.reads === 0,
    },
    {
      name: `${BIG_STORE.toLocaleString('en-US')} keys ÷ ${SMALL_STORE.toLocaleString('en-US')} keys, warm /verify req/s`,
      value: `${bigOverSmall.toFixed(2)} (${formatRps(ml.requestsPerSecond)} / ${formatRps(ms.requestsPerSecond)}; ${byRound(ml, ms)})`,
      target: 'within 10% (0.90-1.10)',
      pass: Math.abs(bigOverSmall - 1) <= 0.1,
    },
    {
      name: 'hash compares per warm key per process',
      // The warm keygate holds two warm keys: (b) and (c)'s, and (h)'s.
      value: `${beforeG.hashCompares} for 2 keys (b+c, h), ${smallCounts.hashCompares} (1k), ${bigCounts.hashCompares} (1M)`,
      target: 'exactly 1 each',
      pass: beforeG.hashCompares === 2 && [smallCounts, bigCounts].every((counts) => counts.hashCompares === 1),
    },
    ...firstSightChecks('cold burst', bursts, false),
    ...firstSightChecks('after a restart', restarts, true),
    ...(mp === undefined
      ? []
      : [
          {
            name: 'warm /verify on PostgreSQL req/s ÷ warm /verify on SQLite req/s (p/b)',
            value: `${(mp.requestsPerSecond / mb.requestsPerSecond).toFixed(2)} (${byRound(mp, mb)}); ÷ bare (p/a): ${(mp.requestsPerSecond / ma.requestsPerSecond).toFixed(2)}`,
            target: '≥ 0.90',
            pass: mp.requestsPerSecond / mb.requestsPerSecond >= 0.9,
          },
        ]),
    ...(feed === undefined ? [] : changeFeedChecks(feed)),
    {
      name: 'every measured response of (a)-(c), (e), (f), (g), stores as expected (2xx; 401 for g)',
      value: allClean ? 'yes' : 'no',
      target: 'yes (else ratios are void)',
      pass: allClean,
    },
  ];
  progress(`b/e: warm /verify serves ${(mb.requestsPerSecond / e.requestsPerSecond).toFixed(0)}x the requests/s of bcrypt on every request`);
  return { rows, checks, fills, firstSights: [...bursts, ...restarts], loop };
}

interface FeedRun {
  revokes: RevokeLatency;
  frozen: RevokeLatency;
  quiet: Measurement;
  churning: Measurement;
  changesPerSecond: number;
}

/**
 * (k) Two more instances beside `first` on its PostgreSQL database, this process as the writer:
 * revoke latency with all three listening and with one frozen, and `first`'s warm /verify
 * throughput with no changes and with FEED_CHANGES_PER_S changes a second being made.
 */
async function changeFeedPhase(first: ServerChild, databaseUrl: string): Promise<FeedRun> {
  progress('(k) change feed: three instances on PostgreSQL, revoke latency, and throughput under changes');
  const others = await Promise.all(['pg-b', 'pg-c'].map((name) => startKeygate(name, databaseUrl, 1, FEED_LEASE)));
  const writer = await openWriter(databaseUrl, keygateEnv(databaseUrl));
  try {
    const revokes = await revokeLatency(writer, 'three instances', FEED_REVOKES);
    const frozen = await revokeLatencyFrozen(writer, others[1]!, 'one of three frozen', FEED_FROZEN_REVOKES);
    const verifyJob = job(first, VERIFY, firstKey(first), { durationSeconds: DURATION_S / ROUNDS });
    await runLoad({ ...verifyJob, durationSeconds: WARMUP_S });
    const quiet = summarize([await measureSlice(first, verifyJob)]);
    const churn = await whileChanging(writer, FEED_CHANGES_PER_S, async () => summarize([await measureSlice(first, verifyJob)]));
    return { revokes, frozen, quiet, churning: churn.result, changesPerSecond: churn.changesPerSecond };
  } finally {
    await writer.close();
    await Promise.all(others.map((other) => other.stop()));
  }
}

function changeFeedChecks(feed: FeedRun): Check[] {
  const ms = (value: number) => value.toFixed(1);
  return [
    {
      name: `revoke latency, three instances listening (p50, p99 over ${feed.revokes.samples})`,
      value: `${ms(feed.revokes.p50Ms)} ms, ${ms(feed.revokes.p99Ms)} ms (max ${ms(feed.revokes.maxMs)} ms)`,
      target: 'p99 ≤ 25 ms',
      pass: feed.revokes.p99Ms <= 25,
    },
    {
      name: `revoke latency, one of three frozen (max over ${feed.frozen.samples}: the first waits out the lease, ${FEED_LEASE_MS} ms)`,
      value: `${ms(feed.frozen.maxMs)} ms (then p50 ${ms(feed.frozen.p50Ms)} ms: nobody waits for an instance whose lease ran out)`,
      target: `≤ the lease (${FEED_LEASE_MS} ms) + 100 ms`,
      pass: feed.frozen.maxMs <= FEED_LEASE_MS + 100,
    },
    {
      name: `warm /verify on PostgreSQL while ${feed.changesPerSecond.toFixed(0)} changes/s are made to another key ÷ with none (reported, no target)`,
      value: `${(feed.churning.requestsPerSecond / feed.quiet.requestsPerSecond).toFixed(2)} (${formatRps(feed.churning.requestsPerSecond)} / ${formatRps(feed.quiet.requestsPerSecond)} req/s)`,
      target: 'none',
      pass: undefined,
    },
  ];
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
      `((a)-(c), (f), (g) and the stores in ${ROUNDS} interleaved rounds); ` +
      `(d) ${COLD_KEYS} keys at once, a connection each; (w) ${integer(RESTART_KEYS)} keys over ${RESTART_CONNECTIONS} connections, no warmup; each key once, request timeout ${FIRST_SIGHT_TIMEOUT_S} s; ` +
      `"drain s": first request sent to last answer, and their req/s over it; ` +
      `bcrypt cost ${BCRYPT_COST}; keygate's verify rate limits in memory at ${RATE_LIMIT.toLocaleString('en-US')}/min (checked, never refusing); ` +
      `latencies are exact per-response times of expected answers (2xx; 401 for g)`,
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
  out.push(
    `keys issued through ApiKeyService (real hashes): ` +
      run.firstSights.map((sight) => `${sight.label.split(' ')[0]} ${integer(sight.keys)} in ${(sight.issueMs / 1000).toFixed(1)} s`).join(', '),
  );
  out.push(
    `(g) in process, verifyNow() over ${integer(run.loop.calls)} calls each: warm key ${run.loop.warmMicros.toFixed(2)} µs/call, ` +
      `rotated-away key ${run.loop.wrongMicros.toFixed(2)} µs/call`,
  );
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
