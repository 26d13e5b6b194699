//! Every record of `csrf.json`, made by the real Django 6.1.3: token masking, and whole
//! requests through `CsrfViewMiddleware` (accepted or refused with Django's exact reason, the
//! secret in use, the token handed out, the `Set-Cookie` and `Vary` headers, the session).
//!
//! The flow records run twice: through the real [`CsrfLayer`] on an axum router (what a
//! deployment runs), and through the pure [`CsrfRules::check`] on the same request's facts.

use crate::common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::routing::any;
use axum::{Extension, Router};
use common::vectors::{records_py, Failures};
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use tessera::cookie::SameSite;
use tessera::csrf::{
    mask, unmask, AllowedHosts, CsrfConfig, CsrfLayer, CsrfRandom, CsrfToken, IncomingSecret,
    RequestFacts,
};
use tessera::json::Value;
use tessera::session::SessionKey;
use tessera::store::memory::MemoryStore;
use tessera::store::{Record, SessionStore};
use tessera::time::Clock;
use tessera::{Session, SessionConfig};
use tower::ServiceExt;

const FILE: &str = "csrf.json";

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

fn opt_text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_owned)
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::List(items) => items.iter().filter_map(opt_text).collect(),
        _ => Vec::new(),
    }
}

/// The record's settings over Django's defaults.
fn config_for(s: &Value) -> CsrfConfig {
    let mut c = CsrfConfig {
        allowed_hosts: AllowedHosts::list(strings(&s["ALLOWED_HOSTS"])),
        trusted_origins: strings(&s["CSRF_TRUSTED_ORIGINS"]),
        use_sessions: s["CSRF_USE_SESSIONS"].is_truthy(),
        cookie_domain: opt_text(&s["CSRF_COOKIE_DOMAIN"]),
        session_cookie_domain: opt_text(&s["SESSION_COOKIE_DOMAIN"]),
        ..CsrfConfig::default()
    };
    if let Some(name) = s["CSRF_COOKIE_NAME"].as_str() {
        c.cookie_name = name.to_owned();
    }
    if let Some(meta_key) = s["CSRF_HEADER_NAME"].as_str() {
        // Django names the header by its WSGI key.
        let name = meta_key.strip_prefix("HTTP_").unwrap_or(meta_key);
        c.header_name = name.replace('_', "-");
    }
    if let Some(age) = s.get("CSRF_COOKIE_AGE") {
        c.cookie_age = age
            .as_i64()
            .map(|n| Duration::from_secs(u64::try_from(n).unwrap()));
    }
    if let Some(path) = s["CSRF_COOKIE_PATH"].as_str() {
        c.cookie_path = path.to_owned();
    }
    if let Some(v) = s.get("CSRF_COOKIE_SECURE") {
        c.cookie_secure = v.is_truthy();
    }
    if let Some(v) = s.get("CSRF_COOKIE_HTTPONLY") {
        c.cookie_httponly = v.is_truthy();
    }
    if let Some(v) = s.get("CSRF_COOKIE_SAMESITE") {
        c.cookie_samesite = v
            .as_str()
            .map(|s| SameSite::parse(s).expect("a SameSite value"));
    }
    c
}

/// The request `RequestFactory().generic(...)` builds: `SERVER_NAME` testserver, the port
/// given or the scheme's, every header as listed.
fn request_for(r: &Value) -> Request<Body> {
    let req = &r["request"];
    let secure = req["secure"].is_truthy();
    let scheme = if secure { "https" } else { "http" };
    let port = req["server_port"]
        .as_str()
        .unwrap_or(if secure { "443" } else { "80" });
    let uri = format!("{scheme}://testserver:{port}{}", text(req, "path"));
    let mut builder = Request::builder().method(text(req, "method")).uri(uri);
    if let Value::List(headers) = &req["headers"] {
        for pair in headers {
            if let Value::List(pair) = pair {
                let part = |i: usize| pair.get(i).and_then(Value::as_str).unwrap_or("");
                builder = builder.header(part(0), part(1));
            }
        }
    }
    if let Some(content_type) = req["content_type"].as_str() {
        builder = builder.header(http::header::CONTENT_TYPE, content_type);
    }
    let body = req["body"].as_str().unwrap_or("").to_owned();
    builder.body(Body::from(body)).expect("a valid request")
}

