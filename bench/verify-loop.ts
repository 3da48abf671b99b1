import { openKeygate, type Keygate } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { issueKeys, rotatedAwayKey } from './issue.js';
import type { LoopResult } from './protocol.js';
import { runChild } from './serve.js';

// (g) in process, without HTTP: keygate.verifier.verifyNow() called over and over with a warm key
// and with a rotated-away key, on a keygate opened as the server opens its own (same metrics
// observer). What is left of (g)'s HTTP figures once Fastify's error path is taken away.
// The two keys take turns in rounds, so that a slower moment of the machine falls on both.

const WARMUP_CALLS = 10_000;

/** Wall microseconds per call over `calls` calls; counts calls that needed a promise (and awaits them). */
async function timeCalls(keygate: Keygate, key: string, calls: number, valid: boolean): Promise<{ micros: number; promises: number }> {
  const pending: Promise<unknown>[] = [];
  let wrong = 0;
  const started = process.hrtime.bigint();
  for (let i = 0; i < calls; i++) {
    const result = keygate.verifier.verifyNow(key);
    if (result instanceof Promise) pending.push(result);
    else if (result.valid !== valid) wrong += 1;
  }
  const micros = Number(process.hrtime.bigint() - started) / 1000;
  await Promise.all(pending);
  if (wrong > 0) throw new Error(`verify-loop: ${wrong} answers were not ${valid ? 'valid' : 'refusals'}`);
  return { micros, promises: pending.length };
}

async function expectVerification(keygate: Keygate, key: string, valid: boolean): Promise<void> {
  const result = await keygate.verifier.verify(key);
  if (result.valid !== valid) throw new Error(`verify-loop: a ${valid ? 'valid' : 'rotated-away'} key verified ${JSON.stringify(result)}`);
}

async function loop(keygate: Keygate, totalCalls: number, rounds: number): Promise<LoopResult> {
  const [warmKey] = await issueKeys(keygate, 1, 1);
  if (warmKey === undefined) throw new Error('verify-loop: no key issued');
  const wrongKey = await rotatedAwayKey(keygate);
  // Each key once through the whole path (row read, compare), as the server's first request would.
  await expectVerification(keygate, warmKey, true);
  await expectVerification(keygate, wrongKey, false);
  await timeCalls(keygate, warmKey, WARMUP_CALLS, true);
  await timeCalls(keygate, wrongKey, WARMUP_CALLS, false);

  const perRound = Math.ceil(totalCalls / rounds);
  let warmMicros = 0;
  let wrongMicros = 0;
  let promises = 0;
  for (let round = 0; round < rounds; round++) {
    // Alternate which goes first, as the HTTP rounds do.
    const order = round % 2 === 0 ? [true, false] : [false, true];
    for (const valid of order) {
      const timed = await timeCalls(keygate, valid ? warmKey : wrongKey, perRound, valid);
      if (valid) warmMicros += timed.micros;
      else wrongMicros += timed.micros;
      promises += timed.promises;
    }
  }
  const calls = perRound * rounds;
  return { type: 'loop-result', calls, warmMicros: warmMicros / calls, wrongMicros: wrongMicros / calls, promises };
}

runChild(async () => {
  const calls = Number(process.env.BENCH_LOOP_CALLS ?? '200000');
  const rounds = Number(process.env.BENCH_LOOP_ROUNDS ?? '4');
  const keygate = await openKeygate(loadConfig(), (error) => console.error('bench verify-loop: last-use write failed', error));
  const result = await loop(keygate, calls, rounds);
  await keygate.close();
  process.send?.(result, () => process.exit(0));
});
