//! The acceptance suite every [`SessionStore`] must pass, public so a third-party store can
//! run it against its own backend:
//!
//! ```no_run
//! # async fn demo() {
//! use std::sync::Arc;
//! use tessera::{conformance, store::memory::MemoryStore};
//! conformance::run(Arc::new(MemoryStore::new()), None).await;
//! # }
//! ```
//!
//! Each check panics with a message naming what broke, as a test assertion does.
//!
//! [`run_backend`] is the part that speaks of sessions rather than records, through the
//! [`SessionBackend`] interface, so a backend without server state (Django's
//! `signed_cookies`, [`SignedCookieSessions`](crate::backend::cookie::SignedCookieSessions))
//! runs it too; it returns the checks that cannot apply to the backend, each with its reason.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use crate::backend::server::StoreBackend;
use crate::backend::SessionBackend;
use crate::json::{Map, Value};
use crate::session::key::SessionKey;
use crate::session::{Expiry, Session, SessionConfig, SessionError};
use crate::store::{Record, SaveOrReload, SaveOutcome, SessionStore, StoreError, Version};

/// Writes a record that does not decode (a bad signature) under a key, for stores that hold
/// encoded data. The suite then checks that it loads as no session and is never overwritten.
pub type Corruptor =
    Arc<dyn Fn(SessionKey) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

fn now() -> f64 {
    crate::signing::now()
}

fn key() -> SessionKey {
    SessionKey::generate().expect("the OS random source works")
}

fn dict(pairs: &[(&str, Value)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// Runs every check.
pub async fn run(store: Arc<dyn SessionStore>, corrupt: Option<Corruptor>) {
    create_load_save_delete(&*store).await;
    create_is_insert_only(&*store).await;
    expiry_is_honoured(&*store).await;
    clear_expired_removes_only_expired(&*store).await;
    save_is_compare_and_swap(&*store).await;
    save_or_reload_brings_back_the_winner(&*store).await;
    immediate_calls_agree_with_the_async_ones(&*store).await;
    if let Some(corrupt) = corrupt {
        unreadable_record_is_never_overwritten(store.clone(), corrupt).await;
    }
    cycle_key_and_flush(store.clone()).await;
    concurrent_saves_lose_nothing(store.clone()).await;
    logout_is_not_resurrected(store.clone()).await;
    // Every server-side store keeps the per-user index: none may skip these checks. (The
    // signed-cookie backend has no store, so it never comes here: `run_backend` is its suite.)
    run_user_index(store.clone()).await;
    let skipped = run_backend(Arc::new(StoreBackend::new(store))).await;
    assert!(
        skipped.is_empty(),
        "a server-side store skips nothing: {skipped:?}"
    );
}

/// A check [`run_backend`] did not run, and why it cannot apply to the backend.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The check's name.
    pub check: &'static str,
    /// Why it cannot apply.
    pub reason: &'static str,
}

const NOT_REVOCABLE: &str = "a session without server state cannot be revoked: a copy of the \
     old cookie stays valid until it expires";
const NO_SHARED_STATE: &str = "a session without server state is whatever cookie the browser \
     sends: concurrent requests each answer with their own, and the browser keeps the last";

/// Runs every session-level check against `backend` and returns the ones that cannot apply
/// to it (each also printed to stderr with its reason, so a test log shows them).
pub async fn run_backend(backend: Arc<dyn SessionBackend>) -> Vec<Skipped> {
    let mut skipped = Vec::new();
    let mut skip = |check, reason| {
        eprintln!("conformance: {check} skipped for {backend:?}: {reason}");
        skipped.push(Skipped { check, reason });
    };
    new_session_round_trips(&backend).await;
    unknown_or_tampered_cookies_start_fresh(&backend).await;
    expired_sessions_load_empty(&backend).await;
    cycle_key_keeps_the_data(&backend).await;
    if backend.revocable() {
        flush_and_cycle_key_revoke_the_old_cookie(&backend).await;
        concurrent_requests_lose_nothing(&backend).await;
        a_logout_is_never_undone(&backend).await;
    } else {
        skip("flush_and_cycle_key_revoke_the_old_cookie", NOT_REVOCABLE);
        skip("concurrent_requests_lose_nothing", NO_SHARED_STATE);
        skip("a_logout_is_never_undone", NOT_REVOCABLE);
    }
    skipped
}

/// A session as the layer makes one for a request whose cookie carried `cookie`.
fn request(backend: &Arc<dyn SessionBackend>, cookie: Option<&str>) -> Session {
    Session::detached_in(backend.clone(), SessionConfig::default(), cookie)
        .expect("the default settings are valid")
}

/// Saves `session` as the layer does after a response, and returns its cookie value.
async fn respond(session: &Session) -> String {
    session.save().await.expect("the session saves");
    session
        .cookie_value()
        .await
        .expect("a saved session has a cookie value")
}

/// A new session saved, then read back through its cookie: same data, same key order.
pub async fn new_session_round_trips(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    assert!(s.is_empty().await.unwrap(), "a new session is empty");
    s.insert("b", &1).await.unwrap();
    s.insert("é", "ü").await.unwrap();
    s.insert("a", &vec![1.5, 2.0]).await.unwrap();
    let cookie = respond(&s).await;
    let again = request(backend, Some(&cookie));
    let data = again.items().await.unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["b", "é", "a"],
        "the data comes back in insertion order"
    );
    assert_eq!(
        again.get::<Vec<f64>>("a").await.unwrap(),
        Some(vec![1.5, 2.0])
    );
    again.remove("b").await.unwrap();
    again.insert("c", &3).await.unwrap();
    let cookie = respond(&again).await;
    let third = request(backend, Some(&cookie));
    assert_eq!(
        third.get::<i64>("b").await.unwrap(),
        None,
        "a removal persists"
    );
    assert_eq!(
        third.get::<i64>("c").await.unwrap(),
        Some(3),
        "an addition persists"
    );
}

