//! A small axum app over any store, and helpers to drive it with real HTTP requests
//! (in-process, through the full tower stack).
#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::Query;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use tessera::session::SessionKey;
use tessera::store::SessionStore;
use tessera::{Session, SessionConfig, SessionError, SessionLayer};
use tower::ServiceExt;

type Q = Query<HashMap<String, String>>;

async fn set(session: Session, Query(q): Q) -> Result<&'static str, SessionError> {
    for (k, v) in q {
        session.insert(&k, &v).await?;
    }
    Ok("ok")
}

async fn get_key(session: Session, Query(q): Q) -> Result<String, SessionError> {
    let k = q.get("k").cloned().unwrap_or_default();
    Ok(session
        .get::<String>(&k)
        .await?
        .unwrap_or_else(|| "None".into()))
}

async fn all(session: Session) -> Result<String, SessionError> {
    Ok(tessera::json::map_to_string(&session.items().await?))
}

async fn flush(session: Session) -> Result<&'static str, SessionError> {
    session.flush().await?;
    Ok("flushed")
}

async fn cycle(session: Session) -> Result<&'static str, SessionError> {
    session.cycle_key().await?;
    Ok("cycled")
}

/// Stores `deep`: a value nested `depth` levels below the session dict.
async fn nest(session: Session, Query(q): Q) -> Result<&'static str, SessionError> {
    let depth: usize = q.get("depth").and_then(|d| d.parse().ok()).unwrap_or(1);
    let mut value = tessera::json::Value::Int(1);
    for _ in 1..depth {
        value = tessera::json::Value::List(vec![value]);
    }
    session.insert("deep", &value).await?;
    Ok("ok")
}

/// `set_expiry`: `value` is whole seconds, `none` (back to the default), or an RFC 3339 date
/// with its offset.
async fn expiry(session: Session, Query(q): Q) -> Result<&'static str, SessionError> {
    let value = q.get("value").cloned().unwrap_or_default();
    let expiry = match value.parse::<i64>() {
        Ok(seconds) => tessera::session::Expiry::from(seconds),
        Err(_) if value == "none" => tessera::session::Expiry::Default,
        Err(_) => tessera::session::Expiry::from(
            chrono::DateTime::parse_from_rfc3339(&value).expect("an RFC 3339 date"),
        ),
    };
    session.set_expiry(expiry).await?;
    Ok("ok")
}

/// Stores `bytes` characters under `key`.
async fn big(session: Session, Query(q): Q) -> Result<&'static str, SessionError> {
    let bytes: usize = q.get("bytes").and_then(|n| n.parse().ok()).unwrap_or(0);
    let key = q.get("key").cloned().unwrap_or_else(|| "big".to_owned());
    session.insert(&key, &"x".repeat(bytes)).await?;
    Ok("ok")
}

/// Stores `many`: a list of `n` nulls (`n + 1` values).
async fn many(session: Session, Query(q): Q) -> Result<&'static str, SessionError> {
    let n: usize = q.get("n").and_then(|n| n.parse().ok()).unwrap_or(0);
    let list = tessera::json::Value::List(vec![tessera::json::Value::Null; n]);
    session.insert("many", &list).await?;
    Ok("ok")
}

async fn fail(session: Session) -> impl IntoResponse {
    let _ = session.insert("x", &1).await;
    (StatusCode::INTERNAL_SERVER_ERROR, "boom")
}

async fn plain() -> &'static str {
    "plain"
}

/// Routes: `/set?k=v…`, `/get?k=…`, `/all`, `/flush`, `/cycle`, `/fail` (500), `/plain`,
/// `/nest?depth=`, `/expiry?value=`, `/big?key=&bytes=`, `/many?n=`.
pub fn app_with(layer: SessionLayer) -> Router {
    Router::new()
        .route("/set", get(set))
        .route("/get", get(get_key))
        .route("/all", get(all))
        .route("/flush", get(flush))
        .route("/cycle", get(cycle))
        .route("/fail", get(fail))
        .route("/plain", get(plain))
        .route("/nest", get(nest))
        .route("/expiry", get(expiry))
        .route("/big", get(big))
        .route("/many", get(many))
        .layer(layer)
}

