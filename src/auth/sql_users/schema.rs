//! The SQL [`SqlUsers`](super::SqlUsers) runs, built once per source from its configuration:
//! Django's `auth_user` DDL per backend (as Django 6.1's migrations leave the table) and the
//! four statements the source needs, every value a bound parameter.

use crate::auth::user::PkKind;
pub(crate) use crate::store::sql::Dialect;
use crate::store::sql::{self, django_index_name};

use super::{SqlUsersConfig, SqlUsersError};

/// The one identifier rule of the session stores
/// ([`check_table_name`](crate::store::sql::check_table_name)): 1 to 63 ASCII letters, digits
/// or underscores, so a name needs no escaping inside the dialect's quotes.
pub(crate) fn check_identifier(what: &str, name: &str) -> Result<(), SqlUsersError> {
    sql::check_identifier(&format!("the {what}"), name).map_err(SqlUsersError::Config)
}

/// How a primary key is bound: an integer, or text (a UUID in the form the backend stores).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum PkParam {
    Int(i64),
    Text(String),
}

/// Every statement one source runs.
#[derive(Debug)]
pub(crate) struct UserStatements {
    pub(crate) dialect: Dialect,
    pub(crate) table: String,
    pub(crate) pk_kind: PkKind,
    /// `id` (as text), password, is_active (as 0/1) of the row whose key is parameter 1.
    pub(crate) by_id: String,
    /// The same, by login name (parameter 1).
    pub(crate) by_username: String,
    /// A new `auth.User` row: password, username, date_joined; returns the key as text on
    /// PostgreSQL and SQLite (MySQL reads `LAST_INSERT_ID()`).
    pub(crate) insert: String,
    /// A new password (parameter 1) for the key in parameter 2.
    pub(crate) set_password: String,
    /// Whether the table exists: parameter 1 is [`table_probe`](Self::table_probe).
    pub(crate) table_exists: String,
    /// Django's `CREATE TABLE` (and on PostgreSQL its `_like` index).
    pub(crate) ddl: Vec<String>,
}