/// A cookie that names no session, or was tampered with, is a new empty session; loading it
/// writes nothing.
pub async fn unknown_or_tampered_cookies_start_fresh(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("user", &7).await.unwrap();
    let cookie = respond(&s).await;
    let mut tampered = cookie.clone().into_bytes();
    let middle = tampered.len() / 2;
    tampered[middle] = if tampered[middle] == b'a' { b'b' } else { b'a' };
    let tampered = String::from_utf8(tampered).unwrap();
    let unknown = key().as_str().to_owned();
    for cookie in [
        tampered.as_str(),
        unknown.as_str(),
        "",
        "short",
        "x".repeat(5000).as_str(),
    ] {
        let s = request(backend, Some(cookie));
        assert!(
            s.is_empty().await.unwrap(),
            "a bad cookie loads an empty session"
        );
        assert_eq!(
            s.session_key().await,
            None,
            "a bad cookie names no stored session"
        );
        s.save().await.unwrap();
        match s.cookie_value().await {
            None => {}
            // Django's signed_cookies re-issues an unreadable cookie as an empty session.
            Some(reissued) => {
                assert!(
                    backend.reissues_unreadable(),
                    "saving an empty session writes nothing"
                );
                let reread = request(backend, Some(&reissued));
                assert!(
                    reread.is_empty().await.unwrap(),
                    "the re-issued cookie holds nothing"
                );
            }
        }
    }
    let original = request(backend, Some(&cookie));
    assert_eq!(
        original.get::<i64>("user").await.unwrap(),
        Some(7),
        "the real one still loads"
    );
}

/// A session past its own expiry loads empty.
pub async fn expired_sessions_load_empty(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("user", &7).await.unwrap();
    s.set_expiry(Expiry::Seconds(-1)).await.unwrap();
    let cookie = respond(&s).await;
    let again = request(backend, Some(&cookie));
    assert!(
        again.is_empty().await.unwrap(),
        "an expired session loads empty"
    );
}

/// `cycle_key` keeps the data.
pub async fn cycle_key_keeps_the_data(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("user", &42).await.unwrap();
    let before = respond(&s).await;
    let s = request(backend, Some(&before));
    s.cycle_key().await.unwrap();
    let after = respond(&s).await;
    assert_eq!(
        request(backend, Some(&after))
            .get::<i64>("user")
            .await
            .unwrap(),
        Some(42),
        "cycle_key keeps the data"
    );
}

/// After `flush` or `cycle_key`, the old cookie no longer loads the session.
pub async fn flush_and_cycle_key_revoke_the_old_cookie(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("user", &42).await.unwrap();
    let before = respond(&s).await;
    let s = request(backend, Some(&before));
    s.cycle_key().await.unwrap();
    let after = respond(&s).await;
    assert_ne!(before, after, "cycle_key changes the cookie");
    assert!(
        request(backend, Some(&before)).is_empty().await.unwrap(),
        "the cookie from before cycle_key no longer loads"
    );
    let s = request(backend, Some(&after));
    s.flush().await.unwrap();
    assert_eq!(
        s.cookie_value().await,
        None,
        "a flushed session has no cookie value"
    );
    assert!(
        request(backend, Some(&after)).is_empty().await.unwrap(),
        "the cookie from before flush no longer loads"
    );
}

