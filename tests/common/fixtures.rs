//! Small values the store tests all need: a codec, a fresh key, the clock, a session dict,
//! unique names and URL parameters.

use tessera::json::{Map, Value};
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;

/// The session codec for `secret`.
pub fn codec(secret: &str) -> SessionCodec {
    SessionCodec::new(&SecretKeys::new(secret)).expect("codec")
}

/// A fresh random session key.
pub fn key() -> SessionKey {
    SessionKey::generate().expect("random")
}

/// The current time in Unix seconds, as the stores take it.
pub fn now() -> f64 {
    tessera::signing::now()
}

/// A session dict of these pairs, in order.
pub fn dict(pairs: &[(&str, Value)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// A session dict with one integer.
pub fn int_dict(k: &str, v: i64) -> Map {
    dict(&[(k, Value::from(v))])
}

/// `prefix` and 12 random characters: a table, prefix or directory no other run uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &key().as_str()[..12])
}

/// `url` with one more query parameter.
pub fn with_param(url: &str, param: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{param}")
}

/// Stores a fresh session (`{"n": 1}`, a minute to live) in `store`, checks it loads, and
/// returns its key.
pub async fn stored_session(store: &dyn tessera::store::SessionStore) -> SessionKey {
    let (k, data) = (key(), int_dict("n", 1));
    let record = tessera::store::Record {
        data: &data,
        expires_at: now() + 60.0,
        now: now(),
    };
    store.create(&k, record).await.expect("create");
    assert!(store.load(&k, now()).await.expect("load").is_some());
    k
}

/// A logged-in session's record (`_auth_user_id` = `user`), written through `store` as a
/// request would: created, then saved once.
pub async fn log_in(store: &dyn tessera::store::SessionStore, user: &str) -> SessionKey {
    let k = key();
    let mut data = int_dict("a", 1);
    data.insert("_auth_user_id".into(), Value::Str(user.into()));
    let record = tessera::store::Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    let v = store.create(&k, record).await.unwrap();
    let saved = store.save(&k, record, &v).await.unwrap();
    assert!(
        matches!(saved, tessera::store::SaveOutcome::Saved(_)),
        "{saved:?}"
    );
    k
}

/// Stores a fresh session in `store` and loads it from four tasks at once, so that a pooled
/// store holds several connections, all idle afterwards. Returns its key.
pub async fn stored_session_loaded_at_once<S>(store: &S) -> SessionKey
where
    S: tessera::store::SessionStore + Clone + 'static,
{
    let k = stored_session(store).await;
    let loads: Vec<_> = (0..4)
        .map(|_| {
            let (store, k) = (store.clone(), k.clone());
            tokio::spawn(async move { store.load(&k, now()).await })
        })
        .collect();
    for load in loads {
        assert!(load.await.unwrap().unwrap().is_some());
    }
    k
}

/// Loads `k` and asks whether it exists, five times each: after the server ended every
/// pooled connection, each call must still succeed.
pub async fn reads_succeed_after_the_connections_ended(
    store: &dyn tessera::store::SessionStore,
    k: &SessionKey,
) {
    for _ in 0..5 {
        let loaded = store.load(k, now()).await.expect("the pool reconnects");
        assert!(loaded.is_some());
        assert!(store.exists(k).await.expect("the pool reconnects"));
    }
}