impl UserStatements {
    pub(crate) fn new(dialect: Dialect, config: &SqlUsersConfig) -> Result<Self, SqlUsersError> {
        check_identifier("table", &config.table)?;
        for (what, name) in [
            ("primary key column", &config.pk_column),
            ("username column", &config.username_column),
            ("password column", &config.password_column),
            ("is_active column", &config.is_active_column),
        ] {
            check_identifier(what, name)?;
        }
        let q = |ident: &str| dialect.quote(ident);
        let p = |n: usize| dialect.param(n);
        let t = q(&config.table);
        let (pk, username, password, active) = (
            q(&config.pk_column),
            q(&config.username_column),
            q(&config.password_column),
            q(&config.is_active_column),
        );
        let text = match dialect {
            Dialect::Postgres => "text",
            Dialect::Mysql => "CHAR",
            Dialect::Sqlite => "TEXT",
        };
        // PostgreSQL infers a parameter's type from its column; the casts fix it to what
        // tessera binds (an i64, or text), and `integer = bigint` still uses the key's index.
        let pk_kind = config.pk_kind;
        let pk_match = |n: usize| match (dialect, pk_kind) {
            (Dialect::Postgres, PkKind::Int) => format!("{pk} = {}::bigint", p(n)),
            (Dialect::Postgres, PkKind::Uuid) => format!("{pk} = CAST({}::text AS uuid)", p(n)),
            (Dialect::Postgres, PkKind::Str) => format!("{pk} = {}::text", p(n)),
            _ => format!("{pk} = {}", p(n)),
        };
        let select = format!(
            "SELECT CAST({pk} AS {text}), {password}, CASE WHEN {active} THEN 1 ELSE 0 END \
             FROM {t} WHERE"
        );
        let by_id = format!("{select} {}", pk_match(1));
        let by_username = match dialect {
            Dialect::Postgres => format!("{select} {username} = $1::text"),
            _ => format!("{select} {username} = {}", p(1)),
        };
        let returning = match dialect {
            Dialect::Mysql => String::new(),
            _ => format!(" RETURNING CAST({pk} AS {text})"),
        };
        let (no, yes) = (dialect.boolean(false), dialect.boolean(true));
        let insert = format!(
            "INSERT INTO {t} ({password}, {last_login}, {superuser}, {username}, {first}, {last}, \
             {email}, {staff}, {active}, {joined}) VALUES ({p1}, NULL, {no}, {p2}, '', '', '', \
             {no}, {yes}, {p3}){returning}",
            last_login = q("last_login"),
            superuser = q("is_superuser"),
            first = q("first_name"),
            last = q("last_name"),
            email = q("email"),
            staff = q("is_staff"),
            joined = q("date_joined"),
            p1 = p(1),
            p2 = p(2),
            p3 = p(3),
        );
        let set_password = match dialect {
            Dialect::Postgres => {
                format!("UPDATE {t} SET {password} = $1::text WHERE {}", pk_match(2))
            }
            _ => format!("UPDATE {t} SET {password} = {} WHERE {}", p(1), pk_match(2)),
        };
        let table_exists = match dialect {
            Dialect::Postgres => "SELECT to_regclass($1) IS NOT NULL".to_owned(),
            Dialect::Mysql => "SELECT COUNT(*) FROM information_schema.tables \
                               WHERE table_schema = DATABASE() AND table_name = ?"
                .to_owned(),
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?1 \
                 COLLATE NOCASE"
                    .to_owned()
            }
        };
        Ok(UserStatements {
            dialect,
            table: config.table.clone(),
            pk_kind: config.pk_kind,
            by_id,
            by_username,
            insert,
            set_password,
            table_exists,
            ddl: ddl(dialect, config),
        })
    }

    /// What [`table_exists`](Self::table_exists) binds: `to_regclass` reads a quoted name.
    pub(crate) fn table_probe(&self) -> String {
        match self.dialect {
            Dialect::Postgres => format!("\"{}\"", self.table),
            Dialect::Sqlite | Dialect::Mysql => self.table.clone(),
        }
    }

    /// The key as bound: `None` when `id` cannot name a row (an integer beyond 64 bits, text
    /// for an integer key), so the lookup finds nobody without asking the server.
    pub(crate) fn pk_param(&self, id: &str) -> Option<PkParam> {
        match self.pk_kind {
            PkKind::Int => id.parse().ok().map(PkParam::Int),
            // Django stores a UUIDField as char(32) hex without hyphens, except on PostgreSQL.
            PkKind::Uuid => {
                let canonical = PkKind::Uuid
                    .to_python(&crate::json::Value::Str(id.to_owned()))
                    .ok()
                    .flatten()?;
                Some(PkParam::Text(match self.dialect {
                    Dialect::Postgres => canonical,
                    Dialect::Sqlite | Dialect::Mysql => canonical.replace('-', ""),
                }))
            }
            PkKind::Str => Some(PkParam::Text(id.to_owned())),
        }
    }

    /// The key as read (the text of `CAST(id AS text)`) in [`User::id`](crate::auth::User)'s
    /// canonical form.
    pub(crate) fn canonical_id(&self, stored: String) -> Result<String, SqlUsersError> {
        self.pk_kind
            .to_python(&crate::json::Value::Str(stored))
            .ok()
            .flatten()
            .ok_or_else(|| {
                SqlUsersError::Database(format!(
                    "a primary key in {} is not a valid {:?} key",
                    self.table, self.pk_kind
                ))
            })
    }
}

