//! What the PostgreSQL, MySQL and SQLite stores share: Django's session table (its name rule,
//! its schema, its index names), the statement texts for each dialect, built once per store,
//! and the loop that purges expired rows in batches. Each driver module keeps only its
//! connections, cancellation and driver glue.

// Each driver uses its own part; a build with one SQL store leaves the others unused.
#![cfg_attr(
    not(all(feature = "sqlite", feature = "postgres", feature = "mysql")),
    allow(dead_code)
)]

use std::future::Future;

use md5::{Digest, Md5};

use super::StoreError;

/// Django's table name for the built-in session model.
pub const DEFAULT_TABLE: &str = "django_session";

/// The longest table name: PostgreSQL's identifier limit (`NAMEDATALEN - 1`), past which it
/// silently truncates. MySQL's is 64; SQLite has none.
pub const MAX_TABLE_LEN: usize = 63;

/// Checks a session table name (a custom Django session model's `db_table`): 1 to
/// [`MAX_TABLE_LEN`] ASCII letters, digits or underscores.
///
/// One rule for every SQL store. Such a name needs no escaping inside quotes, so each dialect
/// quotes it plainly, as Django does; a leading digit is fine quoted, on all three servers and
/// for Django, which derives index names for it like any other.
pub fn check_table_name(name: &str) -> Result<(), StoreError> {
    check_identifier("session table", name).map_err(StoreError::Config)
}

/// The one rule for every table and column name tessera puts in SQL (the session stores', and
/// the user table's): `Err` says which `what` broke it.
pub(crate) fn check_identifier(what: &str, name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_TABLE_LEN
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{what} name must be 1 to {MAX_TABLE_LEN} ASCII letters, digits or underscores"
        ))
    }
}

/// Django's `BaseDatabaseSchemaEditor._create_index_name(table, [column], suffix)`:
/// `<table>_<column>_<md5(table ‖ column)[:8]><suffix>`, shortened as Django shortens it when
/// longer than the backend's `max_name_length`. MD5 here is a name digest, nothing secret.
pub fn django_index_name(table: &str, column: &str, suffix: &str, max_len: usize) -> String {
    let digest = Md5::new_with_prefix(table).chain_update(column).finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let mut hash_suffix = format!("{}{suffix}", &hex[..8]);
    let name = format!("{table}_{column}_{hash_suffix}");
    if name.len() <= max_len {
        return name;
    }
    if hash_suffix.len() > max_len / 3 {
        hash_suffix.truncate(max_len / 3);
    }
    let other = (max_len - hash_suffix.len()) / 2 - 1;
    let name = format!(
        "{}_{}_{hash_suffix}",
        &table[..other.min(table.len())],
        &column[..other.min(column.len())]
    );
    if name.starts_with('_') || name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("D{}", &name[..name.len() - 1])
    } else {
        name
    }
}

/// The SQL each server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    Postgres,
    Mysql,
    Sqlite,
}

impl Dialect {
    /// An identifier in quotes (names passed [`check_table_name`] need no escaping).
    pub(crate) fn quote(self, ident: &str) -> String {
        match self {
            Dialect::Mysql => format!("`{ident}`"),
            Dialect::Postgres | Dialect::Sqlite => format!("\"{ident}\""),
        }
    }

    /// The `n`th bound parameter (1-based).
    pub(crate) fn param(self, n: usize) -> String {
        match self {
            Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".to_owned(),
            Dialect::Sqlite => format!("?{n}"),
        }
    }

