import { closeSync, fsyncSync, openSync } from 'node:fs';
import SqliteDatabase from 'better-sqlite3';
import { encodeBase62 } from '../src/keys/format.js';
import { openDatabase } from '../src/store/database.js';

// Synthetic rows straight into api_keys: hashing a million keys with bcrypt would take hours,
// and the warm path never reads a synthetic row anyway; what matters is that the table, its
// primary-key index and its by-user index hold that many entries around the one real key.
//
// key_ids are 12 base62 characters like real ones, spread evenly over the key space (first 4
// characters) so the real, random key_id lands among them, and generated in ascending order so
// that every insert appends to the B-trees: a million rows take seconds.

const ROWS_PER_STATEMENT = 500;
const KEYS_PER_SYNTHETIC_USER = 5;
// Looks like a bcrypt hash (60 characters, $2b$10$...) and matches no key.
const DUMMY_HASH = `$2b$10$${'S'.repeat(22)}${'y'.repeat(31)}`;

export interface FillReport {
  rows: number;
  /** Inserting, in one transaction. */
  insertMs: number;
  /** Folding the write-ahead log into the database file afterwards, and syncing it to disk. */
  checkpointMs: number;
  fileBytes: number;
}

/** Creates keygate's schema in a new SQLite file at `path` and fills api_keys with `rows` synthetic rows. */
export async function fillSynthetic(path: string, rows: number): Promise<FillReport> {
  const store = await openDatabase({ kind: 'sqlite', path });
  await store.db.destroy();

  const sqlite = new SqliteDatabase(path);
  try {
    sqlite.pragma('journal_mode = WAL');
    sqlite.pragma('synchronous = OFF');
    sqlite.pragma('cache_size = -131072'); // 128 MiB, this connection only
    const placeholders = (n: number) => Array.from({ length: n }, () => '(?, ?, ?, ?, ?, ?, NULL)').join(', ');
    const sqlFor = (n: number) =>
      `INSERT INTO api_keys (key_id, user_id, name, key_hash, created_at, expires_at, last_used_at) VALUES ${placeholders(n)}`;
    const full = sqlite.prepare(sqlFor(ROWS_PER_STATEMENT));
    const createdAt = new Date().toISOString();
    const expiresAt = new Date(Date.now() + 365 * 24 * 3600 * 1000).toISOString();
    const spread = 62 ** 4 / Math.max(rows, 1);

    const started = performance.now();
    sqlite.transaction(() => {
      for (let first = 0; first < rows; first += ROWS_PER_STATEMENT) {
        const n = Math.min(ROWS_PER_STATEMENT, rows - first);
        const values: string[] = [];
        for (let i = first; i < first + n; i++) {
          values.push(
            encodeBase62(Math.floor(i * spread), 4) + encodeBase62(i, 8),
            `synthetic-user-${String(Math.floor(i / KEYS_PER_SYNTHETIC_USER)).padStart(7, '0')}`,
            `synthetic key ${i}`,
            DUMMY_HASH,
            createdAt,
            expiresAt,
          );
        }
        (n === ROWS_PER_STATEMENT ? full : sqlite.prepare(sqlFor(n))).run(values);
      }
    })();
    const insertMs = performance.now() - started;

    // Then the file goes to disk (fsync): otherwise the kernel would still be writing a few
    // hundred MB of it back while the scenarios are measured, on the same two cores. (With
    // synchronous = OFF neither the commit's automatic checkpoint nor this one syncs it.)
    const checkpointStarted = performance.now();
    sqlite.pragma('wal_checkpoint(TRUNCATE)');
    syncToDisk(path);
    const checkpointMs = performance.now() - checkpointStarted;
    const pages = sqlite.pragma('page_count', { simple: true }) as number;
    const pageSize = sqlite.pragma('page_size', { simple: true }) as number;
    return { rows, insertMs, checkpointMs, fileBytes: pages * pageSize };
  } finally {
    sqlite.close();
  }
}

function syncToDisk(path: string): void {
  const fd = openSync(path, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
