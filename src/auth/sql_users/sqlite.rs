//! The user table on SQLite: one connection, used on tokio's blocking pool.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, OptionalExtension};

use super::schema::{PkParam, UserStatements};
use super::{naive_utc_text, Row, SqlUsersError};
use crate::store::url::{local_path, StoreUrl};

/// How long a statement waits while the session store's writer holds the file.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub(super) struct SqliteUsers {
    conn: Arc<Mutex<Connection>>,
}

impl SqliteUsers {
    pub(super) fn open(url: &StoreUrl<'_>) -> Result<Self, SqlUsersError> {
        url.only(&[])
            .map_err(|e| SqlUsersError::Config(e.to_string()))?;
        let path = local_path(url.target).map_err(|e| SqlUsersError::Config(e.to_string()))?;
        create_owner_only(&path)?;
        let conn = Connection::open(&path).map_err(|e| db_err("open", &e))?;
        conn.busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_err("open", &e))?;
        Ok(SqliteUsers {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs `work` on the connection, off the async workers.
    async fn run<T: Send + 'static>(
        &self,
        op: &'static str,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, SqlUsersError> {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut conn = conn
                .lock()
                .map_err(|_| SqlUsersError::Database(format!("sqlite {op}: connection lost")))?;
            work(&mut conn).map_err(|e| db_err(op, &e))
        })
        .await
        .map_err(|e| SqlUsersError::Database(format!("sqlite {op}: {e}")))?
    }

    pub(super) async fn ping(&self) -> Result<(), SqlUsersError> {
        self.run("connect", |c| c.query_row("SELECT 1", [], |_| Ok(())))
            .await
    }

    pub(super) async fn fetch(
        &self,
        sql: &str,
        param: PkParam,
    ) -> Result<Option<Row>, SqlUsersError> {
        let sql = sql.to_owned();
        self.run("read", move |c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let read = |r: &rusqlite::Row<'_>| {
                Ok(Row {
                    id: r.get(0)?,
                    password: r.get(1)?,
                    is_active: r.get::<_, i64>(2)? != 0,
                })
            };
            match param {
                PkParam::Int(id) => stmt.query_row(params![id], read),
                PkParam::Text(text) => stmt.query_row(params![text], read),
            }
            .optional()
        })
        .await
    }

    pub(super) async fn insert(
        &self,
        sql: &UserStatements,
        password: &str,
        username: &str,
        joined: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SqlUsersError> {
        let (statement, password, username) =
            (sql.insert.clone(), password.to_owned(), username.to_owned());
        self.run("insert", move |c| {
            c.query_row(
                &statement,
                params![password, username, naive_utc_text(joined)],
                |r| r.get::<_, String>(0),
            )
        })
        .await
    }

    pub(super) async fn update_password(
        &self,
        sql: &UserStatements,
        password: &str,
        pk: PkParam,
    ) -> Result<u64, SqlUsersError> {
        let (statement, password) = (sql.set_password.clone(), password.to_owned());
        self.run("set_password", move |c| {
            let n = match pk {
                PkParam::Int(id) => c.execute(&statement, params![password, id]),
                PkParam::Text(id) => c.execute(&statement, params![password, id]),
            }?;
            Ok(n as u64)
        })
        .await
    }

    /// Checks and creates in one `IMMEDIATE` transaction, so two processes cannot both
    /// create.
    pub(super) async fn create_if_missing(
        &self,
        sql: &UserStatements,
    ) -> Result<bool, SqlUsersError> {
        let (exists, probe, ddl) = (sql.table_exists.clone(), sql.table_probe(), sql.ddl.clone());
        self.run("create_table", move |c| {
            let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let found: i64 = tx.query_row(&exists, params![probe], |r| r.get(0))?;
            if found > 0 {
                return Ok(false);
            }
            for statement in &ddl {
                tx.execute_batch(statement)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}

/// A new database file is readable by its owner alone: it holds password hashes.
fn create_owner_only(path: &Path) -> Result<(), SqlUsersError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SqlUsersError::Config(format!(
            "sqlite: cannot create the database file: {e}"
        ))),
    }
}

fn db_err(op: &str, e: &rusqlite::Error) -> SqlUsersError {
    match e {
        // Another process added the name between the check and the insert.
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            SqlUsersError::UsernameTaken
        }
        _ => SqlUsersError::Database(format!("sqlite {op}: {e}")),
    }
}