    /// A boolean literal as Django writes one on this backend.
    pub(crate) fn boolean(self, value: bool) -> &'static str {
        match (self, value) {
            (Dialect::Postgres, true) => "true",
            (Dialect::Postgres, false) => "false",
            (_, true) => "1",
            (_, false) => "0",
        }
    }

    /// Django's `max_name_length()`, which bounds index names (200 where it has none).
    pub(crate) fn max_name_len(self) -> usize {
        match self {
            Dialect::Postgres => 63,
            Dialect::Mysql => 64,
            Dialect::Sqlite => 200,
        }
    }

    /// Django's column types for `TextField` and `DateTimeField`.
    fn types(self) -> (&'static str, &'static str) {
        match self {
            Dialect::Postgres => ("text", "timestamp with time zone"),
            Dialect::Mysql => ("longtext", "datetime(6)"),
            Dialect::Sqlite => ("text", "datetime"),
        }
    }
}

/// Every statement a store runs on one table, built once.
#[derive(Debug)]
pub(crate) struct Statements {
    pub(crate) table: String,
    /// The live row's `session_data`: key, now.
    pub(crate) load: String,
    /// Insert-only: key, data, expiry.
    pub(crate) create: String,
    /// Compare-and-swap, byte for byte: data, expiry, key, the data that was loaded.
    pub(crate) save: String,
    /// Any row's `session_data`: key.
    pub(crate) current: String,
    /// Whether a row exists, expired or not: key.
    pub(crate) exists: String,
    pub(crate) delete: String,
    /// One batch of the purge: now, the batch size.
    pub(crate) clear: String,
    /// Django's migration `sessions.0001_initial`, verbatim.
    pub(crate) ddl: Vec<String>,
    /// The same with `IF NOT EXISTS`, as one script (SQLite), with `record_migration` after.
    pub(crate) create_if_missing: String,
    /// Records `sessions.0001_initial` as applied in Django's `django_migrations` (made as
    /// Django makes it when missing), unless it is there: Django's `migrate` then skips the
    /// migration instead of failing on a table tessera created. Empty for a custom table, which
    /// belongs to a migration of the app that defines it.
    pub(crate) record_migration: Vec<String>,
    /// The per-user index beside the table.
    pub(crate) users: UserIndexSql,
}

/// The side table that indexes sessions by user, and its statements.
///
/// `<index> (session_key varchar(40) PRIMARY KEY, user_id varchar(255), created_at,
/// last_seen, expire_date)`, with indexes on `user_id` and `expire_date`: tessera's own table,
/// which Django never reads, so its migrations and `clearsessions` are unaffected. Times the
/// listing only shows (`created_at`, `last_seen`) are Unix seconds as doubles; `expire_date`
/// has the session table's type, so it compares with the same bound "now".
#[derive(Debug)]
pub(crate) struct UserIndexSql {
    /// The index table's name, for messages.
    #[allow(dead_code)]
    pub(crate) table: String,
    /// `CREATE … IF NOT EXISTS` for the table and its indexes (PostgreSQL, SQLite).
    pub(crate) ddl: Vec<String>,
    /// The index names and their plain `CREATE INDEX` (MySQL 8 has no `IF NOT EXISTS` for
    /// indexes, only MariaDB does: the caller checks `information_schema` first).
    pub(crate) indexes: Vec<(String, String)>,
    /// Indexes a session, keeping `created_at` while the user stays the same: key, user,
    /// now (seconds) twice, expiry (five parameters: MySQL's are positional).
    pub(crate) upsert: String,
    /// Unindexes a session: key.
    pub(crate) unindex: String,
    /// A user's live sessions, joined to the session table so a session Django deleted is not
    /// shown: user, now → key, created_at, last_seen, expiry in seconds.
    pub(crate) list: String,
    /// Removes a user's entries whose session is gone or expired: user, now.
    pub(crate) prune: String,
    /// A user's indexed keys but one: user, the key kept ('' for none).
    pub(crate) keys: String,
    /// One batch of entries whose session is gone or expired: now, now, limit.
    pub(crate) clear: String,
    /// One page of live sessions for the backfill: now, after this key, limit → key, data,
    /// expiry in seconds.
    pub(crate) scan: String,
}

