//! `SqlUsers` on real SQLite, PostgreSQL and MariaDB: Django's `auth_user` created when
//! missing (an existing table never altered), users added and found by key and by name,
//! `authenticate` through them (a wrong password and an inactive user refused), a custom user
//! table, names that are not identifiers refused; and on SQLite, with the real Django 6.1,
//! each side logs in the other's users.
#![cfg(all(feature = "sqlite", feature = "postgres", feature = "mysql"))]

use crate::common;

use std::path::PathBuf;

use common::fixtures::{unique, with_param};
use common::services::require;
use mysql_async::prelude::Queryable;
use tessera::auth::password::{make_password, Algorithm, PasswordHasher};
use tessera::auth::sql_users::{SqlUsers, SqlUsersConfig, SqlUsersError};
use tessera::auth::{authenticate, UserSource};

/// Django verifies any iteration count: the tests hash cheaply.
const CHEAP: PasswordHasher = PasswordHasher {
    algorithm: Algorithm::Pbkdf2Sha256,
    iterations: 1000,
};

fn cheap() -> SqlUsersConfig {
    SqlUsersConfig::default().hasher(CHEAP)
}

/// A plain connection to the same database, for what the source must not do itself.
enum Raw {
    Sqlite(rusqlite::Connection),
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

impl Raw {
    async fn exec(&mut self, sql: &str) {
        match self {
            Raw::Sqlite(c) => c.execute_batch(sql).unwrap(),
            Raw::Postgres(c) => c.batch_execute(sql).await.unwrap(),
            Raw::Mysql(c) => c.query_drop(sql).await.unwrap(),
        }
    }

    /// The table's columns, in order.
    async fn columns(&mut self, table: &str) -> Vec<String> {
        match self {
            Raw::Sqlite(c) => {
                let mut stmt = c.prepare("SELECT name FROM pragma_table_info(?1)").unwrap();
                let names = stmt.query_map([table], |r| r.get(0)).unwrap();
                names.map(Result::unwrap).collect()
            }
            Raw::Postgres(c) => c
                .query(
                    "SELECT column_name::text FROM information_schema.columns WHERE \
                     table_schema = current_schema() AND table_name = $1 \
                     ORDER BY ordinal_position",
                    &[&table],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect(),
            Raw::Mysql(c) => c
                .exec(
                    "SELECT column_name FROM information_schema.columns WHERE \
                     table_schema = DATABASE() AND table_name = ? ORDER BY ordinal_position",
                    (table,),
                )
                .await
                .unwrap(),
        }
    }
}

/// Everything one backend must do, on a database of the test's own at `url`.
async fn scenario(url: &str, mut raw: Raw) {
    let users = SqlUsers::connect_with(url, cheap()).await.unwrap();
    assert!(users.create_table_if_missing().await.unwrap(), "created");
    assert!(!users.create_table_if_missing().await.unwrap(), "only once");
    assert_eq!(
        raw.columns("auth_user").await.len(),
        11,
        "auth.User's eleven columns"
    );

    // Added, then found by key and by name.
    let alice = users.add_user("alice", "correct horse").await.unwrap();
    assert!(alice.is_active);
    assert!(alice.password.starts_with("pbkdf2_sha256$1000$"));
    assert_eq!(users.user(&alice.id).await.unwrap(), Some(alice.clone()));
    assert_eq!(
        users.user_by_username("alice").await.unwrap(),
        Some(alice.clone())
    );
    assert_eq!(users.user("999999").await.unwrap(), None);
    assert_eq!(users.user("not a number").await.unwrap(), None);
    assert_eq!(users.user_by_username("nobody").await.unwrap(), None);
    assert!(matches!(
        users.add_user("alice", "again").await,
        Err(SqlUsersError::UsernameTaken)
    ));
    assert!(matches!(
        users.add_user("", "x").await,
        Err(SqlUsersError::EmptyUsername)
    ));

    // authenticate: the right password, a wrong one, an unknown name.
    let found = authenticate(&users, "alice", "correct horse", CHEAP)
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(alice.id.clone()));
    assert_eq!(
        authenticate(&users, "alice", "wrong", CHEAP).await.unwrap(),
        None
    );
    assert_eq!(
        authenticate(&users, "nobody", "x", CHEAP).await.unwrap(),
        None
    );