/// `auth_user` as Django 6.1 leaves it after `migrate auth` (`0001_initial` to
/// `0012_alter_user_first_name_max_length`), with the configured names. On SQLite the
/// migrations' table rebuilds moved `first_name` last; on PostgreSQL and MySQL the columns
/// keep the model's order, and the statements are what Django's schema editor writes for the
/// model (checked against a migrated database's `pg_dump` and `SHOW CREATE TABLE`).
fn ddl(dialect: Dialect, config: &SqlUsersConfig) -> Vec<String> {
    let q = |ident: &str| dialect.quote(ident);
    let t = q(&config.table);
    let (pk, username, password, active) = (
        q(&config.pk_column),
        q(&config.username_column),
        q(&config.password_column),
        q(&config.is_active_column),
    );
    let (last_login, superuser, first, last, email, staff, joined) = (
        q("last_login"),
        q("is_superuser"),
        q("first_name"),
        q("last_name"),
        q("email"),
        q("is_staff"),
        q("date_joined"),
    );
    match dialect {
        Dialect::Sqlite => vec![format!(
            "CREATE TABLE {t} ({pk} integer NOT NULL PRIMARY KEY AUTOINCREMENT, {password} \
             varchar(128) NOT NULL, {last_login} datetime NULL, {superuser} bool NOT NULL, \
             {username} varchar(150) NOT NULL UNIQUE, {last} varchar(150) NOT NULL, {email} \
             varchar(254) NOT NULL, {staff} bool NOT NULL, {active} bool NOT NULL, {joined} \
             datetime NOT NULL, {first} varchar(150) NOT NULL)"
        )],
        Dialect::Postgres => {
            let like = django_index_name(&config.table, &config.username_column, "_like", 63);
            vec![
                format!(
                    "CREATE TABLE {t} ({pk} integer NOT NULL PRIMARY KEY GENERATED BY DEFAULT AS \
                     IDENTITY, {password} varchar(128) NOT NULL, {last_login} timestamp with \
                     time zone NULL, {superuser} boolean NOT NULL, {username} varchar(150) NOT \
                     NULL UNIQUE, {first} varchar(150) NOT NULL, {last} varchar(150) NOT NULL, \
                     {email} varchar(254) NOT NULL, {staff} boolean NOT NULL, {active} boolean \
                     NOT NULL, {joined} timestamp with time zone NOT NULL)"
                ),
                format!("CREATE INDEX \"{like}\" ON {t} ({username} varchar_pattern_ops)"),
            ]
        }
        Dialect::Mysql => vec![format!(
            "CREATE TABLE {t} ({pk} integer AUTO_INCREMENT NOT NULL PRIMARY KEY, {password} \
             varchar(128) NOT NULL, {last_login} datetime(6) NULL, {superuser} bool NOT NULL, \
             {username} varchar(150) NOT NULL UNIQUE, {first} varchar(150) NOT NULL, {last} \
             varchar(150) NOT NULL, {email} varchar(254) NOT NULL, {staff} bool NOT NULL, \
             {active} bool NOT NULL, {joined} datetime(6) NOT NULL)"
        )],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_ddl_is_djangos() {
        let config = SqlUsersConfig::default();
        // `sqlite_master.sql` of a database Django 6.1's `migrate auth` made.
        assert_eq!(
            ddl(Dialect::Sqlite, &config),
            [
                "CREATE TABLE \"auth_user\" (\"id\" integer NOT NULL PRIMARY KEY AUTOINCREMENT, \
              \"password\" varchar(128) NOT NULL, \"last_login\" datetime NULL, \
              \"is_superuser\" bool NOT NULL, \"username\" varchar(150) NOT NULL UNIQUE, \
              \"last_name\" varchar(150) NOT NULL, \"email\" varchar(254) NOT NULL, \
              \"is_staff\" bool NOT NULL, \"is_active\" bool NOT NULL, \"date_joined\" \
              datetime NOT NULL, \"first_name\" varchar(150) NOT NULL)"
            ]
        );
        assert_eq!(
            ddl(Dialect::Postgres, &config)[1],
            "CREATE INDEX \"auth_user_username_6821ab7c_like\" ON \"auth_user\" (\"username\" \
             varchar_pattern_ops)"
        );
    }

    #[test]
    fn names_are_checked_and_keys_bound_as_stored() {
        for bad in ["", "a b", "x\"; DROP TABLE y; --", "é", &"a".repeat(64)] {
            let config = SqlUsersConfig::default().username_column(bad);
            assert!(
                UserStatements::new(Dialect::Sqlite, &config).is_err(),
                "{bad:?}"
            );
        }
        let config = SqlUsersConfig::default().pk_kind(PkKind::Uuid);
        let sql = UserStatements::new(Dialect::Mysql, &config).unwrap();
        assert_eq!(
            sql.pk_param("9F5328B9-AE34-44D7-B14F-B238D724277C"),
            Some(PkParam::Text("9f5328b9ae3444d7b14fb238d724277c".into()))
        );
        let sql = UserStatements::new(Dialect::Postgres, &SqlUsersConfig::default()).unwrap();
        assert_eq!(sql.pk_param("42"), Some(PkParam::Int(42)));
        assert_eq!(sql.pk_param("123456789012345678901234567890"), None);
        assert_eq!(sql.canonical_id("42".into()).unwrap(), "42");
    }
}
