// Messages between bench/run.ts and its children (over the IPC channel of child_process.fork).

/** A server child, once listening on 127.0.0.1. */
export interface ServerReady {
  type: 'ready';
  port: number;
  /** Keys the child issued through keygate's own service (real bcrypt hashes); may be empty. */
  keys: string[];
  /** Milliseconds the child spent creating those keys. */
  setupMs: number;
  /** With BENCH_ROTATED_AWAY=1: a key the child issued and then rotated, so it is refused for good. */
  rotatedAway?: string;
  /** With BENCH_AUTHORITY_KEY=1: a key with scopes and metadata, for (h). */
  authorityKey?: string;
}

/** Asked by the parent, answered by a server child: its own CPU time so far. */
export interface CpuQuery {
  type: 'cpu';
}

export interface CpuAnswer {
  type: 'cpu';
  /** process.cpuUsage() user + system, in microseconds. */
  micros: number;
}

export interface StopRequest {
  type: 'stop';
}

export type ToServer = CpuQuery | StopRequest;

/** One load job for bench/load.ts. */
export interface LoadJob {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  connections: number;
  /** Either for this many seconds ... */
  durationSeconds?: number;
  /** ... or until this many responses have arrived. */
  amount?: number;
  /** When given, request i carries x-api-key: rotatingKeys[i] (each key once, in order). */
  rotatingKeys?: string[];
  /** Seconds before a single request counts as timed out. */
  timeoutSeconds: number;
  /** The status every response should have (its latencies are the ones recorded); any 2xx when absent. */
  expectedStatus?: number;
}

export interface LoadResult {
  type: 'result';
  /** Responses with the expected status (LoadJob.expectedStatus, else any 2xx). */
  ok: number;
  /** Responses with any other status, by status. */
  otherStatuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Length of the run as autocannon timed it. */
  seconds: number;
  /**
   * Jobs with an `amount` only: from the first request written to the last answer read, seconds
   * (what a burst takes to drain; autocannon's own duration also counts its connecting).
   */
  drainSeconds?: number;
  /** Latency of every expected response, milliseconds, ascending (autocannon's own per-response timing). */
  latencies: number[];
  /** CPU time of the load generator's whole process, start-up included, microseconds. */
  cpuMicros: number;
  /** Keys from rotatingKeys actually put on the wire (more than their number means some were reused). */
  keysUsed: number;
}

/** The one answer of bench/verify-loop.ts (asked by its environment: BENCH_LOOP_CALLS, BENCH_LOOP_ROUNDS). */
export interface LoopResult {
  type: 'loop-result';
  calls: number;
  /** Wall time per call, microseconds: a warm key, and a key rotated away (a remembered refusal). */
  warmMicros: number;
  wrongMicros: number;
  /** Calls that returned a promise instead of settling at once (0 when both stay in memory). */
  promises: number;
}