/// What the view saw: the secret before and after its action, and the token it got.
#[derive(Default, Clone, Debug)]
struct Seen {
    reached: bool,
    secret_before: Option<String>,
    secret_after: Option<String>,
    token: Option<String>,
}

#[derive(Clone)]
struct Ctx {
    action: String,
    seen: Arc<Mutex<Seen>>,
}

async fn view(State(ctx): State<Ctx>, csrf: CsrfToken) -> &'static str {
    let mut seen = Seen {
        reached: true,
        secret_before: csrf.secret(),
        ..Seen::default()
    };
    match ctx.action.as_str() {
        "get_token" => seen.token = Some(csrf.get_token().expect("a token")),
        "rotate_token" => csrf.rotate().expect("a new secret"),
        "rotate_then_get_token" => {
            csrf.rotate().expect("a new secret");
            seen.token = Some(csrf.get_token().expect("a token"));
        }
        _ => {}
    }
    seen.secret_after = csrf.secret();
    *ctx.seen.lock().unwrap() = seen;
    "ok"
}

/// The session `session_before` describes, in a fresh memory store.
async fn session_for(r: &Value) -> Option<Session> {
    let Value::Dict(data) = &r["session_before"] else {
        return None;
    };
    let store = Arc::new(MemoryStore::new());
    let key = SessionKey::parse(text(r, "session_key_before")).expect("a session key");
    let now = tessera::time::now();
    store
        .create(
            &key,
            Record {
                data,
                expires_at: now + 3600.0,
                now,
            },
        )
        .await
        .expect("stored");
    Some(Session::detached(store, SessionConfig::default(), Some(key)).expect("a session"))
}

/// The `csrfmiddlewaretoken` of the record's form body (the vectors' bodies are plain).
fn form_token(r: &Value) -> Option<String> {
    let req = &r["request"];
    if text(req, "method") != "POST"
        || text(req, "content_type") != "application/x-www-form-urlencoded"
    {
        return None;
    }
    text(req, "body")
        .rsplit('&')
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| *k == "csrfmiddlewaretoken")
        .map(|(_, v)| v.to_owned())
}

