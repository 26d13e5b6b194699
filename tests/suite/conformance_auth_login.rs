//! Every record of `auth_login.json`, made by the real Django 6.1.3: `login`, `get_user`,
//! `logout` and `update_session_auth_hash` on a session in a store, checked for the session's
//! dict afterwards (byte for byte, as Django would save it), whether it was flushed, cycled or
//! kept, whether it counts as modified, the CSRF secret (rotated on login), and the user found.

use crate::common;

use std::sync::Arc;

use common::vectors::{records_py, secret_keys, Failures};
use tessera::auth::{self, AuthConfig, AuthError, Backend, MemoryUsers, PkKind, Renewal, User};
use tessera::csrf::{CsrfRandom, CsrfToken};
use tessera::json::{self, Value};
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::store::{Record, SessionStore};
use tessera::{Session, SessionConfig};

const FILE: &str = "auth_login.json";

fn config(settings: &Value) -> AuthConfig {
    let backends = match &settings["AUTHENTICATION_BACKENDS"] {
        Value::List(paths) => paths
            .iter()
            .map(|p| {
                let path = p.as_str().expect("a backend path");
                Backend {
                    path: path.to_owned(),
                    // The vectors' second backend is Django's AllowAllUsersModelBackend alike.
                    allow_inactive: path.contains("AllowInactive"),
                }
            })
            .collect(),
        _ => panic!("no AUTHENTICATION_BACKENDS"),
    };
    AuthConfig {
        backends,
        pk: pk_kind(settings["AUTH_USER_MODEL"].as_str().unwrap_or("auth.User")),
    }
}

fn pk_kind(model: &str) -> PkKind {
    match model {
        "djref.UUIDUser" => PkKind::Uuid,
        "djref.StrUser" => PkKind::Str,
        _ => PkKind::Int,
    }
}

/// A user spec of the file as tessera's [`User`]: the pk as Django's `value_to_string`.
fn user(spec: &Value) -> Option<User> {
    let id = match &spec["pk"] {
        Value::Null => return None,
        Value::Str(s) => s.clone(),
        other => json::to_string(other),
    };
    Some(User {
        id,
        password: spec["password"].as_str().unwrap_or("").to_owned(),
        is_active: spec["is_active"] != Value::Bool(false),
    })
}

/// The store, and the session the record starts from: `session_before` stored under a key of
/// the store's own (the vectors' keys are opaque), or a new, unsaved session holding it.
async fn session_before(r: &Value, store: &Arc<MemoryStore>) -> (Session, Option<SessionKey>) {
    let data = r["session_before"].as_dict().cloned().unwrap_or_default();
    let dyn_store: Arc<dyn SessionStore> = store.clone();
    if r["session_key_before"] == Value::Null {
        let fresh = Session::detached(dyn_store, SessionConfig::default(), None).unwrap();
        // Filled key by key, as the generator did: an empty fill changes nothing.
        for (k, v) in data {
            fresh.insert(&k, &v).await.unwrap();
        }
        return (fresh, None);
    }
    // Stored as is, even empty (a session saving nothing new would write no record).
    let key = SessionKey::generate().unwrap();
    let now = tessera::time::now();
    let record = Record {
        data: &data,
        expires_at: now + 3600.0,
        now,
    };
    store.create(&key, record).await.unwrap();
    let session =
        Session::detached(dyn_store, SessionConfig::default(), Some(key.clone())).unwrap();
    (session, Some(key))
}

/// Django's exception class for a tessera error.
fn django_error(e: &AuthError) -> &'static str {
    match e {
        AuthError::InvalidUserId(_) => "ValidationError",
        AuthError::BackendRequired => "ValueError",
        other => panic!("an error Django does not raise here: {other}"),
    }
}

