import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { FastHmac } from '../src/keys/fast-hmac.js';
import { KeyFormat } from '../src/keys/format.js';
import { KeyHasher } from '../src/keys/hashing.js';
import { AuditRepository } from '../src/store/audit-repository.js';
import { ApiKeyService } from '../src/keys/api-key-service.js';
import { KeyChanges } from '../src/keys/key-changes.js';
import { LimitReached, NotFound } from '../src/errors.js';
import { ApiKeyRepository } from '../src/store/api-keys-repository.js';
import { LocalFeed } from '../src/keys/change-feed.js';
import { openDatabase, type Store } from '../src/store/database.js';
import { temporaryFolder } from './support/keygate.js';
import { testHashSettings } from './support/keys.js';
import { userActor } from '../src/audit/actor.js';

// The key service on a real SQLite file, with a hasher that counts its work: refusals that need
// no hashing must cost none (a bcrypt hash is tens of milliseconds of a thread).

class CountingHasher extends KeyHasher {
  hashes = 0;

  override hash(key: string): Promise<string> {
    this.hashes += 1;
    return super.hash(key);
  }
}

const folder = temporaryFolder();
let store: Store;
let hasher: CountingHasher;
let service: ApiKeyService;

before(async () => {
  store = await openDatabase({ kind: 'sqlite', path: join(folder, 'keygate.db') });
  const repository = new ApiKeyRepository(store.db);
  hasher = new CountingHasher(testHashSettings());
  service = new ApiKeyService(repository, new KeyChanges(repository, new AuditRepository(store.db), new LocalFeed()), new KeyFormat({ live: 'mcpkey_live_', test: 'mcpkey_test_' }, FastHmac.newKey()), hasher, {
    maxKeysPerUser: 2,
    defaultExpiresDays: 30,
    maxExpiresDays: 365,
    maxGraceSeconds: 3600,
  });
});
after(async () => {
  await store.db.destroy();
  rmSync(folder, { recursive: true, force: true });
});

test('a create refused at the key limit hashes nothing', async () => {
  await service.create(userActor('full'), { name: 'one' });
  await service.create(userActor('full'), { name: 'two' });
  const before = hasher.hashes;
  await assert.rejects(service.create(userActor('full'), { name: 'three' }), LimitReached);
  assert.equal(hasher.hashes, before);
});

test('a rotate of an unknown or foreign key_id hashes nothing', async () => {
  const mine = await service.create(userActor('owner'), { name: 'mine' });
  const before = hasher.hashes;
  await assert.rejects(service.rotate(userActor('owner'), 'AAAAAAAAAAAA'), NotFound);
  await assert.rejects(service.rotate(userActor('someone else'), mine.keyId), NotFound);
  await assert.rejects(service.rotate(userActor('owner'), 'not a key id'), NotFound);
  assert.equal(hasher.hashes, before);
  await service.rotate(userActor('owner'), mine.keyId);
  assert.equal(hasher.hashes, before + 1);
});