/// The app over `store` with `config`.
pub fn app(store: Arc<dyn SessionStore>, config: SessionConfig) -> Router {
    app_with(SessionLayer::new(store, config).expect("valid session config"))
}

/// A response, read whole.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: String,
}

impl Reply {
    /// Every `Set-Cookie` value.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap().to_owned())
            .collect()
    }

    /// The `name=value` of the session cookie this response set, if any.
    pub fn session_cookie(&self) -> Option<String> {
        self.set_cookies()
            .into_iter()
            .find(|c| c.starts_with("sessionid=") && !c.starts_with("sessionid=\"\""))
            .map(|c| c.split(';').next().unwrap().to_owned())
    }

    /// Whether the response deletes the session cookie.
    pub fn deletes_session_cookie(&self) -> bool {
        self.set_cookies()
            .iter()
            .any(|c| c.starts_with("sessionid=\"\"; expires=Thu, 01 Jan 1970"))
    }

    /// The value a `Set-Cookie` of this response gives the cookie `name`, quotes removed
    /// (`""` when it deletes it).
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|text| {
            let pair = text.split(';').next()?;
            let (n, value) = pair.split_once('=')?;
            (n == name).then(|| value.trim_matches('"').to_owned())
        })
    }

    /// Whether `Vary` names `Cookie`.
    pub fn varies_on_cookie(&self) -> bool {
        self.headers
            .get_all(http::header::VARY)
            .iter()
            .any(|v| v.to_str().unwrap().contains("Cookie"))
    }
}

/// Sends one GET with an optional `Cookie` header.
pub async fn send(app: &Router, uri: &str, cookie: Option<&str>) -> Reply {
    let mut req = Request::get(uri);
    if let Some(c) = cookie {
        req = req.header(http::header::COOKIE, c);
    }
    reply(app, req.body(Body::empty()).unwrap()).await
}

