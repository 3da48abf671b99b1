import { userInfo } from 'node:os';
import { openKeygate, type Keygate } from '../app.js';
import type { Actor } from '../audit/actor.js';
import { loadConfig } from '../config.js';

// The operator at the CLI: the same domain service as the server, on the database the server's
// settings name (no HTTP hop), acting as `cli:<OS user>` so that the audit trail says who.

/** The OS user running the CLI; os.userInfo() throws for a uid with no passwd entry (some containers). */
function operatorName(): string {
  try {
    const { username } = userInfo();
    if (username !== '') return username;
  } catch {
    // Named by the environment instead, below.
  }
  return process.env.USER || 'unknown';
}

export function operatorActor(): Actor {
  return { type: 'cli', id: operatorName() };
}

/** Opens keygate on the configured database, lets `work` act as the operator, and closes it again. */
export async function asOperator<T>(work: (keygate: Keygate, actor: Actor) => Promise<T>): Promise<T> {
  // The CLI verifies nothing from memory: instances need not wait for it, only it for them.
  const keygate = await openKeygate(loadConfig(), undefined, { holdsWarmEntries: false });
  try {
    return await work(keygate, operatorActor());
  } finally {
    await keygate.close();
  }
}
