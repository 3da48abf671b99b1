#!/usr/bin/env node
import { run } from './cli/main.js';

// The `keygate` command (package.json's bin). Exits once its output is out rather than when the
// event loop empties: a connection that failed half-way (node-postgres after PostgreSQL asked for
// a password it was not given) may never close.
const code = await run(process.argv.slice(2));
process.stdout.write('', () => process.exit(code));