/// Fifty requests on one session, each setting its own key, saved concurrently: all land.
pub async fn concurrent_requests_lose_nothing(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("seed", &0).await.unwrap();
    let cookie = respond(&s).await;
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (backend, cookie) = (backend.clone(), cookie.clone());
        tasks.push(tokio::spawn(async move {
            let s = request(&backend, Some(&cookie));
            s.insert(&format!("k{i}"), &i).await.unwrap();
            s.save().await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("every concurrent save lands");
    }
    let data = request(backend, Some(&cookie)).items().await.unwrap();
    for i in 0..50 {
        assert_eq!(
            data.get(&format!("k{i}")),
            Some(&Value::from(i)),
            "k{i} was lost"
        );
    }
}

/// A request that saves after another request logged the session out gets
/// `SessionInterrupted`, and the session stays gone.
pub async fn a_logout_is_never_undone(backend: &Arc<dyn SessionBackend>) {
    let s = request(backend, None);
    s.insert("user", &1).await.unwrap();
    let cookie = respond(&s).await;
    let writer = request(backend, Some(&cookie));
    writer.insert("cart", &3).await.unwrap();
    request(backend, Some(&cookie)).flush().await.unwrap();
    let outcome = writer.save().await;
    assert!(
        matches!(outcome, Err(SessionError::Interrupted)),
        "a save after a concurrent logout is Interrupted, got {outcome:?}"
    );
    assert!(
        request(backend, Some(&cookie)).is_empty().await.unwrap(),
        "the logged-out session stays gone"
    );
}

/// The basic life of a record.
pub async fn create_load_save_delete(store: &dyn SessionStore) {
    let k = key();
    let t = now() + 3600.0;
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "unknown key loads nothing"
    );
    assert!(
        !store.exists(&k).await.unwrap(),
        "unknown key does not exist"
    );
    let data = dict(&[("a", Value::from(1)), ("é", Value::from("ü"))]);
    let v1 = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    assert!(store.exists(&k).await.unwrap(), "created key exists");
    let loaded = store
        .load(&k, now())
        .await
        .unwrap()
        .expect("created record loads");
    assert_eq!(*loaded.data, data, "data round-trips with key order");
    assert_eq!(
        loaded.version, v1,
        "load returns the version create returned"
    );
    let data2 = dict(&[("a", Value::from(2))]);
    let saved = store
        .save(
            &k,
            Record {
                data: &data2,
                expires_at: t,
                now: crate::time::now(),
            },
            &v1,
        )
        .await
        .unwrap();
    assert!(
        matches!(saved, SaveOutcome::Saved(_)),
        "save at the loaded version succeeds"
    );
    assert_eq!(*store.load(&k, now()).await.unwrap().unwrap().data, data2);
    store.delete(&k).await.unwrap();
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "deleted record is gone"
    );
    assert!(!store.exists(&k).await.unwrap());
    store
        .delete(&k)
        .await
        .expect("deleting a missing key is not an error");
}

/// A store offering [`SessionStore::immediate`] answers at once, and its plain calls and its
/// async ones see the same records (nothing to check for a store without them).
pub async fn immediate_calls_agree_with_the_async_ones(store: &dyn SessionStore) {
    let Some(immediate) = store.immediate() else {
        return;
    };
    assert!(
        store.answers_at_once(),
        "a store with immediate calls answers at once (it overrides answers_at_once to false)"
    );
    let (k, t) = (key(), now() + 3600.0);
    let data = dict(&[("a", Value::from(1))]);
    let record = |data| Record {
        data,
        expires_at: t,
        now: crate::time::now(),
    };
    let v1 = immediate.create_now(&k, record(&data)).unwrap();
    assert!(
        matches!(
            immediate.create_now(&k, record(&data)),
            Err(StoreError::DuplicateKey)
        ),
        "create_now is insert-only"
    );
    let loaded = store
        .load(&k, now())
        .await
        .unwrap()
        .expect("created at once");
    assert_eq!((&*loaded.data, &loaded.version), (&data, &v1));
    let data2 = dict(&[("a", Value::from(2))]);
    let SaveOutcome::Saved(v2) = store.save(&k, record(&data2), &v1).await.unwrap() else {
        panic!("save at the loaded version succeeds");
    };
    let now_loaded = immediate.load_now(&k, now()).unwrap().expect("saved");
    assert_eq!((&*now_loaded.data, &now_loaded.version), (&data2, &v2));
    assert_eq!(
        immediate.save_now(&k, record(&data), &v1).unwrap(),
        SaveOutcome::Conflict,
        "save_now compares and swaps"
    );
    assert!(matches!(
        immediate.save_now(&k, record(&data), &v2).unwrap(),
        SaveOutcome::Saved(_)
    ));
    store.delete(&k).await.unwrap();
    assert!(immediate.load_now(&k, now()).unwrap().is_none());
    assert_eq!(
        immediate.save_now(&k, record(&data), &v2).unwrap(),
        SaveOutcome::Gone,
        "a deleted record is never written back"
    );
}

