import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { postgresBinaries, startPostgres } from './postgres.js';

// `npm test`'s second pass: the whole suite again, this time on PostgreSQL. It starts a
// throwaway cluster, runs `node --test` with KEYGATE_TEST_POSTGRES_URL pointing at it (the
// harness then gives every keygate a fresh database there), and stops the cluster. Without
// PostgreSQL's binaries a developer's run says so loudly and skips this pass; CI never skips.

const testArgs = process.argv.slice(2);

if (postgresBinaries() === undefined) {
  const banner = '*'.repeat(78);
  console.error(`\n${banner}\n* PostgreSQL is not installed: the PostgreSQL pass of the suite did NOT run.\n* Install it with: apt-get install postgresql\n${banner}\n`);
  process.exit(process.env.CI ? 1 : 0);
}

const cluster = await startPostgres();
let exitCode = 1;
try {
  console.log(`\n# PostgreSQL pass: the suite again on ${cluster.adminUrl.replace(/\/[^/]*$/, '/<fresh database per server>')}`);
  const runner = spawn(process.execPath, ['--test', ...testArgs], {
    stdio: 'inherit',
    env: { ...process.env, KEYGATE_TEST_POSTGRES_URL: cluster.adminUrl },
  });
  const [code] = (await once(runner, 'exit')) as [number | null];
  exitCode = code ?? 1;
} finally {
  await cluster.stop();
}
process.exit(exitCode);
