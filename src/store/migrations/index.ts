import type { Migration } from 'kysely';
import * as initial from './0001_initial.js';
import * as keyAuthority from './0002_key_authority.js';
import * as operators from './0003_operators.js';
import * as changeFeed from './0004_change_feed.js';
import * as sqliteChangeFeed from './0005_sqlite_change_feed.js';
import * as accounts from './0006_accounts.js';

// Listed here rather than read from the folder, so the compiled package needs no file lookups.
export const migrations: Record<string, Migration> = {
  '0001_initial': initial,
  '0002_key_authority': keyAuthority,
  '0003_operators': operators,
  '0004_change_feed': changeFeed,
  '0005_sqlite_change_feed': sqliteChangeFeed,
  '0006_accounts': accounts,
};
