import { spawn } from 'node:child_process';
import { CLI_SCRIPT } from './keygate.js';

// The real `keygate` binary, run as an operator runs it: a process of its own on a database.

export interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** `keygate ...args` on `databaseUrl`, with `stdin` piped in (stdin is then no terminal). */
export function runCli(databaseUrl: string, args: string[], stdin = '', env: Record<string, string> = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI_SCRIPT, ...args], {
      env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 30_000,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
    child.stdin.end(stdin);
  });
}