/// Whether a PostgreSQL or MySQL store may use its side table.
///
/// The side table is made on connect when missing, but a deployment whose session table
/// Django made may not let the store create tables (no `CREATE` privilege), or the session
/// table itself may not exist yet. Such a store still serves sessions: it writes only the
/// session table, warns once, and its index methods answer [`SideTable::missing`] until
/// `migrate()` succeeds.
#[derive(Debug, Default)]
pub(crate) struct SideTable {
    state: std::sync::atomic::AtomicU8,
}

impl SideTable {
    // 0: not checked yet.
    const READY: u8 = 1;
    const MISSING: u8 = 2;

    /// `Some(ready)` once known; `None` before the first check (a store over a caller's pool).
    pub(crate) fn known(&self) -> Option<bool> {
        match self.state.load(std::sync::atomic::Ordering::Acquire) {
            Self::READY => Some(true),
            Self::MISSING => Some(false),
            _ => None,
        }
    }

    /// The side table exists (created, or found).
    pub(crate) fn set_ready(&self) {
        self.state
            .store(Self::READY, std::sync::atomic::Ordering::Release);
    }

    /// It could not be created: log why, once, and run without it.
    pub(crate) fn set_missing(&self, table: &str, why: &str) {
        let before = self
            .state
            .swap(Self::MISSING, std::sync::atomic::Ordering::AcqRel);
        if before != Self::MISSING {
            tracing::warn!(
                target: "tessera::store",
                "the per-user session index `{table}` is unavailable ({why}): sessions work, \
                 but listing and revoking a user's sessions need `tessera migrate`"
            );
        }
    }

    /// The error of an index method while the side table is missing.
    pub(crate) fn missing(table: &str) -> StoreError {
        StoreError::Config(format!(
            "the per-user session index `{table}` does not exist and could not be created: \
             run `tessera migrate` (or the store's migrate()) with a user allowed to create \
             tables, then `reindex_users` to backfill"
        ))
    }
}

/// The index table's name: `tessera_session_user` beside Django's table, `<table>_tessera_user`
/// beside a custom one (or, past the name limit, a digest of it).
pub fn user_index_table(session_table: &str) -> String {
    if session_table == DEFAULT_TABLE {
        return "tessera_session_user".to_owned();
    }
    let name = format!("{session_table}_tessera_user");
    if name.len() <= MAX_TABLE_LEN {
        return name;
    }
    let digest = Md5::new_with_prefix(session_table).finalize();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("tessera_user_{hex}")
}

