import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Counter, Histogram, Registry } from 'prom-client';
import { createMetrics } from '../src/metrics.js';

// The verifier's four series are tallied in plain numbers and handed to prom-client only when
// scraped. Whoever scrapes must not be able to tell: the same observations fed to prom-client's
// own Counter and Histogram must read exactly the same.

const COUNTERS = ['keygate_verifications_total', 'keygate_verify_cache_total', 'keygate_key_row_reads_total', 'keygate_key_hash_compares_total'];
const HISTOGRAM = 'keygate_verification_duration_seconds';

type Labels = Record<string, string | number>;

/** Each series of `name` in `registry`, as prom-client's JSON gives them. */
async function seriesOf(registry: Registry, name: string): Promise<{ help: string; values: { labels: Labels; value: number }[] }> {
  const metric = (await registry.getMetricsAsJSON()).find((candidate) => candidate.name === name);
  assert.ok(metric, `${name} is registered`);
  return metric as unknown as { help: string; values: { labels: Labels; value: number }[] };
}

test("the verifier's series read exactly as prom-client's own Counter and Histogram give them", async () => {
  const { registry, verifier } = createMetrics();
  const times: [Parameters<typeof verifier.verified>[0], number][] = [
    ['valid', 0.00003],
    ['valid', 0.001], // exactly on a bucket's bound: counted in that bucket
    ['unknown', 0],
    ['expired', 2], // beyond the last bound: only in +Inf
  ];
  for (const [result, seconds] of times) verifier.verified(result, seconds);
  for (const hit of [true, true, false]) verifier.warmCache(hit);
  for (let i = 0; i < 3; i++) verifier.hashCompared();
  for (let i = 0; i < 4; i++) verifier.rowRead();

  const reference = new Registry();
  for (const name of COUNTERS) {
    const ours = await seriesOf(registry, name);
    const labelNames = Object.keys(ours.values[0]?.labels ?? {});
    const counter = new Counter({ name, help: ours.help, labelNames, registers: [reference] });
    // The same label sets in the same order, present from zero as ours are.
    for (const { labels } of ours.values) counter.inc(labels, 0);
  }
  const [verifications, cache, rowReads, compares] = COUNTERS.map((name) => reference.getSingleMetric(name) as Counter);
  for (const [result] of times) verifications?.inc({ result });
  cache?.inc({ outcome: 'hit' }, 2);
  cache?.inc({ outcome: 'miss' });
  compares?.inc(3);
  rowReads?.inc(4);
  const ourDurations = await seriesOf(registry, HISTOGRAM);
  const buckets = ourDurations.values.map((value) => value.labels.le).filter((le): le is number => typeof le === 'number');
  assert.ok(buckets.length > 5, `buckets: ${buckets}`);
  const durations = new Histogram({ name: HISTOGRAM, help: ourDurations.help, buckets, registers: [reference] });
  for (const [, seconds] of times) durations.observe(seconds);

  for (const name of [...COUNTERS, HISTOGRAM]) {
    assert.equal(await registry.getSingleMetricAsString(name), await reference.getSingleMetricAsString(name), name);
  }
  assert.match(await registry.metrics(), /^keygate_verification_duration_seconds_bucket\{le="0.001"\} 3$/m);
});

test('resetting the registry zeroes the tallies too', async () => {
  const { registry, verifier } = createMetrics();
  verifier.verified('valid', 0.002);
  verifier.warmCache(false);
  verifier.rowRead();
  verifier.hashCompared();
  registry.resetMetrics();
  for (const name of [...COUNTERS, HISTOGRAM]) {
    const { values } = await seriesOf(registry, name);
    assert.ok(values.length > 0, name);
    assert.deepEqual(
      values.filter((series) => series.value !== 0),
      [],
      `${name} after a reset`,
    );
  }
});