/// Sends any request; the response, read whole.
pub async fn reply(app: &Router, req: Request<Body>) -> Reply {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

/// At most this many rounds are run to see a race happen (one is usually enough).
const RACE_ROUNDS: usize = 40;

/// Fifty concurrent requests, each setting its own key in one session, all land: the store's
/// compare-and-swap turns each lost race into a reload and replay. Rounds repeat (bounded)
/// until at least one save has met a conflict, so the replay path has really run.
pub async fn fifty_concurrent_writers_lose_nothing(store: Arc<dyn SessionStore>) {
    let counted = Arc::new(super::probe::Probe::over(store));
    let app = app(counted.clone(), SessionConfig::default());
    for round in 1..=RACE_ROUNDS {
        let first = send(&app, "/set?seed=1", None).await;
        let cookie = first.session_cookie().expect("a session cookie");
        let mut tasks = Vec::new();
        for i in 0..50 {
            let app = app.clone();
            let cookie = cookie.clone();
            tasks.push(tokio::spawn(async move {
                let r = send(&app, &format!("/set?k{i}=v{i}"), Some(&cookie)).await;
                assert_eq!(r.status, StatusCode::OK, "request {i}: {}", r.body);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let all = send(&app, "/all", Some(&cookie)).await;
        for i in 0..50 {
            assert!(
                all.body.contains(&format!("\"k{i}\":\"v{i}\"")),
                "round {round}: k{i} lost: {}",
                all.body
            );
        }
        assert!(all.body.contains("\"seed\":\"1\""));
        if counted.conflicts.load(Ordering::SeqCst) > 0 {
            return;
        }
    }
    panic!("no save met a compare-and-swap conflict in {RACE_ROUNDS} rounds of 50 writers");
}

/// A logout racing writes never brings the session back: a save that finds the record gone
/// answers 400 and writes nothing. Rounds repeat (bounded) until at least one save has found
/// the record gone, so the `Gone` path has really run.
pub async fn logout_race_never_resurrects(store: Arc<dyn SessionStore>) {
    let counted = Arc::new(super::probe::Probe::over(store));
    let app = app(counted.clone(), SessionConfig::default());
    let mut interrupted = 0;
    for round in 1..=RACE_ROUNDS {
        let cookie = send(&app, "/set?u=1", None).await.session_cookie().unwrap();
        let mut tasks = Vec::new();
        for i in 0..20 {
            let app = app.clone();
            let cookie = cookie.clone();
            tasks.push(tokio::spawn(async move {
                if i == 10 {
                    send(&app, "/flush", Some(&cookie)).await.status
                } else {
                    send(&app, &format!("/set?k{i}=v"), Some(&cookie))
                        .await
                        .status
                }
            }));
        }
        for t in tasks {
            match t.await.unwrap() {
                StatusCode::OK => {}
                StatusCode::BAD_REQUEST => interrupted += 1,
                other => panic!("round {round}: {other}"),
            }
        }
        let after = send(&app, "/all", Some(&cookie)).await;
        assert_eq!(
            after.body, "{}",
            "round {round}: the flushed session came back"
        );
        // A 400 also follows a write that met another's (a conflict) and then found the
        // record gone on reloading; the round to stop at is one where a save itself found
        // the record gone.
        if counted.gone.load(Ordering::SeqCst) > 0 {
            assert!(
                interrupted > 0,
                "round {round}: a save found its record gone, and no request answered 400"
            );
            return;
        }
    }
    panic!("no save found its record gone to the logout in {RACE_ROUNDS} rounds");
}

/// "Log out everywhere else" under load: a user has six sessions; fifty requests write to
/// them, over HTTP through the session layer, while the store revokes all but one. Afterwards
/// no revoked session loads (none was brought back by a save that had loaded it before the
/// revoke), each answers as anonymous, the listing holds only the kept one, and every write
/// answered 200 on the kept session is in it. Five rounds.
pub async fn revoke_under_load_resurrects_nothing(store: Arc<dyn SessionStore>) {
    let app = app(store.clone(), SessionConfig::default());
    let mut interrupted = 0;
    for round in 1..=5 {
        let user = format!("load-{}", &SessionKey::generate().unwrap().as_str()[..10]);
        let mut cookies = Vec::new();
        for _ in 0..6 {
            let reply = send(&app, &format!("/set?_auth_user_id={user}"), None).await;
            cookies.push(reply.session_cookie().expect("a session"));
        }
        let keys: Vec<SessionKey> = cookies
            .iter()
            .map(|c| SessionKey::parse(c.trim_start_matches("sessionid=")).unwrap())
            .collect();
        let keep = keys[0].clone();
        let mut tasks = Vec::new();
        for i in 0..50 {
            let (app, cookie) = (app.clone(), cookies[i % 6].clone());
            tasks.push(tokio::spawn(async move {
                let reply = send(&app, &format!("/set?w{i}=x"), Some(&cookie)).await;
                (i, reply.status)
            }));
            if i == 25 {
                let revoked = store
                    .revoke_user_sessions(&user, Some(&keep))
                    .await
                    .unwrap();
                assert!(revoked <= 5, "round {round}: revoked {revoked}");
            }
        }
        let mut kept_writes = Vec::new();
        for t in tasks {
            match t.await.unwrap() {
                (i, StatusCode::OK) if i % 6 == 0 => kept_writes.push(i),
                (_, StatusCode::OK) => {}
                (_, StatusCode::BAD_REQUEST) => interrupted += 1,
                (i, other) => panic!("round {round}: request {i}: {other}"),
            }
        }
        let now = tessera::time::now();
        for key in &keys[1..] {
            assert!(
                store.load(key, now).await.unwrap().is_none(),
                "round {round}: a revoked session came back"
            );
        }
        for cookie in &cookies[1..] {
            assert_eq!(
                send(&app, "/all", Some(cookie)).await.body,
                "{}",
                "round {round}"
            );
        }
        let listed: Vec<SessionKey> = store
            .user_sessions(&user, now)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.key)
            .collect();
        assert_eq!(
            listed,
            vec![keep.clone()],
            "round {round}: only the kept session"
        );
        let kept = store
            .load(&keep, now)
            .await
            .unwrap()
            .expect("the kept session");
        for i in kept_writes {
            assert!(
                kept.data.contains_key(&format!("w{i}")),
                "round {round}: w{i} lost"
            );
        }
    }
    eprintln!("revoke under load: {interrupted} writes found their session revoked (400)");
}

/// A write that lands under the old key while `cycle_key` moves the session (a login racing
/// another request) is never acknowledged and lost. The store wrapper makes the race happen
/// every time: just before `cycle_key`'s first write to the old record, another writer saves a
/// new key into it through the store's own compare-and-swap. The session under the new key
/// must hold that write, and the old key must no longer load. Then twenty rounds of forty
/// requests racing one `cycle_key` check the same without the help: every write answered 200
/// under the old key is under the new one.
pub async fn cycle_race_loses_no_acknowledged_write(store: Arc<dyn SessionStore>) {
    let probe = Arc::new(super::probe::Probe::over(store));
    let app = app(probe.clone(), SessionConfig::default());
    let old = send(&app, "/set?seed=1", None)
        .await
        .session_cookie()
        .unwrap();
    let key = tessera::session::SessionKey::parse(old.trim_start_matches("sessionid=")).unwrap();
    probe.race_before_write(key, "raced");
    let r = send(&app, "/cycle", Some(&old)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(probe.race_happened(), "the racing write was not made");
    let new = r.session_cookie().expect("cycle_key sends the new key");
    let all = send(&app, "/all", Some(&new)).await.body;
    assert!(
        all.contains("\"raced\"") && all.contains("\"seed\""),
        "the raced write was lost: {all}"
    );
    assert_eq!(
        send(&app, "/all", Some(&old)).await.body,
        "{}",
        "the old key still loads"
    );

    for round in 1..=20 {
        let old = send(&app, "/set?seed=1", None)
            .await
            .session_cookie()
            .unwrap();
        let mut tasks = Vec::new();
        for i in 0..41 {
            let (app, old) = (app.clone(), old.clone());
            tasks.push(tokio::spawn(async move {
                let uri = if i == 20 {
                    "/cycle".to_owned()
                } else {
                    format!("/set?k{i}=v")
                };
                (i, send(&app, &uri, Some(&old)).await)
            }));
        }
        let (mut new, mut written) = (None, Vec::new());
        for t in tasks {
            let (i, r) = t.await.unwrap();
            match (i, r.status) {
                (20, StatusCode::OK) => new = r.session_cookie(),
                (20, status) => panic!("round {round}: cycle_key answered {status}: {}", r.body),
                // Saved under the old key (a later request, which found the old key retired,
                // started a new anonymous session under a cookie of its own instead).
                (_, StatusCode::OK) if r.session_cookie().as_deref() == Some(old.as_str()) => {
                    written.push(i)
                }
                (_, StatusCode::OK | StatusCode::BAD_REQUEST) => {}
                (_, status) => panic!("round {round}: request {i} answered {status}: {}", r.body),
            }
        }
        let new = new.expect("cycle_key sends the new key");
        let all = send(&app, "/all", Some(&new)).await.body;
        let lost: Vec<String> = written
            .iter()
            .map(|i| format!("k{i}"))
            .filter(|k| !all.contains(&format!("\"{k}\"")))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged and lost: {lost:?} ({all})"
        );
    }
}

/// An expiry outside the years 1 to 9999 is refused with the same 400 and message on every
/// store, and the session keeps what it had (SQLite answered 503 with an ERROR log, PostgreSQL
/// and MySQL silently stored 9999-12-31). The last storable second is stored and read back.
pub async fn out_of_range_expiries_are_refused_alike(app: &Router) {
    let cookie = send(app, "/set?a=1", None).await.session_cookie().unwrap();
    for value in [
        "9999-12-31T23:59:59-14:00",
        "0001-01-01T00:00:00%2B14:00",
        "9223372036854775",
        "-9223372036854775",
    ] {
        let r = send(app, &format!("/expiry?value={value}"), Some(&cookie)).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{value}: {}", r.body);
        assert!(r.body.contains("years 1 to 9999"), "{value}: {}", r.body);
        assert!(r.set_cookies().is_empty(), "{value}");
        assert_eq!(
            send(app, "/get?k=a", Some(&cookie)).await.body,
            "1",
            "{value}"
        );
    }
    let r = send(
        app,
        "/expiry?value=9999-12-31T23:59:59%2B00:00",
        Some(&cookie),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.session_cookie().unwrap_or(cookie);
    assert_eq!(send(app, "/get?k=a", Some(&cookie)).await.body, "1");
    // Nothing is created for a new session either.
    let r = send(app, "/expiry?value=9999-12-31T23:59:59-14:00", None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.session_cookie().is_none());
}

/// Writes past the session budget (`max_data_bytes`, `max_data_values`) are refused with a
/// 400 saying which, and the stored session keeps what it had: a visitor cannot grow a record
/// that costs every later request a large decompression (33 PATCHes of 1.95 MB made a row
/// that inflated to 64 MiB).
pub async fn writes_past_the_session_budget_are_refused(store: Arc<dyn SessionStore>) {
    let config = SessionConfig {
        max_data_bytes: 200_000,
        max_data_values: 1_000,
        ..SessionConfig::default()
    };
    let app = app(store, config);
    let cookie = send(&app, "/big?key=a&bytes=150000", None)
        .await
        .session_cookie()
        .unwrap();
    let r = send(&app, "/big?key=b&bytes=60000", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("a session may hold 200000"), "{}", r.body);
    let r = send(&app, "/big?key=a&bytes=200001", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = send(&app, "/many?n=1000", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("more than 1000 values"), "{}", r.body);
    let all = send(&app, "/all", Some(&cookie)).await.body;
    assert_eq!(
        all.len(),
        150_000 + r#"{"a":""}"#.len(),
        "the session kept only a"
    );
    // Within the budget, exactly: the whole session may be 1,000 values.
    let r = send(&app, "/many?n=998", Some(&cookie)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

/// Both limit checks over `store`: expiries past the year 9999 and data past the budget.
pub async fn writes_past_the_limits_are_refused(store: Arc<dyn SessionStore>) {
    let app = app(store.clone(), SessionConfig::default());
    out_of_range_expiries_are_refused_alike(&app).await;
    writes_past_the_session_budget_are_refused(store).await;
}

/// The codec's cache of decoded sessions never answers for a record that changed under it:
/// through the layer, a session is read and saved and read again (and cached), then its row is
/// rewritten as another process would, by `swap(key, text)`, which answers the text it
/// replaced: Django's new data is read, a forged record is refused, and the text tessera
/// saved, put back, reads as it did. `secret` is the store codec's key, which "Django" signs
/// with.
pub async fn records_changed_outside_are_read_anew<F, Fut>(
    store: Arc<dyn SessionStore>,
    secret: &str,
    swap: F,
) where
    F: Fn(String, String) -> Fut,
    Fut: std::future::Future<Output = String>,
{
    use tessera::json::{Map, Value};
    use tessera::session::codec::SessionCodec;
    use tessera::signing::SecretKeys;

    let app = app(store, SessionConfig::default());
    let cookie = send(&app, "/set?n=1", None)
        .await
        .session_cookie()
        .expect("a session was created");
    let key = cookie.trim_start_matches("sessionid=").to_owned();
    assert_eq!(send(&app, "/get?k=n", Some(&cookie)).await.body, "1");
    assert_eq!(send(&app, "/set?n=2", Some(&cookie)).await.status, 200);
    // Loaded twice, so remembered (a text is on its second load).
    for _ in 0..2 {
        assert_eq!(send(&app, "/get?k=n", Some(&cookie)).await.body, "2");
    }
    let data = |n: &str| Map::from([("n".to_owned(), Value::from(n))]);

    // Django saves the session: its data is read, not the cached dict.
    let django = SessionCodec::new(&SecretKeys::new(secret)).expect("codec");
    let saved_by_tessera = swap(key.clone(), django.encode(&data("7"))).await;
    assert_eq!(send(&app, "/get?k=n", Some(&cookie)).await.body, "7");

    // A record signed with another key is refused: a new, empty session.
    let forger = SessionCodec::new(&SecretKeys::new("not-the-secret")).expect("codec");
    swap(key.clone(), forger.encode(&data("9"))).await;
    assert_eq!(send(&app, "/get?k=n", Some(&cookie)).await.body, "None");

    // The text tessera saved, put back (a restore from a backup, say), reads as it did.
    swap(key.clone(), saved_by_tessera).await;
    assert_eq!(send(&app, "/get?k=n", Some(&cookie)).await.body, "2");
}