#[tokio::test]
async fn every_record_matches_django() {
    let records = records_py(FILE);
    let mut fails = Failures::default();
    for r in &records {
        let id = r["id"].as_str().unwrap();
        let e = &r["expected"];
        let keys: SecretKeys = secret_keys(&r["settings"]);
        let config = config(&r["settings"]);
        let store = Arc::new(MemoryStore::new());
        let (session, key_before) = session_before(r, &store).await;
        let csrf_strings = match &r["random_values"]["csrf_strings"] {
            Value::List(l) => l.iter().map(|s| s.as_str().unwrap().to_owned()).collect(),
            _ => Vec::new(),
        };
        let csrf = CsrfToken::detached(
            r["csrf_cookie_before"].as_str().map(str::to_owned),
            CsrfRandom::scripted(csrf_strings),
        );
        let op = r["op"].as_str().unwrap();

        let outcome: Result<(Option<Renewal>, Option<String>), AuthError> = match op {
            "login" => {
                let user = user(&r["user"]).unwrap();
                let backend = match (&r["backend"], &r["user"]["backend"]) {
                    (Value::Str(path), _) | (Value::Null, Value::Str(path)) => Some(path.clone()),
                    (Value::Null, _) => None,
                    // `login(request, user, backend=5)`: Django raises TypeError after
                    // cycle_key(). tessera's `backend` is a `&str`, so no such call compiles;
                    // the record holds Django to that and nothing more.
                    (other, _) => {
                        fails.check(id, e["error"].as_str(), Some("TypeError"));
                        assert!(other.as_str().is_none());
                        continue;
                    }
                };
                auth::login(
                    &session,
                    &user,
                    backend.as_deref(),
                    &config,
                    &keys,
                    Some(&csrf),
                )
                .await
                .map(|renewal| (Some(renewal), Some(user.id.clone())))
            }
            "logout" => auth::logout(&session).await.map(|()| (None, None)),
            "get_user" => {
                let users: MemoryUsers = match &r["backend_users"] {
                    Value::List(l) => l.iter().filter_map(user).collect(),
                    _ => MemoryUsers::new(),
                };
                auth::get_user(&session, &config, &keys, &users)
                    .await
                    .map(|(user, renewal)| (Some(renewal), user.map(|u| u.id)))
            }
            "update_session_auth_hash" => {
                let request_user = user(&r["request_user"]);
                let target = user(&r["user"]).unwrap();
                auth::update_session_auth_hash(&session, request_user.as_ref(), &target, &keys)
                    .await
                    .map(|()| (Some(Renewal::Cycled), None))
            }
            other => panic!("{id}: unknown op {other}"),
        };

        // The result, or Django's exception.
        match &outcome {
            Ok((_, found)) => {
                fails.check(id, e["error"].as_str(), None);
                if op == "get_user" {
                    let want = match &e["result"] {
                        Value::Null => None,
                        Value::Str(s) => Some(s.clone()),
                        other => Some(json::to_string(other)),
                    };
                    fails.check(id, found.clone(), want);
                }
            }
            Err(err) => fails.check(id, Some(django_error(err)), e["error"].as_str()),
        }

        // The dict afterwards, as Django would serialize it.
        let items = session.items().await.unwrap();
        fails.check(
            id,
            json::map_to_string(&items),
            e["session_serialized"].as_str().unwrap().to_owned(),
        );
        fails.check(
            id,
            session.is_modified().await,
            e["session_modified"] == Value::Bool(true),
        );

        // Flushed, cycled or kept: what tessera says it did, and what the key shows.
        let flushed = e["flushed"] == Value::Bool(true);
        let cycled = e["key_cycled"] == Value::Bool(true);
        if let Ok((Some(renewal), _)) = &outcome {
            let want = match (flushed, cycled) {
                (true, _) => Renewal::Flushed,
                (false, true) => Renewal::Cycled,
                (false, false) => Renewal::Kept,
            };
            fails.check(id, *renewal, want);
        }
        let key_after = session.session_key().await;
        if let Some(before) = &key_before {
            let (gone, kept) = (key_after.is_none(), key_after.as_ref() == Some(before));
            fails.check(id, (gone, kept), (flushed, !flushed && !cycled));
            // The old key loads nothing once flushed or cycled.
            let old_loads = store.load(before, tessera::time::now()).await.unwrap();
            fails.check(id, old_loads.is_some(), !flushed && !cycled);
        }

        // The CSRF secret: rotated by login only.
        if let Some(after) = e.get("csrf_cookie_after") {
            fails.check(id, csrf.secret(), after.as_str().map(str::to_owned));
            fails.check(
                id,
                csrf.needs_update(),
                e["csrf_cookie_needs_update"] == Value::Bool(true),
            );
        }
    }
    fails.assert_none(FILE, records.len());
}
