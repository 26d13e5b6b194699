//! Users from Django's `auth_user` table: a ready [`UserSource`] on SQLite, PostgreSQL and
//! MySQL/MariaDB (the `sqlite`, `postgres` and `mysql` features), so tessera logs in the users
//! a Django app made (`createsuperuser`, the admin, `create_user`) and Django logs in the ones
//! tessera adds.
//!
//! - **URL.** The session stores' forms ([`crate::url`]): `sqlite:///abs/path.db` or
//!   `sqlite://relative.db`, `postgres://user:pass@host:5432/db?…` (tokio-postgres's
//!   parameters, and `pool_max_size`, default 4), `mysql://user:pass@host:3306/db?…`
//!   (mysql_async's). A `table=` there names the *session* table, so one URL can serve both,
//!   and is ignored here; the user table is [`SqlUsersConfig::table`].
//! - **Custom user models.** [`SqlUsersConfig`] names the table (`db_table`, default
//!   `auth_user`) and the four columns tessera reads, each checked as the stores check a table
//!   name (ASCII letters, digits, `_`; 1 to 63), and the key's [`PkKind`] (a `UUIDField` key
//!   is stored as 32 hex digits on SQLite and MySQL, as Django stores it). Every value is a
//!   bound parameter.
//! - **Reads.** [`user`](UserSource::user) and [`user_by_username`](UserSource::user_by_username)
//!   return inactive users too (`is_active` false); [`authenticate`](crate::auth::authenticate)
//!   and `get_user` refuse them. The username is compared by the column's collation, as
//!   Django's `ModelBackend` compares it: case-insensitively under MySQL's default collations.
//! - **Schema.** [`SqlUsers::create_table_if_missing`] creates `auth_user` exactly as Django
//!   6.1's `migrate auth` leaves it on each backend ([`SqlUsers::create_table_sql`] shows the
//!   statements), and does nothing when a table of that name exists: an existing table is
//!   never altered. It does not create `auth_group`, `auth_permission`, their link tables or
//!   `django_content_type`, nor record `auth` migrations as applied: a Django app sharing the
//!   database should run its own `migrate` first (then this is a no-op).
//! - **Writes.** [`SqlUsers::add_user`] is Django's `User.objects.create_user(name, password)`:
//!   the password hashed with [`SqlUsersConfig::hasher`] (Django 6.1's PBKDF2-SHA256 with
//!   1,500,000 iterations by default) on tokio's blocking pool, `is_active` true,
//!   `date_joined` now (UTC, as Django stores it with `USE_TZ=True`), `last_login` null, empty
//!   names and email, no staff or superuser flag. It writes `auth.User`'s columns: a custom
//!   model with other required columns needs its own insert. [`SqlUsers::set_password`] is
//!   `set_password` and `save`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), tessera::auth::sql_users::SqlUsersError> {
//! use tessera::auth::sql_users::{SqlUsers, SqlUsersConfig};
//! use tessera::auth::{authenticate, password::PasswordHasher, PkKind};
//!
//! // Django's own auth_user, next to the sessions.
//! let users = SqlUsers::connect("sqlite:///var/lib/app/db.sqlite3").await?;
//! users.create_table_if_missing().await?;
//! let alice = users.add_user("alice", "correct horse").await?;
//! let found = authenticate(&users, "alice", "correct horse", PasswordHasher::default()).await;
//! assert_eq!(found.ok().flatten().map(|u| u.id), Some(alice.id));
//!
//! // A custom user model: `class Member(AbstractBaseUser)` with `db_table = "members"`,
//! // `USERNAME_FIELD = "email"` and a UUID key.
//! let config = SqlUsersConfig::default()
//!     .table("members")
//!     .username_column("email")
//!     .pk_kind(PkKind::Uuid);
//! let members = SqlUsers::connect_with("postgres://app@db/app", config).await?;
//! # let _ = members;
//! # Ok(()) }
//! ```

mod schema;

#[cfg(feature = "mysql")]
mod mysql;
#[cfg(feature = "postgres")]
mod postgres;
#[cfg(feature = "sqlite")]
mod sqlite;

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;

