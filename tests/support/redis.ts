import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

// A throwaway redis-server (Debian's, from apt-get) on a free loopback port, in a temporary
// folder, with no persistence: the tests stop it and start it again on the same port to see
// keygate lose Redis and get it back.

export const REDIS_SERVER = '/usr/bin/redis-server';

/**
 * Why tests needing Redis skip, or false. Without redis-server a developer's run says so loudly
 * and skips them; CI (CI=true) never skips, so there they fail.
 */
export const redisSkip: string | false =
  !existsSync(REDIS_SERVER) && !process.env.CI ? `${REDIS_SERVER} is missing: run apt-get install redis-server` : false;
if (redisSkip) console.warn(`\n*** SKIPPING the Redis tests: ${redisSkip} ***\n`);

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 10_000;
const PORT_ATTEMPTS = 5;

export interface RunningRedis {
  url: string;
  port: number;
  /** Stops redis-server (SIGTERM; nothing is saved). */
  stop(): Promise<void>;
  /** Starts it again on the same port, empty. */
  start(): Promise<void>;
  /** Stops it if running and removes its folder. */
  close(): Promise<void>;
}


/** Spawns redis-server and resolves once it accepts connections; rejects with its output if it exits. */
function spawnRedis(port: number, folder: string): Promise<ChildProcess> {
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', folder, '--daemonize', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`redis-server did not start within ${START_TIMEOUT_MS} ms:\n${output}`));
    }, START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk;
      if (/Ready to accept connections/.test(output)) {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        child.stdout?.resume();
        child.stderr?.resume();
        resolve(child);
      }
    };
    const onExit = (code: number | null) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with ${code}:\n${output}`));
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', (chunk: Buffer) => (output += chunk));
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', onExit);
  });
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

export async function startRedis(): Promise<RunningRedis> {
  const folder = mkdtempSync(join(tmpdir(), 'keygate-redis-'));
  let child: ChildProcess | undefined;
  let port = 0;
  // Another process may take the free port between the probe and redis-server's bind: try again.
  for (let attempt = 1; child === undefined; attempt++) {
    port = await freePort();
    try {
      child = await spawnRedis(port, folder);
    } catch (error) {
      if (attempt >= PORT_ATTEMPTS) {
        rmSync(folder, { recursive: true, force: true });
        throw error;
      }
    }
  }
  let running: ChildProcess | undefined = child;
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (running !== undefined) await stopChild(running);
      running = undefined;
    },
    async start() {
      if (running !== undefined) throw new Error('redis-server is already running');
      running = await spawnRedis(port, folder);
    },
    async close() {
      try {
        if (running !== undefined) await stopChild(running);
        running = undefined;
      } finally {
        rmSync(folder, { recursive: true, force: true });
      }
    },
  };
}