/// `create` never overwrites.
pub async fn create_is_insert_only(store: &dyn SessionStore) {
    let k = key();
    let t = now() + 3600.0;
    let first = dict(&[("owner", Value::from("first"))]);
    store
        .create(
            &k,
            Record {
                data: &first,
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    let second = dict(&[("owner", Value::from("second"))]);
    let again = store
        .create(
            &k,
            Record {
                data: &second,
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await;
    assert!(
        matches!(again, Err(StoreError::DuplicateKey)),
        "create on a taken key is DuplicateKey"
    );
    assert_eq!(
        *store.load(&k, now()).await.unwrap().unwrap().data,
        first,
        "the first record survives"
    );
    store.delete(&k).await.unwrap();
}

/// An expired record does not load, but still exists until cleared (as in Django).
pub async fn expiry_is_honoured(store: &dyn SessionStore) {
    let k = key();
    let data = dict(&[("x", Value::from(1))]);
    let t = now();
    store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: t + 2.0,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    assert!(
        store.load(&k, t).await.unwrap().is_some(),
        "live before its expiry"
    );
    assert!(
        store.load(&k, t + 3.0).await.unwrap().is_none(),
        "expired after its expiry"
    );
    store.delete(&k).await.unwrap();
}

/// `clear_expired` removes every expired record, in batches, and nothing else.
pub async fn clear_expired_removes_only_expired(store: &dyn SessionStore) {
    let data = dict(&[("x", Value::from(1))]);
    let t = now();
    let expired: Vec<SessionKey> = (0..7).map(|_| key()).collect();
    let live = key();
    for k in &expired {
        store
            .create(
                k,
                Record {
                    data: &data,
                    expires_at: t - 10.0,
                    now: crate::time::now(),
                },
            )
            .await
            .unwrap();
    }
    store
        .create(
            &live,
            Record {
                data: &data,
                expires_at: t + 3600.0,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    // A store whose server expires records by itself (Redis) has nothing left to remove.
    let mut lingering = 0;
    for k in &expired {
        lingering += u64::from(store.exists(k).await.unwrap());
    }
    let removed = store.clear_expired(t, 2).await.unwrap();
    assert!(
        removed >= lingering,
        "all {lingering} lingering expired records removed in batches of 2 (removed {removed})"
    );
    for k in &expired {
        assert!(!store.exists(k).await.unwrap(), "expired record cleared");
    }
    assert!(
        store.load(&live, t).await.unwrap().is_some(),
        "live record kept"
    );
    store.delete(&live).await.unwrap();
}

/// A save against a stale version is a conflict; against a deleted record, `Gone`.
pub async fn save_is_compare_and_swap(store: &dyn SessionStore) {
    let k = key();
    let t = now() + 3600.0;
    let data = dict(&[("n", Value::from(0))]);
    let v0 = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    let d1 = dict(&[("n", Value::from(1))]);
    let SaveOutcome::Saved(_) = store
        .save(
            &k,
            Record {
                data: &d1,
                expires_at: t,
                now: crate::time::now(),
            },
            &v0,
        )
        .await
        .unwrap()
    else {
        panic!("first save must succeed");
    };
    let d2 = dict(&[("n", Value::from(2))]);
    let stale = store
        .save(
            &k,
            Record {
                data: &d2,
                expires_at: t,
                now: crate::time::now(),
            },
            &v0,
        )
        .await
        .unwrap();
    assert_eq!(
        stale,
        SaveOutcome::Conflict,
        "save at a stale version conflicts"
    );
    assert_eq!(
        *store.load(&k, now()).await.unwrap().unwrap().data,
        d1,
        "the newer write survives"
    );
    store.delete(&k).await.unwrap();
    let gone = store
        .save(
            &k,
            Record {
                data: &d2,
                expires_at: t,
                now: crate::time::now(),
            },
            &v0,
        )
        .await
        .unwrap();
    assert_eq!(gone, SaveOutcome::Gone, "save after delete is Gone");
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "a save never resurrects a deleted record"
    );
    let bogus = Version::Text("not a version".into());
    assert_eq!(
        store
            .save(
                &k,
                Record {
                    data: &d2,
                    expires_at: t,
                    now: crate::time::now(),
                },
                &bogus
            )
            .await
            .unwrap(),
        SaveOutcome::Gone
    );
}

/// A `save_or_reload` that loses its race brings back the live record that won, at a
/// version the next save succeeds at; against a deleted record it is `Gone`.
pub async fn save_or_reload_brings_back_the_winner(store: &dyn SessionStore) {
    let k = key();
    let t = now() + 3600.0;
    let record = |data| Record {
        data,
        expires_at: t,
        now: crate::time::now(),
    };
    let d0 = dict(&[("n", Value::from(0))]);
    let v0 = store.create(&k, record(&d0)).await.unwrap();
    let d1 = dict(&[("n", Value::from(1))]);
    let SaveOrReload::Saved(_) = store.save_or_reload(&k, record(&d1), &v0).await.unwrap() else {
        panic!("a save at the loaded version succeeds");
    };
    let d2 = dict(&[("n", Value::from(2))]);
    let SaveOrReload::Changed(fresh) = store.save_or_reload(&k, record(&d2), &v0).await.unwrap()
    else {
        panic!("a save at a stale version brings back what won");
    };
    assert_eq!(*fresh.data, d1, "the winner's dict comes back");
    assert_eq!(
        Some(&fresh),
        store.load(&k, now()).await.unwrap().as_ref(),
        "what comes back is what a load reads"
    );
    let SaveOrReload::Saved(_) = store
        .save_or_reload(&k, record(&d2), &fresh.version)
        .await
        .unwrap()
    else {
        panic!("a save at the version brought back succeeds");
    };
    assert_eq!(*store.load(&k, now()).await.unwrap().unwrap().data, d2);
    store.delete(&k).await.unwrap();
    assert_eq!(
        store.save_or_reload(&k, record(&d1), &v0).await.unwrap(),
        SaveOrReload::Gone,
        "a save after a delete is Gone"
    );
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "a save never resurrects a deleted record"
    );
}

/// A record that does not verify loads as no session (and the store warns), so a session
/// started on its key gets a new key and the record stays as it was: Django loads it as an
/// empty session and its next save destroys it (a pickle in a shared Redis, a row signed with
/// another key).
pub async fn unreadable_record_is_never_overwritten(
    store: Arc<dyn SessionStore>,
    corrupt: Corruptor,
) {
    let k = key();
    corrupt(k.clone()).await;
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "an unreadable record is no session"
    );
    let s = session(store.clone(), Some(k.clone()));
    s.insert("user", &42).await.unwrap();
    s.save().await.unwrap();
    let new = s.session_key().await.expect("saved under a key");
    assert_ne!(new, k, "the write went to a new key");
    assert!(
        store.exists(&k).await.unwrap(),
        "the unreadable record is still there"
    );
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "and was not overwritten with readable data"
    );
    store.delete(&k).await.unwrap();
    store.delete(&new).await.unwrap();
}

fn session(store: Arc<dyn SessionStore>, key: Option<SessionKey>) -> Session {
    Session::detached(store, SessionConfig::default(), key).expect("the default settings are valid")
}

/// `cycle_key` keeps the data under a new key; `flush` deletes the record.
pub async fn cycle_key_and_flush(store: Arc<dyn SessionStore>) {
    let s = session(store.clone(), None);
    s.insert("user", &42).await.unwrap();
    s.cycle_key().await.unwrap();
    let first = s.session_key().await.expect("cycle_key stores the session");
    s.cycle_key().await.unwrap();
    let second = s.session_key().await.expect("cycled session has a key");
    assert_ne!(first, second, "cycle_key draws a new key");
    assert!(
        store.load(&first, now()).await.unwrap().is_none(),
        "the old key no longer loads"
    );
    let reloaded = session(store.clone(), Some(second.clone()));
    assert_eq!(
        reloaded.get::<i64>("user").await.unwrap(),
        Some(42),
        "cycle_key keeps the data"
    );
    reloaded.flush().await.unwrap();
    assert!(
        store.load(&second, now()).await.unwrap().is_none(),
        "flush deletes the record"
    );
    assert!(
        reloaded.session_key().await.is_none(),
        "a flushed session has no key"
    );
}

/// Fifty sessions over one record, each setting its own key, saved concurrently: all land.
pub async fn concurrent_saves_lose_nothing(store: Arc<dyn SessionStore>) {
    let k = key();
    let t = now() + 3600.0;
    store
        .create(
            &k,
            Record {
                data: &Map::new(),
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let store = store.clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let s = session(store, Some(k));
            s.insert(&format!("k{i}"), &i).await.unwrap();
            s.save().await
        }));
    }
    for t in tasks {
        t.await.expect("task").expect("every concurrent save lands");
    }
    let data = store.load(&k, now()).await.unwrap().unwrap().data;
    for i in 0..50 {
        assert_eq!(
            data.get(&format!("k{i}")),
            Some(&Value::from(i)),
            "k{i} was lost"
        );
    }
    store.delete(&k).await.unwrap();
}