impl UserIndexSql {
    fn build(dialect: Dialect, session_table: &str) -> UserIndexSql {
        let q = |ident: &str| dialect.quote(ident);
        let p = |n: usize| dialect.param(n);
        let name = user_index_table(session_table);
        let (i, t) = (q(&name), q(session_table));
        let (key, user, created, seen, expire) = (
            q("session_key"),
            q("user_id"),
            q("created_at"),
            q("last_seen"),
            q("expire_date"),
        );
        let (_, datetime) = dialect.types();
        let double = match dialect {
            Dialect::Mysql => "double",
            Dialect::Postgres | Dialect::Sqlite => "double precision",
        };
        let index = |column: &str| {
            let index_name = format!("{name}_{column}");
            let plain = format!("CREATE INDEX {} ON {i} ({});", q(&index_name), q(column));
            (index_name, plain)
        };
        let indexes = vec![index("user_id"), index("expire_date")];
        let if_not_exists = |(_, plain): &(String, String)| {
            plain.replacen("CREATE INDEX", "CREATE INDEX IF NOT EXISTS", 1)
        };
        let ddl = vec![
            format!(
                "CREATE TABLE IF NOT EXISTS {i} ({key} varchar(40) NOT NULL PRIMARY KEY, \
                 {user} varchar(255) NOT NULL, {created} {double} NOT NULL, \
                 {seen} {double} NOT NULL, {expire} {datetime} NOT NULL);"
            ),
            if_not_exists(&indexes[0]),
            if_not_exists(&indexes[1]),
        ];
        let values = format!(
            "INSERT INTO {i} ({key}, {user}, {created}, {seen}, {expire}) \
             VALUES ({}, {}, {}, {}, {})",
            p(1),
            p(2),
            p(3),
            p(4),
            p(5)
        );
        let upsert = match dialect {
            // Assignments run left to right: `created_at` reads the old `user_id`.
            Dialect::Mysql => format!(
                "{values} ON DUPLICATE KEY UPDATE {created} = IF({user} = VALUES({user}), \
                 {created}, VALUES({created})), {user} = VALUES({user}), \
                 {seen} = VALUES({seen}), {expire} = VALUES({expire})"
            ),
            Dialect::Postgres | Dialect::Sqlite => format!(
                "{values} ON CONFLICT ({key}) DO UPDATE SET {created} = CASE WHEN \
                 {i}.{user} = excluded.{user} THEN {i}.{created} ELSE excluded.{created} END, \
                 {user} = excluded.{user}, {seen} = excluded.{seen}, \
                 {expire} = excluded.{expire}"
            ),
        };
        let seconds = |column: &str| match dialect {
            Dialect::Postgres => format!("CAST(extract(epoch FROM {column}) AS double precision)"),
            Dialect::Mysql => {
                format!("TIMESTAMPDIFF(MICROSECOND, '1970-01-01 00:00:00', {column}) / 1e6")
            }
            Dialect::Sqlite => format!("(julianday({column}) - 2440587.5) * 86400.0"),
        };
        let list = format!(
            "SELECT x.{key}, x.{created}, x.{seen}, {} FROM {i} x JOIN {t} s \
             ON s.{key} = x.{key} WHERE x.{user} = {} AND s.{expire} > {}",
            seconds(&format!("s.{expire}")),
            p(1),
            p(2)
        );
        let dead = |now: usize| {
            format!(
                "NOT EXISTS (SELECT 1 FROM {t} s WHERE s.{key} = x.{key} AND s.{expire} > {})",
                p(now)
            )
        };
        let prune = format!(
            "DELETE FROM {i} WHERE {key} IN (SELECT {key} FROM (SELECT x.{key} FROM {i} x \
             WHERE x.{user} = {} AND {}) d)",
            p(1),
            dead(2)
        );
        let clear = format!(
            "DELETE FROM {i} WHERE {key} IN (SELECT {key} FROM (SELECT x.{key} FROM {i} x \
             WHERE x.{expire} <= {} AND {} LIMIT {}) d)",
            p(1),
            dead(2),
            p(3)
        );
        UserIndexSql {
            ddl,
            indexes,
            upsert,
            unindex: format!("DELETE FROM {i} WHERE {key} = {}", p(1)),
            list,
            prune,
            keys: format!(
                "SELECT {key} FROM {i} WHERE {user} = {} AND {key} <> {}",
                p(1),
                p(2)
            ),
            clear,
            scan: format!(
                "SELECT {key}, {}, {} FROM {t} WHERE {expire} > {} AND {key} > {} \
                 ORDER BY {key} LIMIT {}",
                q("session_data"),
                seconds(&expire),
                p(1),
                p(2),
                p(3)
            ),
            table: name,
        }
    }
}

impl Statements {
    /// The statements for `table`, once its name passed [`check_table_name`].
    pub(crate) fn new(dialect: Dialect, table: &str) -> Result<Statements, StoreError> {
        check_table_name(table)?;
        Ok(Statements::build(dialect, table))
    }

    /// The statements for [`DEFAULT_TABLE`].
    pub(crate) fn django(dialect: Dialect) -> Statements {
        Statements::build(dialect, DEFAULT_TABLE)
    }

