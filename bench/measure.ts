import { runLoad, type ServerChild } from './children.js';
import type { LoadJob, LoadResult } from './protocol.js';
import { machineBusyMicros, mergeSorted, percentile } from './stats.js';

// One measured load run against one server child, with the CPU every party used meanwhile,
// and the summary of several such runs (rounds) of one scenario.

export interface Slice {
  result: LoadResult;
  /** Wall time from starting the load process to its answer. */
  wallSeconds: number;
  serverMicros: number;
  /** Busy CPU time of the whole machine over the same window; undefined off Linux. */
  machineMicros: number | undefined;
}

export async function measureSlice(server: ServerChild, job: LoadJob): Promise<Slice> {
  const machineBefore = machineBusyMicros();
  const serverBefore = await server.cpuMicros();
  const started = performance.now();
  const result = await runLoad(job);
  const wallSeconds = (performance.now() - started) / 1000;
  const serverAfter = await server.cpuMicros();
  const machineAfter = machineBusyMicros();
  return {
    result,
    wallSeconds,
    serverMicros: serverAfter - serverBefore,
    machineMicros: machineBefore === undefined || machineAfter === undefined ? undefined : machineAfter - machineBefore,
  };
}

export interface Measurement {
  ok: number;
  otherStatuses: Record<string, number>;
  errors: number;
  timeouts: number;
  seconds: number;
  /** Bursts (jobs of a fixed amount): first request sent to last answer, seconds; else undefined. */
  drainSeconds: number | undefined;
  /** Expected answers per second: over the drain time for a burst, over the run for a timed job. */
  requestsPerSecond: number;
  /** requests/s of each round, in order. */
  roundRps: number[];
  p50: number;
  p99: number;
  max: number;
  /** Server CPU time per answered request (any status), microseconds: its cost, whoever is the bottleneck. */
  serverMicrosPerRequest: number;
  /** Shares of one core over the measurement windows. */
  serverCpu: number;
  loadCpu: number;
  /** Busy CPU not used by the server or the load generator (other processes, steal); NaN if unknown. */
  otherCpu: number;
  keysUsed: number;
}

export function summarize(slices: readonly Slice[]): Measurement {
  const sum = (pick: (slice: Slice) => number) => slices.reduce((total, slice) => total + pick(slice), 0);
  const ok = sum((slice) => slice.result.ok);
  const seconds = sum((slice) => slice.result.seconds);
  const drained = slices.every((slice) => slice.result.drainSeconds !== undefined);
  const spanOf = (slice: Slice) => (drained ? (slice.result.drainSeconds as number) : slice.result.seconds);
  const span = sum(spanOf);
  const wall = sum((slice) => slice.wallSeconds);
  const otherStatuses: Record<string, number> = {};
  for (const slice of slices) {
    for (const [status, count] of Object.entries(slice.result.otherStatuses)) {
      otherStatuses[status] = (otherStatuses[status] ?? 0) + count;
    }
  }
  const latencies = mergeSorted(slices.map((slice) => slice.result.latencies));
  const serverMicros = sum((slice) => slice.serverMicros);
  const loadMicros = sum((slice) => slice.result.cpuMicros);
  const machineKnown = slices.every((slice) => slice.machineMicros !== undefined);
  const machineMicros = sum((slice) => slice.machineMicros ?? 0);
  return {
    ok,
    otherStatuses,
    errors: sum((slice) => slice.result.errors),
    timeouts: sum((slice) => slice.result.timeouts),
    seconds,
    drainSeconds: drained ? span : undefined,
    requestsPerSecond: ok / span,
    roundRps: slices.map((slice) => slice.result.ok / spanOf(slice)),
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    max: latencies.length > 0 ? (latencies[latencies.length - 1] as number) : NaN,
    serverMicrosPerRequest: serverMicros / (ok + Object.values(otherStatuses).reduce((x, y) => x + y, 0)),
    serverCpu: serverMicros / 1e6 / wall,
    loadCpu: loadMicros / 1e6 / wall,
    otherCpu: machineKnown ? Math.max(0, machineMicros - serverMicros - loadMicros) / 1e6 / wall : NaN,
    keysUsed: sum((slice) => slice.result.keysUsed),
  };
}