/// A save racing a logout is `SessionInterrupted`, never a resurrected record.
pub async fn logout_is_not_resurrected(store: Arc<dyn SessionStore>) {
    let k = key();
    let t = now() + 3600.0;
    store
        .create(
            &k,
            Record {
                data: &dict(&[("u", Value::from(1))]),
                expires_at: t,
                now: crate::time::now(),
            },
        )
        .await
        .unwrap();
    let writer = session(store.clone(), Some(k.clone()));
    writer.insert("cart", &3).await.unwrap();
    session(store.clone(), Some(k.clone()))
        .flush()
        .await
        .unwrap();
    let outcome = writer.save().await;
    assert!(
        matches!(outcome, Err(SessionError::Interrupted)),
        "save after a concurrent flush is Interrupted, got {outcome:?}"
    );
    assert!(
        store.load(&k, now()).await.unwrap().is_none(),
        "the logged-out session stays gone"
    );
}

/// A user id no other run uses, so the suite can share a database with other tests.
fn fresh_user() -> String {
    format!("conformance-{}", key().as_str())
}

fn login(user: &str, extra: &[(&str, Value)]) -> Map {
    let mut data = dict(extra);
    data.insert(
        crate::store::user_index::USER_ID_KEY.to_owned(),
        Value::Str(user.to_owned()),
    );
    data
}

