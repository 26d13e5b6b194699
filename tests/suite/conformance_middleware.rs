//! Django's `SessionMiddleware` scenarios (middleware.json), replayed over real HTTP requests
//! through an axum app with tessera's layer: status, `Set-Cookie`, `Vary` and the stored rows
//! afterwards, with the clock pinned to each record's `now`.

use crate::common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use common::vectors::{records_py, Failures};
use http::{Request, StatusCode};
use tessera::backend::cookie::SignedCookieSessions;
use tessera::json::{Map, Value};
use tessera::session::codec::SessionCodec;
use tessera::session::{Expiry, SessionKey};
use tessera::signing::SecretKeys;
use tessera::store::memory::MemoryStore;
use tessera::store::{Record, SessionStore};
use tessera::{Session, SessionConfig, SessionLayer};
use tower::ServiceExt;

static NOW: AtomicU64 = AtomicU64::new(0);

fn pinned_clock() -> f64 {
    f64::from_bits(NOW.load(Ordering::SeqCst))
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

#[derive(Clone)]
struct Ctx {
    action: String,
    store: Arc<MemoryStore>,
    now: f64,
}

async fn view(State(ctx): State<Ctx>, session: Session) -> Response {
    let write_cart = || async {
        session.insert("cart", &[3, 1, 2]).await?;
        session.insert("user", "Jürgen").await?;
        Ok::<_, tessera::SessionError>(())
    };
    let visits = || async {
        let n: i64 = session.get("visits").await?.unwrap_or(0);
        session.insert("visits", &(n + 1)).await.map(drop)
    };
    let set_x = || async { session.insert("x", &1).await.map(drop) };
    let result: Result<Response, tessera::SessionError> = async {
        let mut status = StatusCode::OK;
        let mut vary = None;
        match ctx.action.as_str() {
            "no_cookie_untouched"
            | "existing_untouched"
            | "stale_cookie_untouched"
            | "short_cookie_untouched"
            | "save_every_request"
            | "save_every_request_no_session"
            | "signed_cookies_tampered_untouched" => {}
            "no_cookie_read"
            | "existing_read"
            | "stale_cookie_read"
            | "expired_row_read"
            | "signed_cookies_read"
            | "signed_cookies_expired_read" => {
                session.get_value("anything").await?;
            }
            "no_cookie_write"
            | "stale_cookie_write"
            | "expire_at_browser_close"
            | "custom_cookie_settings"
            | "samesite_none"
            | "samesite_disabled"
            | "signed_cookies_write" => write_cart().await?,
            "existing_modify"
            | "cookie_among_others"
            | "signed_cookies_modify"
            | "quoted_session_cookie"
            | "duplicate_session_cookie" => visits().await?,
            "existing_flush" | "samesite_none_delete" | "signed_cookies_flush" => {
                session.flush().await?
            }
            "existing_clear" | "signed_cookies_clear" => session.clear().await?,
            "existing_cycle_key" => session.cycle_key().await?,
            "existing_pop_missing" => {
                session.pop::<Value>("nope").await?;
            }
            "set_expiry_0" => {
                set_x().await?;
                session.set_expiry(Expiry::BrowserClose).await?;
            }
            "set_expiry_300" => {
                set_x().await?;
                session.set_expiry(Expiry::Seconds(300)).await?;
            }
            "set_expiry_negative" => {
                set_x().await?;
                session.set_expiry(Expiry::Seconds(-10)).await?;
            }
            "set_expiry_float" => {
                set_x().await?;
                session.set_expiry(Expiry::Raw(Value::Float(90.9))).await?;
            }
            "set_expiry_timedelta" => {
                set_x().await?;
                session
                    .set_expiry(Expiry::In(chrono::TimeDelta::hours(5)))
                    .await?;
            }
            "set_expiry_datetime" => {
                set_x().await?;
                let at = chrono::DateTime::from_timestamp_micros(
                    ((ctx.now + 86400.5) * 1e6).round() as i64,
                )
                .unwrap();
                session.set_expiry(Expiry::At(at.fixed_offset())).await?;
            }
            "response_500" | "view_raises" => {
                set_x().await?;
                status = StatusCode::INTERNAL_SERVER_ERROR;
            }
            "concurrent_delete" => {
                set_x().await?;
                // Another request logs the visitor out meanwhile.
                let key = session.session_key().await.expect("an existing session");
                ctx.store.delete(&key).await?;
            }
            "test_cookie" => session.set_test_cookie().await?,
            "existing_vary_header" => {
                set_x().await?;
                vary = Some("Accept-Encoding");
            }
            other => panic!("unknown view action {other}"),
        }
        let mut r = (status, "ok").into_response();
        if let Some(v) = vary {
            r.headers_mut()
                .insert(http::header::VARY, http::HeaderValue::from_static(v));
        }
        Ok(r)
    }
    .await;
    result.unwrap_or_else(IntoResponse::into_response)
}

fn config_for(settings: &Value) -> SessionConfig {
    let mut c = SessionConfig::default();
    if let Some(Value::Dict(s)) = Some(settings) {
        for (k, v) in s {
            match k.as_str() {
                "SESSION_COOKIE_NAME" => c.cookie_name = v.as_str().unwrap().to_owned(),
                "SESSION_COOKIE_AGE" => {
                    c.cookie_age = std::time::Duration::from_secs(v.as_i64().unwrap() as u64)
                }
                "SESSION_COOKIE_DOMAIN" => c.cookie_domain = v.as_str().map(str::to_owned),
                "SESSION_COOKIE_PATH" => c.cookie_path = v.as_str().unwrap().to_owned(),
                "SESSION_COOKIE_SECURE" => c.cookie_secure = v.is_truthy(),
                "SESSION_COOKIE_HTTPONLY" => c.cookie_httponly = v.is_truthy(),
                "SESSION_COOKIE_SAMESITE" => {
                    c.cookie_samesite = v.as_str().and_then(tessera::cookie::SameSite::parse)
                }
                "SESSION_SAVE_EVERY_REQUEST" => c.save_every_request = v.is_truthy(),
                "SESSION_EXPIRE_AT_BROWSER_CLOSE" => c.expire_at_browser_close = v.is_truthy(),
                "SESSION_ENGINE" => {}
                other => panic!("unhandled setting {other}"),
            }
        }
    }
    c
}

fn iso_to_unix(s: &str) -> f64 {
    let dt = chrono::DateTime::parse_from_rfc3339(s).expect("aware isoformat");
    dt.timestamp() as f64 + f64::from(dt.timestamp_subsec_micros()) / 1e6
}

/// A 32-character `[a-z0-9]` key after `name=` is random on both sides: compare it as `<KEY>`.
fn mask_key(header: &str, name: &str) -> String {
    let prefix = format!("{name}=");
    match header.strip_prefix(&prefix) {
        Some(rest)
            if rest.len() >= 32
                && rest[..32]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
        {
            format!("{prefix}<KEY>{}", &rest[32..])
        }
        _ => header.to_owned(),
    }
}

fn cookie_value<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .strip_prefix(name)?
        .strip_prefix('=')?
        .split(';')
        .next()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn middleware_scenarios() {
    let file = common::vectors::load_py("middleware.json");
    let keys = SecretKeys::new(text(&file, "secret_key"));
    let codec = SessionCodec::new(&keys).unwrap();
    let records = records_py("middleware.json");
    let mut f = Failures::default();
    for r in &records {
        let id = text(r, "id").to_owned();
        let now = r["now"].as_f64().unwrap();
        NOW.store(now.to_bits(), Ordering::SeqCst);
        let config = config_for(&r["settings"]);
        let name = config.cookie_name.clone();
        let store = Arc::new(MemoryStore::new());
        let signed = text(&r["settings"], "SESSION_ENGINE").ends_with("signed_cookies");
        let mut before_keys = Vec::new();
        if let Value::List(rows) = &r["db_before"] {
            for row in rows {
                let key = SessionKey::parse(text(row, "session_key")).unwrap();
                let data = codec.decode(text(row, "session_data")).data;
                let expires_at = iso_to_unix(text(row, "expire_date"));
                store
                    .create(
                        &key,
                        Record {
                            data: &data,
                            expires_at,
                            now: tessera::time::now(),
                        },
                    )
                    .await
                    .unwrap();
                before_keys.push(key);
            }
        }
        let layer = if signed {
            SessionLayer::signed_cookie(SignedCookieSessions::new(&keys).unwrap(), config.clone())
                .expect("valid session config")
        } else {
            SessionLayer::new(store.clone(), config.clone()).expect("valid session config")
        };
        let ctx = Ctx {
            action: text(r, "view_action").to_owned(),
            store: store.clone(),
            now,
        };
        let app = Router::new()
            .route("/", get(view))
            .with_state(ctx)
            .layer(layer.with_clock(tessera::time::Clock::from_fn(pinned_clock)));
        let mut req = Request::get(text(&r["request"], "path"));
        if let Some(cookie) = r["request"]["cookie_header"].as_str() {
            req = req.header(http::header::COOKIE, cookie);
        }
        let resp = app.oneshot(req.body(Body::empty()).unwrap()).await.unwrap();
        let expected = &r["expected"];

        let want_status: u16 = text(expected, "status")[..3].parse().unwrap();
        f.check(&id, resp.status().as_u16(), want_status);

        let got_cookies: Vec<String> = resp
            .headers()
            .get_all(http::header::SET_COOKIE)
            .iter()
            .map(|v| mask_key(v.to_str().unwrap(), &name))
            .collect();
        let want_cookies: Vec<String> = match &expected["set_cookie"] {
            Value::List(l) => l
                .iter()
                .map(|v| mask_key(v.as_str().unwrap(), &name))
                .collect(),
            _ => vec![],
        };
        f.check(&id, &got_cookies, &want_cookies);

        let got_vary: Vec<&str> = resp
            .headers()
            .get_all(http::header::VARY)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        let want_vary: Vec<String> = match &expected["headers"] {
            Value::List(l) => l
                .iter()
                .filter_map(|h| match h {
                    Value::List(p) if p[0].as_str() == Some("Vary") => {
                        p[1].as_str().map(str::to_owned)
                    }
                    _ => None,
                })
                .collect(),
            _ => vec![],
        };
        let norm = |v: Vec<String>| v.join(", ");
        f.check(
            &id,
            norm(got_vary.iter().map(|s| s.to_string()).collect()),
            norm(want_vary),
        );

        // The rows afterwards: old keys kept or removed as in Django, new rows with the
        // same decoded contents under the key our cookie carries.
        let after = match &expected["db_after"] {
            Value::List(l) => l.clone(),
            _ => vec![],
        };
        // No row beyond Django's: the store holds exactly as many records as its table did.
        f.check(&format!("{id} rows"), store.len(), after.len());
        for key in &before_keys {
            let want = after
                .iter()
                .any(|row| text(row, "session_key") == key.as_str());
            f.check(&id, store.exists(key).await.unwrap(), want);
        }
        for row in &after {
            let want: Map = row["decoded"].as_dict().cloned().unwrap_or_default();
            let key = match SessionKey::parse(text(row, "session_key")) {
                Some(k) if before_keys.contains(&k) => k,
                _ => match got_cookies.first().and_then(|_| {
                    resp.headers().get(http::header::SET_COOKIE).and_then(|v| {
                        cookie_value(v.to_str().ok()?, &name).and_then(SessionKey::parse)
                    })
                }) {
                    Some(k) => k,
                    None => {
                        f.push(&id, "a new row was expected but no session cookie was set");
                        continue;
                    }
                },
            };
            let expires = iso_to_unix(text(row, "expire_date"));
            match store.load(&key, expires - 0.5).await.unwrap() {
                Some(loaded) => f.check(&id, &*loaded.data, &want),
                None => f.push(&id, "expected row missing or expired too early"),
            }
            if store.load(&key, expires + 0.5).await.unwrap().is_some() {
                f.push(&id, "row lives past its expected expire_date");
            }
        }
    }
    f.assert_none("middleware.json", records.len());
}
