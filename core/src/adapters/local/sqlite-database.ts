import { mkdirSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/** A better-sqlite3 connection. */
export type SqliteDatabase = Database.Database;

/**
 * Opens (and creates if needed) the embedded mode's SQLite database in WAL mode.
 *
 * WAL lets the API's reads run while the worker writes, and `busy_timeout` makes a writer wait up to
 * 5 s for another process's write lock instead of failing at once. Pass ':memory:' for tests.
 */
export function openSqliteDatabase(file: string): SqliteDatabase {
  if (file !== ':memory:') mkdirSync(path.dirname(file), { recursive: true });
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('busy_timeout = 5000');
  return db;
}