    fn build(dialect: Dialect, table: &str) -> Statements {
        let q = |ident: &str| dialect.quote(ident);
        let p = |n: usize| dialect.param(n);
        let t = q(table);
        let (key, data, expire) = (q("session_key"), q("session_data"), q("expire_date"));
        let same_data = match dialect {
            // The default collations compare case-insensitively and ignore trailing spaces.
            Dialect::Mysql => format!("CAST({data} AS BINARY) = CAST({} AS BINARY)", p(4)),
            Dialect::Postgres | Dialect::Sqlite => format!("{data} = {}", p(4)),
        };
        let clear = match dialect {
            Dialect::Postgres => format!(
                "DELETE FROM {t} WHERE {key} IN \
                 (SELECT {key} FROM {t} WHERE {expire} < {} LIMIT {})",
                p(1),
                p(2)
            ),
            Dialect::Mysql => format!("DELETE FROM {t} WHERE {expire} < {} LIMIT {}", p(1), p(2)),
            // `<=`, as load treats a row expiring exactly now as expired; by rowid, so the
            // subquery is a range scan of the expiry index.
            Dialect::Sqlite => format!(
                "DELETE FROM {t} WHERE rowid IN \
                 (SELECT rowid FROM {t} WHERE {expire} <= {} LIMIT {})",
                p(1),
                p(2)
            ),
        };
        let (text, datetime) = dialect.types();
        let max = dialect.max_name_len();
        let expire_index = q(&django_index_name(table, "expire_date", "", max));
        let ddl = |if_not_exists: &str| {
            let mut ddl = vec![format!(
                "CREATE TABLE {if_not_exists}{t} ({key} varchar(40) NOT NULL PRIMARY KEY, \
                 {data} {text} NOT NULL, {expire} {datetime} NOT NULL);"
            )];
            if dialect == Dialect::Postgres {
                let like = q(&django_index_name(table, "session_key", "_like", max));
                ddl.push(format!(
                    "CREATE INDEX {if_not_exists}{like} ON {t} ({key} varchar_pattern_ops);"
                ));
            }
            ddl.push(format!(
                "CREATE INDEX {if_not_exists}{expire_index} ON {t} ({expire});"
            ));
            ddl
        };
        let record_migration = if table == DEFAULT_TABLE {
            record_migration(dialect)
        } else {
            Vec::new()
        };
        let mut create_if_missing = ddl("IF NOT EXISTS ");
        create_if_missing.extend(record_migration.iter().cloned());
        Statements {
            table: table.to_owned(),
            load: format!(
                "SELECT {data} FROM {t} WHERE {key} = {} AND {expire} > {}",
                p(1),
                p(2)
            ),
            create: format!(
                "INSERT INTO {t} ({key}, {data}, {expire}) VALUES ({}, {}, {})",
                p(1),
                p(2),
                p(3)
            ),
            save: format!(
                "UPDATE {t} SET {data} = {}, {expire} = {} WHERE {key} = {} AND {same_data}",
                p(1),
                p(2),
                p(3)
            ),
            current: format!("SELECT {data} FROM {t} WHERE {key} = {}", p(1)),
            exists: format!("SELECT 1 FROM {t} WHERE {key} = {}", p(1)),
            delete: format!("DELETE FROM {t} WHERE {key} = {}", p(1)),
            clear,
            ddl: ddl(""),
            create_if_missing: create_if_missing.join("\n"),
            record_migration,
            users: UserIndexSql::build(dialect, table),
        }
    }
}

