import type { Keygate } from '../src/app.js';
import { userActor } from '../src/audit/actor.js';

// Keys for the bench, issued through keygate's own ApiKeyService so that they carry real hashes
// (bcrypt or HMAC, as KEYGATE_KEY_HASH says) and real authenticity tags. Shared by the server
// child and the in-process verify loop, so both measure keys made the same way.

const CREATE_CONCURRENCY = 4;

/** `count` new keys, spread over users `perUser` at a time, a few hashed at once as the service would be asked. */
export async function issueKeys(keygate: Keygate, count: number, perUser: number): Promise<string[]> {
  const keys: string[] = new Array<string>(count);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < count; i = next++) {
      const issued = await keygate.apiKeys.create(userActor(`bench-user-${Math.floor(i / perUser)}`), { name: `bench key ${i}` });
      keys[i] = issued.apiKey;
    }
  };
  await Promise.all(Array.from({ length: Math.min(CREATE_CONCURRENCY, count) }, worker));
  return keys;
}

/** The scopes and metadata of (h)'s key: what a real MCP client's key might carry. */
export const AUTHORITY_SCOPES = ['tools:read', 'tools:call:search', 'tools:call:fetch', 'resources:read', 'prompts:read'];
const AUTHORITY_METADATA = { team: 'search', plan: 'pro', owner: 'ci@example.com', tags: ['agent', 'nightly'], limits: { depth: 3 } };

/** A key with scopes and metadata, as a user of the key model's authority would have (h). */
export async function authorityKey(keygate: Keygate): Promise<string> {
  const settings = { scopes: AUTHORITY_SCOPES, metadata: AUTHORITY_METADATA };
  return (await keygate.apiKeys.create(userActor('bench-authority-user'), { name: 'scoped', settings })).apiKey;
}

/**
 * A key issued and then rotated, its old text returned: it still carries a valid tag, so it gets
 * past the checks that need no I/O, reaches its row once, fails its one compare, and from then
 * on is a remembered refusal. Its own user, so it counts against no other key's limits.
 */
export async function rotatedAwayKey(keygate: Keygate): Promise<string> {
  const issued = await keygate.apiKeys.create(userActor('bench-rotated-user'), { name: 'rotated away' });
  await keygate.apiKeys.rotate(userActor('bench-rotated-user'), issued.keyId);
  return issued.apiKey;
}
