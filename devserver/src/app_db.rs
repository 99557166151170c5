//! The demo app's database: conversations and the chats' active sessions in
//! SQLite, as the customer's backend keeps them.

use std::path::Path as FsPath;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::util::now_ms;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL DEFAULT '',
    messages TEXT NOT NULL DEFAULT '[]',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    touched INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS conversations_by_update ON conversations (updated_at DESC);
CREATE TABLE IF NOT EXISTS chat_sessions (
    chat_id TEXT PRIMARY KEY,
    public_access_token TEXT NOT NULL,
    last_event_id TEXT,
    is_streaming INTEGER,
    updated_at INTEGER NOT NULL,
    closed INTEGER NOT NULL DEFAULT 0,
    closed_reason TEXT
);
";

/// Columns added after the first release, for database files made before.
const MIGRATIONS: [&str; 3] = [
    "ALTER TABLE chat_sessions ADD COLUMN closed INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE chat_sessions ADD COLUMN closed_reason TEXT",
    "ALTER TABLE conversations ADD COLUMN touched INTEGER NOT NULL DEFAULT 0",
];

/// Indexes on columns a migration may have added (so after the migrations).
const INDEXES: &str =
    "CREATE INDEX IF NOT EXISTS conversations_by_touch ON conversations (touched DESC);";

/// The place of a conversation write in the order of all writes: `touched` is 1
/// more than the largest so far (writes are serialized by the connection's lock),
/// so the list's order never depends on two writes falling in one millisecond.
/// Rows of a database made before the column read 0: older than any since.
const NEXT_TOUCH: &str = "(SELECT COALESCE(MAX(touched), 0) + 1 FROM conversations)";

/// Most conversations `GET /app/chats` lists (the newest).
pub const MAX_LISTED: usize = 200;

/// What an upsert of a chat's session row does to its stored `lastEventId`.
#[derive(Clone, Copy, Debug)]
pub enum Cursor<'a> {
    /// Leaves it as it is (a write that says nothing about the cursor).
    Keep,
    /// Forgets it: the session is new, or the client said `"lastEventId": null`.
    Clear,
    Set(&'a str),
}

/// The demo database. Every operation logs and swallows storage errors: a failed
/// write must not take the emulator down.
pub struct Db {
    conn: Mutex<Connection>,
    /// Wall clock (Unix ms) of the `updatedAt` values.
    clock: fn() -> u64,
}

impl Db {
    pub fn open(path: Option<&FsPath>) -> Result<Db, String> {
        Db::open_with_clock(path, now_ms)
    }

