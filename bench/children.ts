import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CpuAnswer, LoadJob, LoadResult, LoopResult, ServerReady, ToServer } from './protocol.js';

// Every process the bench starts goes through here, so that all of them can be ended (each by
// its own pid) when the bench finishes, fails or is interrupted.

const here = dirname(fileURLToPath(import.meta.url));
const live = new Set<ChildProcess>();

export function killAllChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  live.clear();
}

function start(script: string, env: NodeJS.ProcessEnv, execArgv: string[] = []): ChildProcess {
  const child = fork(join(here, script), [], { env, execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  live.add(child);
  child.once('exit', () => live.delete(child));
  return child;
}

/** The first message of `type` from `child`, or a rejection when it exits or `ms` pass first. */
function expectMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], ms: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`${what}: no answer within ${ms / 1000} s`)), ms);
    const onMessage = (message: { type?: string }) => {
      if (message?.type === type) finish(undefined, message as T);
    };
    const onExit = (code: number | null, signal: string | null) =>
      finish(new Error(`${what}: exited (${signal ?? `status ${code}`}) before answering`));
    const finish = (error: Error | undefined, value?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) {
        child.kill('SIGKILL');
        reject(error);
      } else resolve(value as T);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export interface ServerChild {
  port: number;
  baseUrl: string;
  keys: string[];
  setupMs: number;
  rotatedAway: string | undefined;
  authorityKey: string | undefined;
  /** Wall time from starting the process to its listening (key issuing included), milliseconds. */
  startMs: number;
  /** The server's CPU time so far, microseconds. */
  cpuMicros(): Promise<number>;
  /** Sends the process a signal: SIGSTOP freezes it (an instance that stops answering), SIGCONT thaws it. */
  signal(signal: NodeJS.Signals): void;
  stop(): Promise<void>;
}

export async function startServer(
  script: string,
  env: NodeJS.ProcessEnv,
  options: { execArgv?: string[]; startTimeoutMs: number },
): Promise<ServerChild> {
  const started = performance.now();
  const child = start(script, env, options.execArgv);
  const ready = await expectMessage<ServerReady>(child, 'ready', options.startTimeoutMs, script);
  return {
    port: ready.port,
    baseUrl: `http://127.0.0.1:${ready.port}`,
    keys: ready.keys,
    setupMs: ready.setupMs,
    rotatedAway: ready.rotatedAway,
    authorityKey: ready.authorityKey,
    startMs: performance.now() - started,
    async cpuMicros() {
      const answer = expectMessage<CpuAnswer>(child, 'cpu', 5000, `${script} cpu`);
      child.send({ type: 'cpu' } satisfies ToServer);
      return (await answer).micros;
    },
    signal(signal) {
      child.kill(signal);
    },
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGCONT');
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ type: 'stop' } satisfies ToServer);
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Starts a one-shot child, hands it `message` if any, and returns its one answer of `type`. */
function ask<T extends { type: string }>(script: string, env: NodeJS.ProcessEnv, type: T['type'], boundMs: number, message?: object): Promise<T> {
  const child = start(script, env);
  const answer = expectMessage<T>(child, type, boundMs, script);
  if (message !== undefined) child.send(message);
  return answer;
}

/** Runs one load job in a fresh bench/load.js process and returns what it measured. */
export function runLoad(job: LoadJob): Promise<LoadResult> {
  // Bounded: the run itself, plus time for a slow last request and for the process to start.
  // A job of an amount may be bcrypt compares one after another (w): about 35 ms each on the
  // README's machine, 150 allowed.
  const boundMs = ((job.durationSeconds ?? 0) + job.timeoutSeconds + 30) * 1000 + (job.amount ?? 0) * 150;
  return ask<LoadResult>('load.js', process.env, 'result', boundMs, job);
}

/** Runs bench/verify-loop.js (a keygate of its own, from `env`) and returns its timings. */
export function runVerifyLoop(env: NodeJS.ProcessEnv, boundMs: number): Promise<LoopResult> {
  return ask<LoopResult>('verify-loop.js', env, 'loop-result', boundMs);
}