async fn put(store: &dyn SessionStore, data: &Map, expires_at: f64) -> (SessionKey, Version) {
    let k = key();
    let v = store
        .create(
            &k,
            Record {
                data,
                expires_at,
                now: now(),
            },
        )
        .await
        .expect("create");
    (k, v)
}

async fn listed(store: &dyn SessionStore, user: &str) -> Vec<SessionKey> {
    let mut keys: Vec<SessionKey> = store
        .user_sessions(user, now())
        .await
        .expect("the store keeps a per-user index")
        .into_iter()
        .map(|s| s.key)
        .collect();
    keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    keys
}

fn sorted(mut keys: Vec<SessionKey>) -> Vec<SessionKey> {
    keys.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    keys
}

/// Every per-user index check: the index follows create, save, cycle_key, delete, expiry and
/// `clear_expired`; a listing shows the live sessions with their times; revoking ends all or
/// all but one; and revoking under 50 concurrent saves resurrects nothing.
pub async fn run_user_index(store: Arc<dyn SessionStore>) {
    index_follows_writes(&*store).await;
    index_follows_expiry(&*store).await;
    index_follows_cycle_key_and_flush(store.clone()).await;
    revoke_ends_all_or_all_but_one(&*store).await;
    revoke_under_concurrent_saves_resurrects_nothing(store).await;
}