/// The statements that record Django's `sessions.0001_initial` as applied: `django_migrations`
/// as Django's `MigrationRecorder` creates it (with `DEFAULT_AUTO_FIELD` a `BigAutoField`, as
/// `startproject` sets it), then the row, unless it is there.
fn record_migration(dialect: Dialect) -> Vec<String> {
    let q = |ident: &str| dialect.quote(ident);
    let (t, app, name, applied) = (q("django_migrations"), q("app"), q("name"), q("applied"));
    let (id, datetime, now, from) = match dialect {
        Dialect::Postgres => (
            "bigint NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS IDENTITY",
            "timestamp with time zone",
            "now()",
            "",
        ),
        Dialect::Mysql => (
            "bigint AUTO_INCREMENT NOT NULL PRIMARY KEY",
            "datetime(6)",
            "UTC_TIMESTAMP(6)",
            " FROM DUAL",
        ),
        Dialect::Sqlite => (
            "integer NOT NULL PRIMARY KEY AUTOINCREMENT",
            "datetime",
            "strftime('%Y-%m-%d %H:%M:%f', 'now')",
            "",
        ),
    };
    vec![
        format!(
            "CREATE TABLE IF NOT EXISTS {t} ({} {id}, {app} varchar(255) NOT NULL, \
             {name} varchar(255) NOT NULL, {applied} {datetime} NOT NULL);",
            q("id")
        ),
        format!(
            "INSERT INTO {t} ({app}, {name}, {applied}) SELECT 'sessions', '0001_initial', {now}\
             {from} WHERE NOT EXISTS (SELECT 1 FROM {t} WHERE {app} = 'sessions' AND \
             {name} = '0001_initial');"
        ),
    ]
}

