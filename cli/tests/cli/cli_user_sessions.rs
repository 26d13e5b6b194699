//! `tessera sessions list|revoke --user ID` against a SQLite store with indexed sessions, and
//! `sessions reindex` finding the ones written without an index entry.

use crate::common;

use std::process::Command;
use std::sync::Arc;

use common::serve::TempDir;
use tessera::json::{Map, Value};
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::{Record, SessionStore};
use tessera::url;

fn tessera(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A session logged in as `user`, as Django's `login()` leaves it.
async fn logged_in(store: &Arc<dyn SessionStore>, user: &str) -> SessionKey {
    let data: Map = [("_auth_user_id".to_owned(), Value::Str(user.to_owned()))]
        .into_iter()
        .collect();
    let key = SessionKey::generate().unwrap();
    store
        .create(
            &key,
            Record {
                data: &data,
                expires_at: tessera::signing::now() + 3600.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    key
}

fn json(out: &str) -> serde_json::Value {
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"))
}

#[tokio::test]
async fn list_and_revoke_a_users_sessions_on_sqlite() {
    let dir = TempDir::new("cli-user-sessions");
    let url_text = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
    let sessions = url::open(&url_text, &SecretKeys::new("cli-user-sessions"))
        .await
        .unwrap();
    sessions.migrate().await.unwrap();
    let store = sessions.store().unwrap().clone();
    let a = logged_in(&store, "7").await;
    let b = logged_in(&store, "7").await;
    let c = logged_in(&store, "7").await;
    let other = logged_in(&store, "8").await;

    let (code, out, err) = tessera(&["sessions", "list", "--store", &url_text, "--user", "7"]);
    assert_eq!(code, 0, "{err}");
    let listed = json(&out);
    assert_eq!(listed["user"], "7");
    let ids: Vec<_> = listed["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
    for key in [&a, &b, &c] {
        assert!(ids.contains(&key.short()), "{out}");
        assert!(!out.contains(key.as_str()), "never the full key: {out}");
    }
    assert!(listed["sessions"][0]["expires"]
        .as_str()
        .unwrap()
        .ends_with('Z'));

    // A --keep that names none of the user's sessions revokes nothing.
    let (code, _, err) = tessera(&[
        "sessions",
        "revoke",
        "--store",
        &url_text,
        "--user",
        "7",
        "--keep",
        other.as_str(),
    ]);
    assert_ne!(code, 0);
    assert!(err.contains("nothing was revoked"), "{err}");

    // Keep one by its short form, as `list` shows it.
    let (code, out, err) = tessera(&[
        "sessions",
        "revoke",
        "--store",
        &url_text,
        "--user",
        "7",
        "--keep",
        &a.short(),
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out), serde_json::json!({"user": "7", "revoked": 2}));
    let now = tessera::signing::now();
    assert!(store.load(&a, now).await.unwrap().is_some(), "kept");
    assert!(store.load(&b, now).await.unwrap().is_none());
    assert!(store.load(&c, now).await.unwrap().is_none());
    assert!(
        store.load(&other, now).await.unwrap().is_some(),
        "another user's"
    );

    // By the full key, then all.
    let d = logged_in(&store, "7").await;
    let (code, out, _) = tessera(&[
        "sessions",
        "revoke",
        "--store",
        &url_text,
        "--user",
        "7",
        "--keep",
        d.as_str(),
    ]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["revoked"], 1);
    let (code, out, _) = tessera(&["sessions", "revoke", "--store", &url_text, "--user", "7"]);
    assert_eq!(code, 0);
    assert_eq!(json(&out)["revoked"], 1);
    let (_, out, _) = tessera(&["sessions", "list", "--store", &url_text, "--user", "7"]);
    assert_eq!(json(&out)["sessions"], serde_json::json!([]));
}

#[tokio::test]
async fn reindex_finds_sessions_written_without_the_index() {
    let dir = TempDir::new("cli-user-reindex");
    let db = dir.path().join("db.sqlite3");
    let url_text = format!("sqlite://{}", db.display());
    let sessions = url::open(&url_text, &SecretKeys::new("cli-user-reindex"))
        .await
        .unwrap();
    sessions.migrate().await.unwrap();
    let store = sessions.store().unwrap().clone();
    logged_in(&store, "9").await;
    logged_in(&store, "9").await;
    drop((store, sessions));
    // As if Django's own engine had written them: the rows, and no index entries.
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute("DELETE FROM tessera_session_user", [])
        .unwrap();
    let list = || tessera(&["sessions", "list", "--store", &url_text, "--user", "9"]);
    assert_eq!(json(&list().1)["sessions"], serde_json::json!([]));
    // Without the key the sessions were signed with, none can be read, so none is indexed.
    let (code, out, _) = tessera(&[
        "sessions", "reindex", "--store", &url_text, "--key", "other",
    ]);
    assert_eq!(
        (code, json(&out)["indexed"].clone()),
        (0, serde_json::json!(0))
    );
    let (code, out, err) = tessera(&[
        "sessions",
        "reindex",
        "--store",
        &url_text,
        "--batch",
        "1",
        "--key",
        "cli-user-reindex",
    ]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(json(&out)["indexed"], 2);
    assert_eq!(
        json(&list().1)["sessions"].as_array().map(Vec::len),
        Some(2)
    );
}

#[test]
fn a_store_without_an_index_says_so() {
    let (code, _, err) = tessera(&["sessions", "list", "--store", "cookie://", "--user", "7"]);
    assert_ne!(code, 0);
    assert!(err.contains("signed-cookie sessions"), "{err}");
}