/// A record with `_auth_user_id` is listed under it; one without is not; a save that adds,
/// removes or changes it moves the entry; a delete removes it.
pub async fn index_follows_writes(store: &dyn SessionStore) {
    let (u, u2) = (fresh_user(), fresh_user());
    let t = now() + 3600.0;
    let before = now();
    let (a, va) = put(store, &login(&u, &[("n", Value::from(1))]), t).await;
    let (b, vb) = put(store, &dict(&[("n", Value::from(2))]), t).await;
    assert_eq!(
        listed(store, &u).await,
        vec![a.clone()],
        "only the login is listed"
    );
    let listing = store.user_sessions(&u, now()).await.unwrap();
    let first = &listing[0];
    assert!(
        first.created_at >= before - 1.0 && first.created_at <= now() + 1.0,
        "created_at is the write's time: {first:?}"
    );
    assert!(
        (first.expires_at - t).abs() < 1.0,
        "expires_at is the record's: {first:?}"
    );
    // The anonymous session logs in by a save (Django's login without cycle_key).
    let save = |k: &SessionKey, data: Map, v: Version| {
        let k = k.clone();
        async move {
            match store
                .save(
                    &k,
                    Record {
                        data: &data,
                        expires_at: t,
                        now: now(),
                    },
                    &v,
                )
                .await
                .expect("save")
            {
                SaveOutcome::Saved(v) => v,
                other => panic!("save failed: {other:?}"),
            }
        }
    };
    let vb = save(&b, login(&u, &[]), vb).await;
    assert_eq!(listed(store, &u).await, sorted(vec![a.clone(), b.clone()]));
    // A save that drops `_auth_user_id` removes the entry.
    let _ = save(&a, dict(&[("n", Value::from(3))]), va).await;
    assert_eq!(
        listed(store, &u).await,
        vec![b.clone()],
        "a logged-out save is unlisted"
    );
    // A save under another user moves it.
    let _ = save(&b, login(&u2, &[]), vb).await;
    assert!(
        listed(store, &u).await.is_empty(),
        "moved away from the first user"
    );
    assert_eq!(
        listed(store, &u2).await,
        vec![b.clone()],
        "moved to the second user"
    );
    store.delete(&b).await.unwrap();
    assert!(
        listed(store, &u2).await.is_empty(),
        "a deleted session is unlisted"
    );
    store.delete(&a).await.unwrap();
}

/// An expired session is not listed, and `clear_expired` takes its entry with it.
pub async fn index_follows_expiry(store: &dyn SessionStore) {
    let u = fresh_user();
    let t = now();
    let (gone, _) = put(store, &login(&u, &[]), t - 10.0).await;
    let (live, _) = put(store, &login(&u, &[]), t + 3600.0).await;
    assert_eq!(
        listed(store, &u).await,
        vec![live.clone()],
        "expired is not listed"
    );
    store.clear_expired(t, 100).await.unwrap();
    assert!(!store.exists(&gone).await.unwrap());
    // Listing as of before its expiry: had the entry outlived the session, it would show.
    let earlier = store.user_sessions(&u, t - 100.0).await.unwrap();
    assert_eq!(
        earlier.iter().map(|s| s.key.clone()).collect::<Vec<_>>(),
        vec![live.clone()],
        "the cleared session left no entry"
    );
    store.delete(&live).await.unwrap();
}

/// `cycle_key` (Django's `login()`) lists the new key only; `flush` (`logout()`) unlists it.
pub async fn index_follows_cycle_key_and_flush(store: Arc<dyn SessionStore>) {
    let u = fresh_user();
    let s = session(store.clone(), None);
    s.insert("cart", &1).await.unwrap();
    s.save().await.unwrap();
    let anonymous = s.session_key().await.expect("saved");
    s.insert(crate::store::user_index::USER_ID_KEY, &u)
        .await
        .unwrap();
    s.cycle_key().await.unwrap();
    let logged_in = s.session_key().await.expect("cycled");
    assert_ne!(anonymous, logged_in);
    assert_eq!(
        listed(&*store, &u).await,
        vec![logged_in.clone()],
        "only the new key"
    );
    s.flush().await.unwrap();
    assert!(
        listed(&*store, &u).await.is_empty(),
        "a flushed session is unlisted"
    );
}

