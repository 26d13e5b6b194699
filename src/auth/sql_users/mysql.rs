//! The user table on MySQL/MariaDB: a small mysql_async pool.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, Pool, Value};

use super::schema::{PkParam, UserStatements};
use super::{naive_utc_text, Row, SqlUsersError};
use crate::store::url::StoreUrl;

/// MySQL's "Duplicate entry" and "Table already exists".
const DUPLICATE_ENTRY: u16 = 1062;
const TABLE_EXISTS: u16 = 1050;

pub(super) struct MysqlUsers {
    pool: Pool,
}

impl MysqlUsers {
    /// The pool for a `mysql://` URL (mysql_async's parameters).
    pub(super) fn connect(url: StoreUrl<'_>) -> Result<Self, SqlUsersError> {
        let opts = Opts::from_url(&url.to_driver_url())
            .map_err(|e| SqlUsersError::Config(format!("invalid MySQL URL: {e}")))?;
        Ok(MysqlUsers {
            pool: Pool::new(opts),
        })
    }

    async fn conn(&self, op: &str) -> Result<Conn, SqlUsersError> {
        self.pool.get_conn().await.map_err(|e| my_err(op, &e))
    }

    pub(super) async fn ping(&self) -> Result<(), SqlUsersError> {
        let mut conn = self.conn("connect").await?;
        conn.ping().await.map_err(|e| my_err("connect", &e))
    }

    pub(super) async fn fetch(
        &self,
        sql: &str,
        param: PkParam,
    ) -> Result<Option<Row>, SqlUsersError> {
        let mut conn = self.conn("read").await?;
        let row: Option<(String, String, i64)> = conn
            .exec_first(sql, (value(param),))
            .await
            .map_err(|e| my_err("read", &e))?;
        Ok(row.map(|(id, password, active)| Row {
            id,
            password,
            is_active: active != 0,
        }))
    }

    pub(super) async fn insert(
        &self,
        sql: &UserStatements,
        password: &str,
        username: &str,
        joined: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SqlUsersError> {
        let mut conn = self.conn("insert").await?;
        conn.exec_drop(&sql.insert, (password, username, naive_utc_text(joined)))
            .await
            .map_err(|e| match &e {
                mysql_async::Error::Server(s) if s.code == DUPLICATE_ENTRY => {
                    SqlUsersError::UsernameTaken
                }
                _ => my_err("insert", &e),
            })?;
        conn.last_insert_id()
            .map(|id| id.to_string())
            .ok_or_else(|| SqlUsersError::Database("mysql insert: no id was generated".into()))
    }

    pub(super) async fn update_password(
        &self,
        sql: &UserStatements,
        password: &str,
        pk: PkParam,
    ) -> Result<u64, SqlUsersError> {
        let mut conn = self.conn("set_password").await?;
        conn.exec_drop(&sql.set_password, (password, value(pk)))
            .await
            .map_err(|e| my_err("set_password", &e))?;
        Ok(conn.affected_rows())
    }

    /// A `CREATE TABLE` commits by itself in MySQL: a concurrent creator's "already exists"
    /// means the table is there, not created here.
    pub(super) async fn create_if_missing(
        &self,
        sql: &UserStatements,
    ) -> Result<bool, SqlUsersError> {
        const OP: &str = "create_table";
        let mut conn = self.conn(OP).await?;
        let found: Option<i64> = conn
            .exec_first(&sql.table_exists, (sql.table_probe(),))
            .await
            .map_err(|e| my_err(OP, &e))?;
        if found.unwrap_or(0) > 0 {
            return Ok(false);
        }
        for statement in &sql.ddl {
            match conn.query_drop(statement).await {
                Ok(()) => {}
                Err(mysql_async::Error::Server(s)) if s.code == TABLE_EXISTS => return Ok(false),
                Err(e) => return Err(my_err(OP, &e)),
            }
        }
        Ok(true)
    }
}

fn value(param: PkParam) -> Value {
    match param {
        PkParam::Int(id) => Value::Int(id),
        PkParam::Text(text) => Value::Bytes(text.into_bytes()),
    }
}

/// The operation, the server's code and its message with quoted values blanked out (MySQL
/// quotes values in its messages, such as a duplicate username).
fn my_err(op: &str, e: &mysql_async::Error) -> SqlUsersError {
    SqlUsersError::Database(match e {
        mysql_async::Error::Server(s) => {
            let message: String = s
                .message
                .split('\'')
                .enumerate()
                .map(|(i, part)| if i % 2 == 0 { part } else { "'…'" })
                .collect();
            format!("mysql {op}: error {}: {message}", s.code)
        }
        other => format!("mysql {op}: {other}"),
    })
}