use super::password::{PasswordError, PasswordHasher};
use super::user::{PkKind, User, UserSource, UserSourceError};
use crate::store::url::StoreUrl;
use schema::{Dialect, UserStatements};

/// Django's table for `auth.User`.
pub const DEFAULT_TABLE: &str = "auth_user";

/// Where the users are and how the table is laid out; the defaults are `auth.User`'s.
#[derive(Clone, Debug)]
pub struct SqlUsersConfig {
    table: String,
    pk_column: String,
    username_column: String,
    password_column: String,
    is_active_column: String,
    pk_kind: PkKind,
    hasher: PasswordHasher,
}

impl Default for SqlUsersConfig {
    fn default() -> Self {
        SqlUsersConfig {
            table: DEFAULT_TABLE.to_owned(),
            pk_column: "id".to_owned(),
            username_column: "username".to_owned(),
            password_column: "password".to_owned(),
            is_active_column: "is_active".to_owned(),
            pk_kind: PkKind::Int,
            hasher: PasswordHasher::default(),
        }
    }
}

impl SqlUsersConfig {
    /// The user model's `db_table` (default `auth_user`).
    pub fn table(mut self, name: impl Into<String>) -> Self {
        self.table = name.into();
        self
    }

    /// The primary key's column (default `id`).
    pub fn pk_column(mut self, name: impl Into<String>) -> Self {
        self.pk_column = name.into();
        self
    }

    /// The `USERNAME_FIELD`'s column (default `username`).
    pub fn username_column(mut self, name: impl Into<String>) -> Self {
        self.username_column = name.into();
        self
    }

    /// The password hash's column (default `password`).
    pub fn password_column(mut self, name: impl Into<String>) -> Self {
        self.password_column = name.into();
        self
    }

    /// The `is_active` column (default `is_active`).
    pub fn is_active_column(mut self, name: impl Into<String>) -> Self {
        self.is_active_column = name.into();
        self
    }

    /// The primary key's kind (default [`PkKind::Int`]).
    pub fn pk_kind(mut self, kind: PkKind) -> Self {
        self.pk_kind = kind;
        self
    }

    /// How [`SqlUsers::add_user`] and [`SqlUsers::set_password`] hash (default
    /// [`PasswordHasher::default`], Django 6.1's). Django checks a hash of any iteration count
    /// and upgrades it at the next login, so tests may pass a cheap one.
    pub fn hasher(mut self, hasher: PasswordHasher) -> Self {
        self.hasher = hasher;
        self
    }
}

/// What went wrong in [`SqlUsers`]. Messages carry no bound value (no password hash).
#[derive(Debug, thiserror::Error)]
pub enum SqlUsersError {
    /// A bad URL, table or column name, or a feature that is not built.
    #[error("user table configuration: {0}")]
    Config(String),
    /// The server failed or refused a statement.
    #[error("user table: {0}")]
    Database(String),
    /// [`SqlUsers::add_user`]: a user of that name exists.
    #[error("a user with that username already exists")]
    UsernameTaken,
    /// [`SqlUsers::add_user`]: Django's `create_user` refuses an empty username too.
    #[error("the given username must be set")]
    EmptyUsername,
    /// Hashing failed (the OS gave no random salt).
    #[error(transparent)]
    Password(#[from] PasswordError),
}

impl From<SqlUsersError> for UserSourceError {
    fn from(e: SqlUsersError) -> Self {
        UserSourceError(e.to_string())
    }
}

/// One row as read: the key's text, the password field, `is_active`.
pub(crate) struct Row {
    pub(crate) id: String,
    pub(crate) password: String,
    pub(crate) is_active: bool,
}

/// The connection to one server.
enum Driver {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteUsers),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PostgresUsers),
    #[cfg(feature = "mysql")]
    Mysql(mysql::MysqlUsers),
}

/// Users in Django's `auth_user` table (or a custom user model's). Cheap to clone.
#[derive(Clone)]
pub struct SqlUsers {
    driver: Arc<Driver>,
    sql: Arc<UserStatements>,
    hasher: PasswordHasher,
}

impl fmt::Debug for SqlUsers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Never the URL: it may hold the database password.
        f.debug_struct("SqlUsers")
            .field("dialect", &self.sql.dialect)
            .field("table", &self.sql.table)
            .finish_non_exhaustive()
    }
}

