//! The user table on PostgreSQL: a small deadpool of tokio-postgres connections.

use std::time::SystemTime;

use deadpool_postgres::{Object, Pool};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;

use super::schema::{PkParam, UserStatements};
use super::{Row, SqlUsersError};
use crate::store::url::StoreUrl;

/// Logins are rare next to session reads: a few connections serve them.
const DEFAULT_POOL_SIZE: usize = 4;

pub(super) struct PostgresUsers {
    pool: Pool,
}

impl PostgresUsers {
    /// The pool for a `postgres://` URL (tokio-postgres's parameters, and `pool_max_size`).
    pub(super) fn connect(mut url: StoreUrl<'_>) -> Result<Self, SqlUsersError> {
        let size = match url.take("pool_max_size") {
            None => DEFAULT_POOL_SIZE,
            Some(n) => n.parse().ok().filter(|&n| n > 0).ok_or_else(|| {
                SqlUsersError::Config("postgres://: pool_max_size must be a positive number".into())
            })?,
        };
        let pool = crate::store::postgres::pool(&url.to_driver_url(), size)
            .map_err(SqlUsersError::Config)?;
        Ok(PostgresUsers { pool })
    }

    async fn client(&self, op: &str) -> Result<Object, SqlUsersError> {
        self.pool
            .get()
            .await
            .map_err(|e| SqlUsersError::Database(format!("postgres {op}: no connection: {e}")))
    }

    pub(super) async fn ping(&self) -> Result<(), SqlUsersError> {
        let client = self.client("connect").await?;
        client
            .simple_query("SELECT 1")
            .await
            .map(drop)
            .map_err(|e| pg_err("connect", &e))
    }

    pub(super) async fn fetch(
        &self,
        sql: &str,
        param: PkParam,
    ) -> Result<Option<Row>, SqlUsersError> {
        let client = self.client("read").await?;
        let stmt = client
            .prepare_cached(sql)
            .await
            .map_err(|e| pg_err("read", &e))?;
        let row = client
            .query_opt(&stmt, &[bound(&param)])
            .await
            .map_err(|e| pg_err("read", &e))?;
        row.map(|row| {
            Ok(Row {
                id: row.try_get(0)?,
                password: row.try_get(1)?,
                is_active: row.try_get::<_, i32>(2)? != 0,
            })
        })
        .transpose()
        .map_err(|e| pg_err("read", &e))
    }

    pub(super) async fn insert(
        &self,
        sql: &UserStatements,
        password: &str,
        username: &str,
        joined: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, SqlUsersError> {
        let client = self.client("insert").await?;
        let joined: SystemTime = joined.into();
        let row = client
            .query_one(&sql.insert, &[&Redacted(password), &username, &joined])
            .await
            .map_err(|e| match e.code() {
                Some(&SqlState::UNIQUE_VIOLATION) => SqlUsersError::UsernameTaken,
                _ => pg_err("insert", &e),
            })?;
        row.try_get(0).map_err(|e| pg_err("insert", &e))
    }

    pub(super) async fn update_password(
        &self,
        sql: &UserStatements,
        password: &str,
        pk: PkParam,
    ) -> Result<u64, SqlUsersError> {
        let client = self.client("set_password").await?;
        client
            .execute(&sql.set_password, &[&Redacted(password), bound(&pk)])
            .await
            .map_err(|e| pg_err("set_password", &e))
    }

    /// Checks and creates in one transaction under an advisory lock, so concurrent callers
    /// cannot collide.
    pub(super) async fn create_if_missing(
        &self,
        sql: &UserStatements,
    ) -> Result<bool, SqlUsersError> {
        const OP: &str = "create_table";
        let mut client = self.client(OP).await?;
        let tx = client.transaction().await.map_err(|e| pg_err(OP, &e))?;
        let lock = format!("tessera.create_table:{}", sql.table);
        tx.execute("SELECT pg_advisory_xact_lock(hashtext($1))", &[&lock])
            .await
            .map_err(|e| pg_err(OP, &e))?;
        let exists: bool = tx
            .query_one(&sql.table_exists, &[&sql.table_probe()])
            .await
            .and_then(|row| row.try_get(0))
            .map_err(|e| pg_err(OP, &e))?;
        if exists {
            return Ok(false);
        }
        for statement in &sql.ddl {
            tx.batch_execute(statement)
                .await
                .map_err(|e| pg_err(OP, &e))?;
        }
        tx.commit().await.map_err(|e| pg_err(OP, &e))?;
        Ok(true)
    }
}

/// A password hash that prints as `<redacted>`: tokio-postgres logs every statement's
/// parameters at `debug`.
struct Redacted<'a>(&'a str);

impl std::fmt::Debug for Redacted<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl ToSql for Redacted<'_> {
    fn to_sql(
        &self,
        ty: &tokio_postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<tokio_postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        self.0.to_sql(ty, out)
    }

    fn accepts(ty: &tokio_postgres::types::Type) -> bool {
        <&str as ToSql>::accepts(ty)
    }

    tokio_postgres::types::to_sql_checked!();
}

fn bound(param: &PkParam) -> &(dyn ToSql + Sync) {
    match param {
        PkParam::Int(id) => id,
        PkParam::Text(text) => text,
    }
}

/// The operation, SQLSTATE and primary message: never a `DETAIL`, which quotes values.
fn pg_err(op: &str, e: &tokio_postgres::Error) -> SqlUsersError {
    SqlUsersError::Database(match e.as_db_error() {
        Some(db) => format!(
            "postgres {op}: error {}: {}",
            db.code().code(),
            db.message()
        ),
        None => format!("postgres {op}: {e}"),
    })
}
