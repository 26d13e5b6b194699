//! PostgreSQL's ceiling: tessera's statements, prepared once per connection (deadpool's
//! statement cache), over a deadpool of the size tessera's store takes by default (twice the
//! cores this process may run on, at least 8) with the same fast recycling. Per route:
//!
//! - `/read`: `SELECT "session_data" FROM "django_session" WHERE "session_key" = $1 AND
//!   "expire_date" > $2`;
//! - `/write`: that `SELECT`, then the compare-and-swap that also drops the session's entry
//!   from the per-user side table, one statement (what tessera runs for a session without a
//!   user once its side table exists);
//! - `/create`: the plain `INSERT` (tessera touches the side table on create only for a
//!   session with a user).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use tokio_postgres::error::SqlState;
use tokio_postgres::NoTls;

use super::store::Error;

const LOAD: &str =
    "SELECT \"session_data\" FROM \"django_session\" WHERE \"session_key\" = $1 AND \"expire_date\" > $2";
const CREATE: &str = "INSERT INTO \"django_session\" (\"session_key\", \"session_data\", \"expire_date\") VALUES ($1, $2, $3)";
const SAVE_ANONYMOUS: &str =
    "WITH s AS (UPDATE \"django_session\" SET session_data = $1, expire_date = $2 \
     WHERE session_key = $3 AND session_data = $4 RETURNING session_key), \
     x AS (DELETE FROM \"tessera_session_user\" WHERE session_key IN (SELECT session_key FROM s)) \
     SELECT count(*) FROM s";

/// tessera's connect, checkout and recycle timeout.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);

/// The ceiling's PostgreSQL store.
pub struct PostgresCeiling {
    pool: Pool,
}

impl PostgresCeiling {
    /// A pool like tessera's default one; checks that the server answers.
    pub async fn connect(url: &str) -> Result<PostgresCeiling, Error> {
        let mut config: tokio_postgres::Config = url.parse()?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let pool = Pool::builder(manager)
            .max_size((2 * cores).max(8))
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(CONNECT_TIMEOUT))
            .create_timeout(Some(CONNECT_TIMEOUT))
            .recycle_timeout(Some(CONNECT_TIMEOUT))
            .build()?;
        drop(pool.get().await?);
        Ok(PostgresCeiling { pool })
    }

    pub async fn load(&self, key: &str, now: f64) -> Result<Option<String>, Error> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(LOAD).await?;
        let row = client.query_opt(&stmt, &[&key, &instant(now)]).await?;
        Ok(row.map(|row| row.try_get(0)).transpose()?)
    }

    pub async fn create(&self, key: &str, text: &str, expires_at: f64) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(CREATE).await?;
        match client
            .execute(&stmt, &[&key, &text, &instant(expires_at)])
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn save(
        &self,
        key: &str,
        text: &str,
        expected: &str,
        expires_at: f64,
    ) -> Result<bool, Error> {
        let client = self.pool.get().await?;
        let stmt = client.prepare_cached(SAVE_ANONYMOUS).await?;
        let row = client
            .query_one(&stmt, &[&text, &instant(expires_at), &key, &expected])
            .await?;
        Ok(row.try_get::<_, i64>(0)? > 0)
    }
}

/// Unix seconds as the instant tessera binds (whole microseconds; the ceiling's times are
/// always after the epoch).
fn instant(unix: f64) -> SystemTime {
    UNIX_EPOCH + Duration::from_micros((unix * 1e6).round().max(0.0) as u64)
}