impl SqlUsers {
    /// Connects to `url` with `auth.User`'s layout.
    pub async fn connect(url: &str) -> Result<Self, SqlUsersError> {
        Self::connect_with(url, SqlUsersConfig::default()).await
    }

    /// Connects to `url` (the forms in the [module docs](self)), checking the configured
    /// names first and that the server answers.
    pub async fn connect_with(url: &str, config: SqlUsersConfig) -> Result<Self, SqlUsersError> {
        let mut url =
            StoreUrl::parse(url).map_err(|e| SqlUsersError::Config(without_prefix(&e)))?;
        // The session table of a URL shared with the store.
        url.take("table");
        let dialect = match url.scheme {
            "sqlite" => Dialect::Sqlite,
            "postgres" | "postgresql" => Dialect::Postgres,
            "mysql" => Dialect::Mysql,
            other => {
                return Err(SqlUsersError::Config(format!(
                    "no SQL user source for {other}:// (sqlite://, postgres:// or mysql://)"
                )))
            }
        };
        let sql = UserStatements::new(dialect, &config)?;
        let driver = match dialect {
            #[cfg(feature = "sqlite")]
            Dialect::Sqlite => Driver::Sqlite(sqlite::SqliteUsers::open(&url)?),
            #[cfg(feature = "postgres")]
            Dialect::Postgres => Driver::Postgres(postgres::PostgresUsers::connect(url)?),
            #[cfg(feature = "mysql")]
            Dialect::Mysql => Driver::Mysql(mysql::MysqlUsers::connect(url)?),
            #[allow(unreachable_patterns)]
            _ => {
                return Err(SqlUsersError::Config(format!(
                    "{}:// users need tessera's {:?} cargo feature",
                    url.scheme,
                    format!("{dialect:?}").to_ascii_lowercase()
                )))
            }
        };
        let users = SqlUsers {
            driver: Arc::new(driver),
            sql: Arc::new(sql),
            hasher: config.hasher,
        };
        users.ping().await?;
        Ok(users)
    }

    /// The table this source reads.
    pub fn table(&self) -> &str {
        &self.sql.table
    }

    /// The statements [`create_table_if_missing`](Self::create_table_if_missing) runs on a
    /// missing table, for review or for a DBA to run by hand.
    pub fn create_table_sql(&self) -> Vec<String> {
        self.sql.ddl.clone()
    }

    /// Creates the table as Django's `migrate auth` leaves it, unless a table of that name
    /// exists (which is never altered). Returns whether it created the table.
    pub async fn create_table_if_missing(&self) -> Result<bool, SqlUsersError> {
        if self.sql.pk_kind != PkKind::Int {
            return Err(SqlUsersError::Config(
                "tessera creates only auth.User's table, whose key is an integer".to_owned(),
            ));
        }
        let created = match &*self.driver {
            #[cfg(feature = "sqlite")]
            Driver::Sqlite(d) => d.create_if_missing(&self.sql).await?,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.create_if_missing(&self.sql).await?,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.create_if_missing(&self.sql).await?,
        };
        if created {
            tracing::info!(
                target: "tessera::auth",
                "created the {} table as Django 6.1's migrate auth leaves it",
                self.sql.table
            );
        }
        Ok(created)
    }

    /// [`create_table_if_missing`](Self::create_table_if_missing), for symmetry with the
    /// stores' `migrate`.
    pub async fn migrate(&self) -> Result<(), SqlUsersError> {
        self.create_table_if_missing().await.map(drop)
    }

    /// Django's `create_user(username, password)`: a new active user (see the
    /// [module docs](self) for the other columns). The password is hashed off the async
    /// workers.
    ///
    /// # Errors
    ///
    /// [`SqlUsersError::EmptyUsername`], [`SqlUsersError::UsernameTaken`], or the server's.
    pub async fn add_user(
        &self,
        username: &str,
        raw_password: &str,
    ) -> Result<User, SqlUsersError> {
        if username.is_empty() {
            return Err(SqlUsersError::EmptyUsername);
        }
        if self.fetch_by_username(username).await?.is_some() {
            return Err(SqlUsersError::UsernameTaken);
        }
        let password = self.hash(raw_password).await?;
        let joined = chrono::Utc::now();
        let stored_id = match &*self.driver {
            #[cfg(feature = "sqlite")]
            Driver::Sqlite(d) => d.insert(&self.sql, &password, username, joined).await?,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.insert(&self.sql, &password, username, joined).await?,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.insert(&self.sql, &password, username, joined).await?,
        };
        Ok(User {
            id: self.sql.canonical_id(stored_id)?,
            password,
            is_active: true,
        })
    }

