import { inLocalTurn, type KeygateDb } from './database.js';

/**
 * Returns the setting, creating it with `generate()` on first use. Safe when several
 * processes start at once: the first insert wins and every process reads that value.
 */
export function getOrCreateSetting(
  db: KeygateDb,
  name: string,
  generate: () => string | Promise<string>,
): Promise<string> {
  return inLocalTurn(() => readOrInsert(db, name, generate));
}

async function readOrInsert(
  db: KeygateDb,
  name: string,
  generate: () => string | Promise<string>,
): Promise<string> {
  const read = () => db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirst();
  const existing = await read();
  if (existing) return existing.value;
  await db
    .insertInto('settings')
    .values({ name, value: await generate() })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
  const stored = await read();
  if (!stored) throw new Error(`setting ${name} vanished while it was created`);
  return stored.value;
}
