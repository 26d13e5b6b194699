//! `tessera user add` on SQLite, the password piped on stdin: the table is made as Django
//! makes it, the printed id is the user's, and the user logs in through `SqlUsers`; a taken
//! name and a blank password are refused as Django's `createsuperuser` refuses them.

use crate::common;

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use common::fixtures::unique;
use tessera::auth::password::PasswordHasher;
use tessera::auth::sql_users::SqlUsers;
use tessera::auth::{authenticate, UserSource};

/// Runs `tessera user add NAME --store URL` with `stdin` piped in.
fn user_add(name: &str, store: &str, stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["user", "add", name, "--store", store])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn temp_db() -> PathBuf {
    let dir = std::env::temp_dir().join(unique("tessera-user-add-"));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("db.sqlite3")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn user_add_on_sqlite_then_log_in() {
    let path = temp_db();
    let store = format!("sqlite://{}", path.display());

    let (code, out, err) = user_add("alice", &store, "s3cret pass ✓\n");
    assert_eq!(code, 0, "user add: {err}");
    let id = out.trim().to_owned();
    assert_eq!(id, "1");

    let users = SqlUsers::connect(&store).await.unwrap();
    let alice = users
        .user(&id)
        .await
        .unwrap()
        .expect("the printed id is alice's");
    assert!(
        alice.password.starts_with("pbkdf2_sha256$1500000$"),
        "Django 6.1's hasher"
    );
    let hasher = PasswordHasher::default();
    let found = authenticate(&users, "alice", "s3cret pass ✓", hasher)
        .await
        .unwrap();
    assert_eq!(found.map(|u| u.id), Some(id));
    assert_eq!(
        authenticate(&users, "alice", "s3cret pass ✓\n", hasher)
            .await
            .unwrap(),
        None,
        "the line ending is not part of the password"
    );

    // A CRLF line ending is not part of the password either.
    let (code, out, err) = user_add("bob", &store, "pw\r\n");
    assert_eq!((code, out.trim()), (0, "2"), "{err}");
    assert!(authenticate(&users, "bob", "pw", hasher)
        .await
        .unwrap()
        .is_some());

    let (code, out, err) = user_add("alice", &store, "another\n");
    assert_eq!(code, 65, "{out}");
    assert_eq!(err.trim(), "CommandError: That username is already taken.");

    for blank in ["", "\n"] {
        let (code, _, err) = user_add("carol", &store, blank);
        assert_eq!(code, 65);
        assert_eq!(err.trim(), "CommandError: Blank passwords aren't allowed.");
    }
    assert_eq!(users.user_by_username("carol").await.unwrap(), None);

    let (code, _, err) = user_add("dave", "memory://", "pw\n");
    assert_eq!(code, 65);
    assert!(err.starts_with("StoreError: "), "{err}");
    let _ = std::fs::remove_dir_all(path.parent().unwrap());
}