/// Revoking all but one ends the others (they no longer load) and keeps that one listed;
/// revoking all ends it too. Other users' sessions stay.
pub async fn revoke_ends_all_or_all_but_one(store: &dyn SessionStore) {
    let (u, other) = (fresh_user(), fresh_user());
    let t = now() + 3600.0;
    let mut keys = Vec::new();
    for i in 0..3 {
        keys.push(put(store, &login(&u, &[("i", Value::from(i))]), t).await.0);
    }
    let (theirs, _) = put(store, &login(&other, &[]), t).await;
    let keep = keys[1].clone();
    let removed = store.revoke_user_sessions(&u, Some(&keep)).await.unwrap();
    assert_eq!(removed, 2, "all but the current one revoked");
    for k in [&keys[0], &keys[2]] {
        assert!(store.load(k, now()).await.unwrap().is_none(), "revoked");
    }
    assert!(store.load(&keep, now()).await.unwrap().is_some(), "kept");
    assert_eq!(listed(store, &u).await, vec![keep.clone()]);
    assert_eq!(store.revoke_user_sessions(&u, None).await.unwrap(), 1);
    assert!(
        store.load(&keep, now()).await.unwrap().is_none(),
        "all revoked"
    );
    assert!(listed(store, &u).await.is_empty());
    assert_eq!(
        listed(store, &other).await,
        vec![theirs.clone()],
        "others untouched"
    );
    store.delete(&theirs).await.unwrap();
}

/// 50 concurrent requests load and save a user's sessions (through [`Session`], with its
/// compare-and-swap) while the user's other sessions are revoked: afterwards no revoked key
/// loads, and the listing holds exactly the kept session.
pub async fn revoke_under_concurrent_saves_resurrects_nothing(store: Arc<dyn SessionStore>) {
    let u = fresh_user();
    let t = now() + 3600.0;
    let mut keys = Vec::new();
    for _ in 0..5 {
        keys.push(put(&*store, &login(&u, &[]), t).await.0);
    }
    let keep = keys[0].clone();
    let start = Arc::new(tokio::sync::Barrier::new(51));
    let mut tasks = Vec::new();
    for i in 0..50usize {
        let (store, start) = (store.clone(), start.clone());
        let k = keys[i % keys.len()].clone();
        tasks.push(tokio::spawn(async move {
            start.wait().await;
            for round in 0..3 {
                let s = session(store.clone(), Some(k.clone()));
                s.insert(&format!("t{i}"), &round).await.unwrap();
                match s.save().await {
                    Ok(()) | Err(SessionError::Interrupted) => {}
                    Err(e) => panic!("a concurrent save failed: {e:?}"),
                }
                tokio::task::yield_now().await;
            }
        }));
    }
    let revoker = {
        let (store, start, u, keep) = (store.clone(), start.clone(), u.clone(), keep.clone());
        tokio::spawn(async move {
            start.wait().await;
            tokio::task::yield_now().await;
            store.revoke_user_sessions(&u, Some(&keep)).await
        })
    };
    for task in tasks {
        task.await.expect("task");
    }
    revoker.await.expect("task").expect("revoke");
    for k in &keys[1..] {
        assert!(
            store.load(k, now()).await.unwrap().is_none(),
            "a revoked session was resurrected by a concurrent save"
        );
    }
    assert!(store.load(&keep, now()).await.unwrap().is_some(), "kept");
    assert_eq!(
        listed(&*store, &u).await,
        vec![keep.clone()],
        "only the kept session is listed"
    );
    store.revoke_user_sessions(&u, None).await.unwrap();
    assert!(listed(&*store, &u).await.is_empty());
}

/// Writes a session record the way Django does without the companion package: the record
/// only, no index entry (a test hook for [`reindex_backfills`]).
pub type UnindexedWriter =
    Arc<dyn Fn(SessionKey, Map, f64) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// Sessions written without the index are not listed until
/// [`reindex_users`](SessionStore::reindex_users) backfills them; then they are, and revoke
/// reaches them.
pub async fn reindex_backfills(store: Arc<dyn SessionStore>, write: UnindexedWriter) {
    let u = fresh_user();
    let t = now() + 3600.0;
    let (a, b) = (key(), key());
    write(a.clone(), login(&u, &[]), t).await;
    write(b.clone(), dict(&[("anonymous", Value::Bool(true))]), t).await;
    assert!(
        store.load(&a, now()).await.unwrap().is_some(),
        "the record loads"
    );
    assert!(listed(&*store, &u).await.is_empty(), "not indexed yet");
    let indexed = store.reindex_users(now(), 2).await.unwrap();
    assert!(indexed >= 1, "the login was indexed ({indexed})");
    assert_eq!(listed(&*store, &u).await, vec![a.clone()], "backfilled");
    assert_eq!(store.revoke_user_sessions(&u, None).await.unwrap(), 1);
    assert!(store.load(&a, now()).await.unwrap().is_none(), "revoked");
    store.delete(&b).await.unwrap();
}