/// One flow record through the layer, then through the pure decision.
async fn run_flow(r: &Value, f: &mut Failures) {
    let id = text(r, "id");
    let e = &r["expected"];
    let config = config_for(&r["settings"]);
    let random = CsrfRandom::scripted(strings(&r["random_values"]["csrf_strings"]));
    let layer = CsrfLayer::new(config.clone())
        .expect("valid settings")
        .with_clock(Clock::fixed(r["now"].as_f64().unwrap()))
        .with_random(random)
        // Like the vectors' CSRF_FAILURE_VIEW: HttpResponseForbidden(reason).
        .failure_view(|reason| {
            let mut response = http::Response::new(reason.to_string());
            *response.status_mut() = StatusCode::FORBIDDEN;
            response
        });
    let seen = Arc::new(Mutex::new(Seen::default()));
    let ctx = Ctx {
        action: text(r, "view_action").to_owned(),
        seen: seen.clone(),
    };
    let session = session_for(r).await;
    let mut app = Router::new()
        .route("/{*path}", any(view))
        .with_state(ctx)
        .layer(layer);
    if let Some(session) = &session {
        app = app.layer(Extension(session.clone()));
    }
    let response = app.oneshot(request_for(r)).await.unwrap();
    let status = response.status();
    let set_cookie: Vec<Value> = response
        .headers()
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| Value::Str(v.to_str().unwrap().to_owned()))
        .collect();
    let vary = response
        .headers()
        .get(http::header::VARY)
        .map(|v| Value::Str(v.to_str().unwrap().to_owned()))
        .unwrap_or(Value::Null);
    let body = String::from_utf8(
        response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec(),
    )
    .unwrap();
    let seen = seen.lock().unwrap().clone();
    let want = &e["result"];
    let accepted = want["accepted"].is_truthy();
    f.check(id, status.as_u16(), e["status"].as_i64().unwrap() as u16);
    f.check(&format!("{id} accepted"), seen.reached, accepted);
    if !accepted {
        f.check(&format!("{id} reason"), body.as_str(), text(want, "reason"));
    }
    f.check(
        &format!("{id} set_cookie"),
        Value::List(set_cookie.clone()),
        e["set_cookie"].clone(),
    );
    f.check(&format!("{id} vary"), vary, e["vary"].clone());
    f.check(
        &format!("{id} token"),
        seen.token.clone(),
        opt_text(&e["token"]),
    );
    // The secret after process_request and at the end: what the view saw, or for a refused
    // request the secret the cookie or session brought (a malformed cookie's replacement is
    // the one the response sends).
    let incoming = match &session {
        Some(s) => IncomingSecret::from_session(s.get_value("_csrftoken").await.unwrap().as_ref()),
        None => {
            let header = request_for(r);
            let cookies = tessera::cookie::parse_request_cookies(
                header.headers().get_all(http::header::COOKIE),
            );
            IncomingSecret::from_cookie(cookies.get(&config.cookie_name).map(String::as_str))
        }
    };
    let (before, after) = if seen.reached {
        (seen.secret_before.clone(), seen.secret_after.clone())
    } else {
        let secret = match &incoming {
            IncomingSecret::Present(s) => Some(s.clone()),
            IncomingSecret::Malformed(_) => set_cookie
                .first()
                .and_then(Value::as_str)
                .and_then(|c| c.split(';').next())
                .and_then(|c| c.split_once('='))
                .map(|(_, v)| v.to_owned()),
            _ => None,
        };
        (secret.clone(), secret)
    };
    f.check(
        &format!("{id} csrf_cookie_after_process_request"),
        before,
        opt_text(&e["csrf_cookie_after_process_request"]),
    );
    f.check(
        &format!("{id} csrf_cookie_meta_final"),
        after,
        opt_text(&e["csrf_cookie_meta_final"]),
    );
    if let Some(session) = &session {
        let items = session.items().await.unwrap();
        f.check(
            &format!("{id} session_after"),
            Value::Dict(items),
            e["session_after"].clone(),
        );
    }
    // The same decision without HTTP.
    let rules = config.validate().unwrap();
    let facts = RequestFacts::from_request(&request_for(r), &rules);
    let secret = match (&session, &incoming) {
        // The layer read the session before the view; the pure check takes what it held.
        (Some(_), _) => IncomingSecret::from_session(r["session_before"].get("_csrftoken")),
        (None, s) => s.clone(),
    };
    let decided = rules.check(&facts, &secret, form_token(r).as_deref());
    f.check(
        &format!("{id} pure check"),
        decided.map_err(|reason| reason.to_string()),
        if accepted {
            Ok(())
        } else {
            Err(text(want, "reason").to_owned())
        },
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_record_matches_django() {
    let records = records_py(FILE);
    let mut f = Failures::default();
    for r in &records {
        let id = text(r, "id");
        match text(r, "op") {
            "mask" => {
                let got = mask(text(r, "secret"), text(r, "mask")).expect("a mask");
                f.check(id, got.as_str(), text(&r["expected"], "result"));
            }
            "unmask" => {
                let got = unmask(text(r, "token")).expect("a token");
                f.check(id, got.as_str(), text(&r["expected"], "result"));
            }
            "check" | "response_cookie" | "rotate_token" => run_flow(r, &mut f).await,
            op => f.push(id, format!("unknown op {op}")),
        }
    }
    f.assert_none(FILE, records.len());
}
