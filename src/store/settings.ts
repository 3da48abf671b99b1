import type { KeygateDb } from './database.js';

/**
 * Returns the setting, creating it with `generate()` on first use. Safe when several
 * processes start at once: the first insert wins and every process reads that value.
 */
export async function getOrCreateSetting(db: KeygateDb, name: string, generate: () => string): Promise<string> {
  await db
    .insertInto('settings')
    .values({ name, value: generate() })
    .onConflict((conflict) => conflict.column('name').doNothing())
    .execute();
  const { value } = await db.selectFrom('settings').select('value').where('name', '=', name).executeTakeFirstOrThrow();
  return value;
}