    /// Django's `user.set_password(raw); user.save()`: every session made with the old
    /// password ends. Returns whether the user exists.
    pub async fn set_password(&self, id: &str, raw_password: &str) -> Result<bool, SqlUsersError> {
        let Some(pk) = self.sql.pk_param(id) else {
            return Ok(false);
        };
        let password = self.hash(raw_password).await?;
        let changed = match &*self.driver {
            #[cfg(feature = "sqlite")]
            Driver::Sqlite(d) => d.update_password(&self.sql, &password, pk).await?,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.update_password(&self.sql, &password, pk).await?,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.update_password(&self.sql, &password, pk).await?,
        };
        Ok(changed > 0)
    }

    async fn hash(&self, raw: &str) -> Result<String, SqlUsersError> {
        let (hasher, raw) = (self.hasher, raw.to_owned());
        crate::auth::authenticate::password_work(move || hasher.hash(&raw))
            .await
            .map_err(|e| SqlUsersError::Password(PasswordError(format!("hashing stopped: {e}"))))?
            .map_err(SqlUsersError::Password)
    }

    /// One round trip, so a bad address or password fails at connect time.
    async fn ping(&self) -> Result<(), SqlUsersError> {
        match &*self.driver {
            #[cfg(feature = "sqlite")]
            Driver::Sqlite(d) => d.ping().await,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.ping().await,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.ping().await,
        }
    }

    async fn fetch(
        &self,
        sql: &str,
        param: schema::PkParam,
    ) -> Result<Option<User>, SqlUsersError> {
        let row = match &*self.driver {
            #[cfg(feature = "sqlite")]
            Driver::Sqlite(d) => d.fetch(sql, param).await?,
            #[cfg(feature = "postgres")]
            Driver::Postgres(d) => d.fetch(sql, param).await?,
            #[cfg(feature = "mysql")]
            Driver::Mysql(d) => d.fetch(sql, param).await?,
        };
        row.map(|row| {
            Ok(User {
                id: self.sql.canonical_id(row.id)?,
                password: row.password,
                is_active: row.is_active,
            })
        })
        .transpose()
    }

    async fn fetch_by_username(&self, username: &str) -> Result<Option<User>, SqlUsersError> {
        let param = schema::PkParam::Text(username.to_owned());
        self.fetch(&self.sql.by_username, param).await
    }
}

#[async_trait]
impl UserSource for SqlUsers {
    async fn user(&self, id: &str) -> Result<Option<User>, UserSourceError> {
        let Some(pk) = self.sql.pk_param(id) else {
            return Ok(None);
        };
        Ok(self.fetch(&self.sql.by_id, pk).await?)
    }

    async fn user_by_username(&self, username: &str) -> Result<Option<User>, UserSourceError> {
        Ok(self.fetch_by_username(username).await?)
    }
}

/// A store URL error's text without the store's wording.
fn without_prefix(e: &crate::store::StoreError) -> String {
    match e {
        crate::store::StoreError::Config(msg) => msg.clone(),
        other => other.to_string(),
    }
}

/// `date_joined` as Django's SQLite and MySQL backends store a `DateTimeField` under
/// `USE_TZ=True`: naive UTC, `YYYY-MM-DD HH:MM:SS[.ffffff]`, the fraction omitted when zero.
#[cfg(any(feature = "sqlite", feature = "mysql"))]
fn naive_utc_text(at: chrono::DateTime<chrono::Utc>) -> String {
    let micros = at.timestamp_subsec_micros();
    let whole = at.format("%Y-%m-%d %H:%M:%S");
    if micros == 0 {
        whole.to_string()
    } else {
        format!("{whole}.{micros:06}")
    }
}