/// Purges expired rows `batch_size` at a time, each batch its own statement (and
/// transaction) so no lock is held long, until a batch comes back short. `delete_batch` runs
/// one batch of at most the given number of rows and returns how many it removed; `progress`
/// hears the running total after each. Returns the total.
///
/// `delete_batch` returns a future rather than being an async closure: a store's trait
/// methods must return `Send` futures, which the compiler cannot yet prove through one.
pub(crate) async fn clear_in_batches<F, Fut>(
    batch_size: usize,
    progress: &(dyn Fn(u64) + Send + Sync),
    mut delete_batch: F,
) -> Result<u64, StoreError>
where
    F: FnMut(u64) -> Fut,
    Fut: Future<Output = Result<u64, StoreError>>,
{
    let batch = batch_size.max(1) as u64;
    let mut total = 0u64;
    loop {
        let removed = delete_batch(batch).await?;
        total += removed;
        progress(total);
        if removed < batch {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_names_are_djangos() {
        assert_eq!(
            django_index_name("django_session", "expire_date", "", 200),
            "django_session_expire_date_a5c62663"
        );
        assert_eq!(
            django_index_name("django_session", "session_key", "_like", 63),
            "django_session_session_key_c0390e0f_like"
        );
        // Long names are shortened as Django shortens them (values from Django's algorithm).
        assert_eq!(
            django_index_name(&"a".repeat(63), "expire_date", "", 63),
            "aaaaaaaaaaaaaaaaaaaaaaaaaa_expire_date_045b053b"
        );
        assert_eq!(
            django_index_name(
                "_private_sessions_table_with_quite_a_long_name_here",
                "session_key",
                "_like",
                63
            ),
            "D_private_sessions_table__session_key_8ef35030_lik"
        );
        assert_eq!(
            django_index_name(
                "sessions_of_a_rather_long_application_name_x",
                "expire_date",
                "",
                64
            ),
            "sessions_of_a_rather_long_a_expire_date_eadd9554"
        );
    }

    #[test]
    fn one_table_name_rule_for_every_dialect() {
        let longest = "a".repeat(MAX_TABLE_LEN);
        for good in [
            "django_session",
            "_x9",
            "9lives",
            "123",
            "MySessions",
            &longest,
        ] {
            for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
                assert!(
                    Statements::new(dialect, good).is_ok(),
                    "{good:?} {dialect:?}"
                );
            }
        }
        let too_long = "a".repeat(MAX_TABLE_LEN + 1);
        for bad in [
            "",
            "a-b",
            "a.b",
            "a b",
            "a\"b",
            "a`b",
            "x\"; DROP TABLE y; --",
            "naïve",
            &too_long,
        ] {
            for dialect in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
                assert!(
                    matches!(Statements::new(dialect, bad), Err(StoreError::Config(_))),
                    "{bad:?} {dialect:?}"
                );
            }
        }
    }

    /// The texts each store ran before they shared this module.
    #[test]
    fn statements_per_dialect() {
        let pg = Statements::new(Dialect::Postgres, "t").unwrap();
        assert_eq!(
            pg.load,
            "SELECT \"session_data\" FROM \"t\" WHERE \"session_key\" = $1 AND \"expire_date\" > $2"
        );
        assert_eq!(
            pg.save,
            "UPDATE \"t\" SET \"session_data\" = $1, \"expire_date\" = $2 \
             WHERE \"session_key\" = $3 AND \"session_data\" = $4"
        );
        assert_eq!(
            pg.clear,
            "DELETE FROM \"t\" WHERE \"session_key\" IN \
             (SELECT \"session_key\" FROM \"t\" WHERE \"expire_date\" < $1 LIMIT $2)"
        );
        let my = Statements::new(Dialect::Mysql, "t").unwrap();
        assert_eq!(
            my.create,
            "INSERT INTO `t` (`session_key`, `session_data`, `expire_date`) VALUES (?, ?, ?)"
        );
        assert_eq!(
            my.save,
            "UPDATE `t` SET `session_data` = ?, `expire_date` = ? \
             WHERE `session_key` = ? AND CAST(`session_data` AS BINARY) = CAST(? AS BINARY)"
        );
        assert_eq!(my.clear, "DELETE FROM `t` WHERE `expire_date` < ? LIMIT ?");
        assert_eq!(
            my.ddl,
            [
                "CREATE TABLE `t` (`session_key` varchar(40) NOT NULL PRIMARY KEY, \
                 `session_data` longtext NOT NULL, `expire_date` datetime(6) NOT NULL);",
                "CREATE INDEX `t_expire_date_859af005` ON `t` (`expire_date`);",
            ]
        );
        let lite = Statements::new(Dialect::Sqlite, "t").unwrap();
        assert_eq!(
            lite.exists,
            "SELECT 1 FROM \"t\" WHERE \"session_key\" = ?1"
        );
        assert_eq!(
            lite.clear,
            "DELETE FROM \"t\" WHERE rowid IN \
             (SELECT rowid FROM \"t\" WHERE \"expire_date\" <= ?1 LIMIT ?2)"
        );
        assert_eq!(
            lite.create_if_missing,
            "CREATE TABLE IF NOT EXISTS \"t\" (\"session_key\" varchar(40) NOT NULL PRIMARY KEY, \
             \"session_data\" text NOT NULL, \"expire_date\" datetime NOT NULL);\n\
             CREATE INDEX IF NOT EXISTS \"t_expire_date_859af005\" ON \"t\" (\"expire_date\");"
        );
    }

    #[tokio::test]
    async fn batches_run_until_one_comes_back_short() {
        let seen = std::sync::Mutex::new(Vec::new());
        let mut left = 7u64;
        let total = clear_in_batches(3, &|n| seen.lock().unwrap().push(n), |limit| {
            let n = left.min(limit);
            left -= n;
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!(total, 7);
        assert_eq!(*seen.lock().unwrap(), [3, 6, 7]);
        // An exact multiple costs one empty batch; a batch size of 0 means 1.
        let mut calls = 0;
        let total = clear_in_batches(0, &|_| {}, |limit| {
            calls += 1;
            let n = if calls <= 2 { limit } else { 0 };
            async move { Ok(n) }
        })
        .await
        .unwrap();
        assert_eq!((total, calls), (2, 3));
        let failed = clear_in_batches(5, &|_| {}, |_| async {
            Err(StoreError::Unavailable("down".to_owned()))
        })
        .await;
        assert!(matches!(failed, Err(StoreError::Unavailable(_))));
    }
}