    // A new password ends the old one.
    assert!(users
        .set_password(&alice.id, "battery staple")
        .await
        .unwrap());
    assert!(!users.set_password("999999", "x").await.unwrap());
    assert_eq!(
        authenticate(&users, "alice", "correct horse", CHEAP)
            .await
            .unwrap(),
        None
    );
    assert!(authenticate(&users, "alice", "battery staple", CHEAP)
        .await
        .unwrap()
        .is_some());

    // An inactive user is read (is_active false) but never authenticated.
    let bob = users.add_user("bob", "pw").await.unwrap();
    raw.exec("UPDATE auth_user SET is_active = false WHERE username = 'bob'")
        .await;
    let read = users
        .user(&bob.id)
        .await
        .unwrap()
        .expect("inactive users are read");
    assert!(!read.is_active);
    assert_eq!(
        authenticate(&users, "bob", "pw", CHEAP).await.unwrap(),
        None
    );

    // A custom user model's table and columns.
    let hash = make_password(
        "member pw",
        "membersalt0123456789ab",
        Algorithm::Pbkdf2Sha256,
        Some(1000),
    )
    .unwrap();
    raw.exec(
        "CREATE TABLE members (member_id integer NOT NULL PRIMARY KEY, email varchar(254) \
         NOT NULL UNIQUE, secret varchar(128) NOT NULL, enabled boolean NOT NULL)",
    )
    .await;
    raw.exec(&format!(
        "INSERT INTO members VALUES (7, 'm@example.com', '{hash}', true)"
    ))
    .await;
    let config = cheap()
        .table("members")
        .pk_column("member_id")
        .username_column("email")
        .password_column("secret")
        .is_active_column("enabled");
    let members = SqlUsers::connect_with(url, config).await.unwrap();
    assert!(!members.create_table_if_missing().await.unwrap());
    let member = authenticate(&members, "m@example.com", "member pw", CHEAP)
        .await
        .unwrap()
        .expect("the member logs in");
    assert_eq!(member.id, "7");
    assert_eq!(member.password, hash);
    assert_eq!(members.user("7").await.unwrap(), Some(member));