    /// Opens the database with `clock` (Unix ms) for its `updatedAt` values.
    pub fn open_with_clock(path: Option<&FsPath>, clock: fn() -> u64) -> Result<Db, String> {
        let conn = match path {
            None => Connection::open_in_memory(),
            Some(p) => {
                if let Some(dir) = p.parent() {
                    if !dir.as_os_str().is_empty() {
                        std::fs::create_dir_all(dir)
                            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
                    }
                }
                Connection::open(p)
            }
        }
        .map_err(|e| format!("cannot open database: {e}"))?;
        conn.execute_batch(SCHEMA)
            .map_err(|e| format!("cannot create tables: {e}"))?;
        for m in MIGRATIONS {
            // Fails with "duplicate column" where the column is there already.
            let _ = conn.execute_batch(m);
        }
        conn.execute_batch(INDEXES)
            .map_err(|e| format!("cannot create indexes: {e}"))?;
        Ok(Db {
            conn: Mutex::new(conn),
            clock,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        match self.conn.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    fn log(r: rusqlite::Result<()>) {
        if let Err(e) = r {
            eprintln!("trigger-devserver: database error: {e}");
        }
    }

    fn now(&self) -> i64 {
        i64::try_from((self.clock)()).unwrap_or(i64::MAX)
    }

    pub fn ensure_conversation(&self, chat_id: &str) {
        let now = self.now();
        Self::log(
            self.lock()
                .execute(
                    &format!(
                        "INSERT OR IGNORE INTO conversations (id, created_at, updated_at, touched)
                         VALUES (?1, ?2, ?2, {NEXT_TOUCH})"
                    ),
                    params![chat_id, now],
                )
                .map(|_| ()),
        );
    }

    fn upsert_messages(
        conn: &Connection,
        now: i64,
        chat_id: &str,
        messages: &[Value],
    ) -> rusqlite::Result<()> {
        let title = crate::util::title_of(messages);
        let text = Value::Array(messages.to_vec()).to_string();
        conn.execute(
            &format!(
                "INSERT INTO conversations (id, title, messages, created_at, updated_at, touched)
                 VALUES (?1, ?2, ?3, ?4, ?4, {NEXT_TOUCH})
                 ON CONFLICT(id) DO UPDATE SET messages = ?3, updated_at = ?4,
                   touched = excluded.touched,
                   title = CASE WHEN conversations.title = '' THEN ?2 ELSE conversations.title END"
            ),
            params![chat_id, title, text, now],
        )?;
        Ok(())
    }

    fn upsert_session_row(
        conn: &Connection,
        now: i64,
        chat_id: &str,
        token: &str,
        cursor: Cursor<'_>,
        is_streaming: Option<bool>,
    ) -> rusqlite::Result<()> {
        let (keep, value) = match cursor {
            Cursor::Keep => (true, None),
            Cursor::Clear => (false, None),
            Cursor::Set(v) => (false, Some(v)),
        };
        conn.execute(
            "INSERT INTO chat_sessions (chat_id, public_access_token, last_event_id, is_streaming, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT(chat_id) DO UPDATE SET public_access_token = ?2,
               last_event_id = CASE WHEN ?6 THEN chat_sessions.last_event_id ELSE ?3 END,
               is_streaming = COALESCE(?4, chat_sessions.is_streaming), updated_at = ?5",
            params![chat_id, token, value, is_streaming, now, keep],
        )?;
        Ok(())
    }

    /// Saves the conversation's messages (creating the row when needed).
    pub fn save_messages(&self, chat_id: &str, messages: &[Value]) {
        Self::log(Self::upsert_messages(
            &self.lock(),
            self.now(),
            chat_id,
            messages,
        ));
    }

    pub fn upsert_session(
        &self,
        chat_id: &str,
        token: &str,
        cursor: Cursor<'_>,
        is_streaming: Option<bool>,
    ) {
        Self::log(Self::upsert_session_row(
            &self.lock(),
            self.now(),
            chat_id,
            token,
            cursor,
            is_streaming,
        ));
    }

    /// Records that the chat's session was closed (what the transport reported).
    pub fn close_session(&self, chat_id: &str, reason: Option<&str>) {
        let r = self.lock().execute(
            "UPDATE chat_sessions SET closed = 1, closed_reason = COALESCE(?2, closed_reason) WHERE chat_id = ?1",
            params![chat_id, reason],
        );
        Self::log(r.map(drop));
    }

    /// The turn-complete write: messages and the session's token + lastEventId, atomically.
    pub fn turn_complete(
        &self,
        chat_id: &str,
        messages: &[Value],
        token: &str,
        last_event_id: &str,
    ) {
        let mut conn = self.lock();
        let r = (|| {
            let tx = conn.transaction()?;
            let now = self.now();
            Self::upsert_messages(&tx, now, chat_id, messages)?;
            Self::upsert_session_row(
                &tx,
                now,
                chat_id,
                token,
                Cursor::Set(last_event_id),
                Some(false),
            )?;
            tx.commit()
        })();
        Self::log(r);
    }

    pub fn list(&self) -> rusqlite::Result<Vec<Value>> {
        let conn = self.lock();
        let mut stmt = conn.prepare(
            "SELECT id, title, updated_at FROM conversations
             ORDER BY touched DESC, updated_at DESC, rowid DESC LIMIT ?1",
        )?;
        let rows = stmt.query_map(params![MAX_LISTED as i64], |r| {
            Ok(json!({
                "id": r.get::<_, String>(0)?,
                "title": r.get::<_, String>(1)?,
                "updatedAt": r.get::<_, i64>(2)?,
            }))
        })?;
        rows.collect()
    }

    pub fn load(&self, chat_id: &str) -> rusqlite::Result<Option<Value>> {
        let conn = self.lock();
        let conv = conn
            .query_row(
                "SELECT title, messages FROM conversations WHERE id = ?1",
                params![chat_id],
                |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)),
            )
            .optional()?;
        let Some((title, messages)) = conv else {
            return Ok(None);
        };
        let session = conn
            .query_row(
                "SELECT public_access_token, last_event_id, is_streaming, closed, closed_reason
                 FROM chat_sessions WHERE chat_id = ?1",
                params![chat_id],
                |r| {
                    let mut s = json!({
                        "publicAccessToken": r.get::<_, String>(0)?,
                        "lastEventId": r.get::<_, Option<String>>(1)?,
                        "isStreaming": r.get::<_, Option<bool>>(2)?,
                    });
                    if r.get::<_, bool>(3)? {
                        s["closed"] = json!(true);
                        s["closedReason"] = json!(r.get::<_, Option<String>>(4)?);
                    }
                    Ok(s)
                },
            )
            .optional()?;
        let messages: Value = serde_json::from_str(&messages).unwrap_or_else(|_| json!([]));
        Ok(Some(json!({
            "id": chat_id,
            "title": title,
            "messages": messages,
            "session": session,
        })))
    }

    pub fn delete_session(&self, chat_id: &str) -> rusqlite::Result<()> {
        self.lock()
            .execute(
                "DELETE FROM chat_sessions WHERE chat_id = ?1",
                params![chat_id],
            )
            .map(|_| ())
    }

    pub fn delete(&self, chat_id: &str) -> rusqlite::Result<bool> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let n = tx.execute("DELETE FROM conversations WHERE id = ?1", params![chat_id])?;
        let m = tx.execute(
            "DELETE FROM chat_sessions WHERE chat_id = ?1",
            params![chat_id],
        )?;
        tx.commit()?;
        Ok(n + m > 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_older_database_opens_and_lists_in_the_order_of_the_writes() {
        let dir = std::env::temp_dir().join(format!(
            "trigger-devserver-app-{}-migrate",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("old.sqlite");
        // A database made before the `touched` column.
        let old = Connection::open(&path).unwrap();
        old.execute_batch(
            "CREATE TABLE conversations (id TEXT PRIMARY KEY, title TEXT NOT NULL DEFAULT '',
               messages TEXT NOT NULL DEFAULT '[]', created_at INTEGER NOT NULL,
               updated_at INTEGER NOT NULL);
             INSERT INTO conversations (id, created_at, updated_at)
               VALUES ('old-1', 1, 5), ('old-2', 1, 9);",
        )
        .unwrap();
        drop(old);
        // Every write in the same millisecond.
        let db = Db::open_with_clock(Some(&path), || 7).unwrap();
        db.save_messages("new-1", &[]);
        db.ensure_conversation("new-2");
        db.save_messages("new-3", &[]);
        db.save_messages("new-1", &[]);
        db.ensure_conversation("new-3");
        let ids: Vec<String> = db
            .list()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(ids, ["new-1", "new-3", "new-2", "old-2", "old-1"]);
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
