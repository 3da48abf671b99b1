import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

// A throwaway PostgreSQL cluster for the tests, from the machine's own binaries: initdb into a
// temporary folder, a free loopback port, stopped and deleted at the end. PostgreSQL refuses
// to run as root, so as root it runs as the `postgres` user that Debian's package creates.

export interface PostgresCluster {
  /** Connects as the superuser to the `postgres` database. */
  adminUrl: string;
  /** Stops the server and deletes the cluster. */
  stop(): Promise<void>;
  /**
   * Stops the server as an outage would (fast shutdown: open sessions are terminated), keeping
   * the cluster's data; resume() starts it again on the same port.
   */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/** The folder of initdb, pg_ctl and postgres, or undefined when PostgreSQL is not installed. */
export function postgresBinaries(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!existsSync(root)) return undefined;
  const newest = readdirSync(root)
    .filter((version) => existsSync(join(root, version, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a))[0];
  return newest === undefined ? undefined : join(root, newest, 'bin');
}


export async function startPostgres(): Promise<PostgresCluster> {
  const bin = postgresBinaries();
  if (bin === undefined) throw new Error('PostgreSQL is not installed (apt-get install postgresql)');
  const folder = mkdtempSync(join(tmpdir(), 'keygate-pg-'));
  const asRoot = userInfo().uid === 0;
  // As root, every PostgreSQL program runs as `postgres`, which must own the folder.
  const command = (program: string, args: string[]): [string, string[]] =>
    asRoot ? ['runuser', ['-u', 'postgres', '--', join(bin, program), ...args]] : [join(bin, program), args];
  if (asRoot) {
    const postgresUser = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
    const postgresGroup = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
    chownSync(folder, Number(postgresUser.stdout), Number(postgresGroup.stdout));
  }
  const data = join(folder, 'data');
  const [initdb, initdbArgs] = command('initdb', ['-D', data, '-U', 'keygate', '-A', 'trust', '-E', 'UTF8', '--no-sync']);
  const initialized = spawnSync(initdb, initdbArgs, { encoding: 'utf8' });
  if (initialized.status !== 0) throw new Error(`initdb failed: ${initialized.stderr}`);

  const port = await freePort();
  const adminUrl = `postgres://keygate@127.0.0.1:${port}/postgres`;
  // Durability is not what these tests are about: no fsync makes them fast.
  const [postgres, postgresArgs] = command('postgres', [
    '-D', data, '-p', String(port), '-k', folder, '-c', 'listen_addresses=127.0.0.1',
    '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=200',
  ]);
  const startServer = async (): Promise<ChildProcess> => {
    const server: ChildProcess = spawn(postgres, postgresArgs, { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    server.stderr?.on('data', (chunk) => (log += chunk));
    await waitUntilReady(adminUrl, server, () => log);
    return server;
  };
  const stopServer = async (server: ChildProcess): Promise<void> => {
    if (server.exitCode !== null) return;
    // pg_ctl, not a signal: runuser does not pass signals on to postgres.
    const exited = once(server, 'exit');
    const [pgCtl, pgCtlArgs] = command('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
    spawnSync(pgCtl, pgCtlArgs, { stdio: 'ignore' });
    await exited;
  };
  let running: ChildProcess | undefined = await startServer();
  return {
    adminUrl,
    async stop() {
      if (running !== undefined) await stopServer(running);
      running = undefined;
      rmSync(folder, { recursive: true, force: true });
    },
    async pause() {
      if (running === undefined) throw new Error('postgres is already paused');
      await stopServer(running);
      running = undefined;
    },
    async resume() {
      if (running !== undefined) throw new Error('postgres is already running');
      running = await startServer();
    },
  };
}

async function waitUntilReady(url: string, server: ChildProcess, log: () => string): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (server.exitCode !== null) throw new Error(`postgres exited: ${log()}`);
    const client = new pg.Client({ connectionString: url });
    try {
      await client.connect();
      await client.end();
      return;
    } catch {
      // A client whose connection failed is finished; end() on it would never settle.
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  server.kill('SIGKILL');
  throw new Error(`postgres did not accept connections: ${log()}`);
}

/** A new, empty database on the cluster; dropped by the returned function. */
export async function createDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `keygate_${Math.random().toString(36).slice(2, 12)}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  };
}