    // An existing table of the configured name is left exactly as it is.
    raw.exec(
        "CREATE TABLE legacy_users (id integer NOT NULL PRIMARY KEY, username varchar(20) NOT \
         NULL, password varchar(200) NOT NULL, is_active boolean NOT NULL, nickname varchar(10))",
    )
    .await;
    let before = raw.columns("legacy_users").await;
    let legacy = SqlUsers::connect_with(url, cheap().table("legacy_users"))
        .await
        .unwrap();
    assert!(!legacy.create_table_if_missing().await.unwrap());
    assert_eq!(raw.columns("legacy_users").await, before);
    assert_eq!(before.len(), 5);
}

fn temp_db(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique(&format!("tessera-users-{name}-")));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_users() {
    let path = temp_db("sqlite");
    let url = format!("sqlite://{}", path.display());
    // The source creates the file (owner-only), then the raw connection shares it.
    let users = SqlUsers::connect(&url).await.unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the database file is the owner's alone");
    }
    drop(users);
    let raw = rusqlite::Connection::open(&path).unwrap();
    scenario(&url, Raw::Sqlite(raw)).await;
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_users() {
    let Some(url) = require(
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    ) else {
        return;
    };
    let (admin, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let schema = unique("tessera_users_");
    admin
        .batch_execute(&format!("CREATE SCHEMA \"{schema}\""))
        .await
        .unwrap();
    let own = with_param(&url, &format!("options=-c%20search_path%3D{schema}"));
    let (raw, conn) = tokio_postgres::connect(&own, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    scenario(&own, Raw::Postgres(raw)).await;
    // Django's DDL: the identity key and the `_like` index of `migrate auth`.
    let indexes: Vec<String> = admin
        .query(
            "SELECT indexname::text FROM pg_indexes WHERE schemaname = $1 AND \
             tablename = 'auth_user' ORDER BY indexname",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        indexes,
        [
            "auth_user_pkey",
            "auth_user_username_6821ab7c_like",
            "auth_user_username_key"
        ]
    );
    admin
        .batch_execute(&format!("DROP SCHEMA \"{schema}\" CASCADE"))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_users() {
    let Some(url) = require(
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    ) else {
        return;
    };
    let mut admin = mysql_async::Conn::from_url(&url).await.unwrap();
    let db = unique("tessera_users_");
    admin
        .query_drop(format!("CREATE DATABASE `{db}`"))
        .await
        .unwrap();
    let (scheme, rest) = url.split_once("://").unwrap();
    let authority = rest.split(['/', '?']).next().unwrap();
    let own = format!("{scheme}://{authority}/{db}");
    let raw = mysql_async::Conn::from_url(&own).await.unwrap();
    scenario(&own, Raw::Mysql(raw)).await;
    admin
        .query_drop(format!("DROP DATABASE `{db}`"))
        .await
        .unwrap();
}

#[tokio::test]
async fn names_that_are_not_identifiers_are_refused() {
    let path = temp_db("names");
    let url = format!("sqlite://{}", path.display());
    for config in [
        SqlUsersConfig::default().table("auth_user\"; DROP TABLE auth_user; --"),
        SqlUsersConfig::default().username_column("username = username OR 1=1 --"),
        SqlUsersConfig::default().password_column(""),
        SqlUsersConfig::default().pk_column("id`"),
        SqlUsersConfig::default().is_active_column("a".repeat(64)),
    ] {
        assert!(
            matches!(
                SqlUsers::connect_with(&url, config.clone()).await,
                Err(SqlUsersError::Config(_))
            ),
            "{config:?}"
        );
    }
    assert!(matches!(
        SqlUsers::connect("redis://127.0.0.1").await,
        Err(SqlUsersError::Config(_))
    ));
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}

/// The real Django 6.1 on SQLite: its `migrate` makes `auth_user` exactly as tessera would,
/// tessera logs in the user Django's `create_user` made (Django's 1,500,000 iterations), and
/// Django's `authenticate` accepts the user tessera added.
#[cfg(feature = "redis")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_and_tessera_log_in_each_others_users() {
    use crate::django_live::{venv_python, Django, Version};
    use tessera::json::Value;

    let Some(python) = venv_python(Version::V6_1).await else {
        return;
    };
    let path = temp_db("django");
    let django = Django::on_sqlite(python, &path).with("TESSERA_DJANGO_AUTH", "1");
    django.run(&["migrate"]).await;

    let url = format!("sqlite://{}", path.display());
    let users = SqlUsers::connect_with(&url, cheap()).await.unwrap();
    assert!(!users.create_table_if_missing().await.unwrap());
    let djangos_ddl: String = rusqlite::Connection::open(&path)
        .unwrap()
        .query_row(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'auth_user'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(users.create_table_sql(), [djangos_ddl]);

    let Value::Str(django_id) = django
        .run(&["createuser", "made_by_django", "pw from Django ✓"])
        .await
    else {
        panic!("createuser printed no id");
    };
    let found = authenticate(&users, "made_by_django", "pw from Django ✓", CHEAP)
        .await
        .unwrap()
        .expect("tessera logs in Django's user");
    assert_eq!(found.id, django_id);
    assert!(found.password.starts_with("pbkdf2_sha256$1500000$"));
    assert_eq!(
        authenticate(&users, "made_by_django", "pw from django ✓", CHEAP)
            .await
            .unwrap(),
        None
    );

    let mine = users
        .add_user("made_by_tessera", "pw from tessera ✓")
        .await
        .unwrap();
    assert_eq!(
        django
            .run(&["authenticate", "made_by_tessera", "pw from tessera ✓"])
            .await,
        Value::Str(mine.id)
    );
    assert_eq!(
        django
            .run(&["authenticate", "made_by_tessera", "wrong"])
            .await,
        Value::Null
    );
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
