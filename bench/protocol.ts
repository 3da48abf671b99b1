// Messages between bench/run.ts and its children (over the IPC channel of child_process.fork).

/** A server child, once listening on 127.0.0.1. */
export interface ServerReady {
  type: 'ready';
  port: number;
  /** Keys the child issued through keygate's own service (real bcrypt hashes); may be empty. */
  keys: string[];
  /** Milliseconds the child spent creating those keys. */
  setupMs: number;
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
}

export interface LoadResult {
  type: 'result';
  /** 2xx responses. */
  ok: number;
  /** Responses with another status, by status. */
  otherStatuses: Record<string, number>;
  errors: number;
  timeouts: number;
  /** Length of the run as autocannon timed it. */
  seconds: number;
  /** Latency of every 2xx response, milliseconds, ascending (autocannon's own per-response timing). */
  latencies: number[];
  /** CPU time of the load generator's whole process, start-up included, microseconds. */
  cpuMicros: number;
  /** Keys from rotatingKeys actually put on the wire (more than their number means some were reused). */
  keysUsed: number;
}
