//! The demo site in a real browser: Debian's headless Chromium, driven over WebDriver
//! (chromedriver), against `tessera serve` with a SQLite store on a loopback port.
//!
//! The walkthrough runs in order, checking what each page shows and what the browser's cookie
//! store holds after it. A screenshot of `/` is saved to `target/browser-artifacts/index.png`.
//! Without Chromium and chromedriver the test skips loudly, except in CI (any truthy `CI`), where that
//! is a failure (`.ci/run` installs them).

use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use common::serve::{free_port, http, Server, ServerOptions, TempDir};
use serde_json::{json, Value};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// A minimal WebDriver client: one Chromium session behind one chromedriver.
struct Browser {
    driver: Child,
    addr: String,
    session: String,
    base: String,
}

impl Browser {
    fn start(base: &str, profile: &Path) -> Browser {
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver");
        let addr = format!("127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(&addr).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            base: base.to_owned(),
        };
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1000,1500",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"binary": CHROMIUM, "args": args},
        }}});
        let created = browser.call("POST", "/session", Some(caps));
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {created}"))
            .to_owned();
        browser
    }

    /// One WebDriver command; returns its `value`.
    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json")]
        };
        let reply = http(&self.addr, method, path, headers, &body);
        let value = reply.json()["value"].clone();
        assert_eq!(reply.status, 200, "WebDriver {method} {path}: {value}");
        value
    }

    fn session_call(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        self.call(method, &format!("/session/{}{path}", self.session), body)
    }

    fn goto(&self, path: &str) {
        self.open(&format!("{}{path}", self.base));
    }

    /// Opens any URL, as if typed into the address bar.
    fn open(&self, url: &str) {
        self.session_call("POST", "/url", Some(json!({ "url": url })));
    }

    fn path(&self) -> String {
        self.script("return location.pathname;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn script(&self, script: &str) -> Value {
        self.session_call(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": []})),
        )
    }

    /// The text of the first element matching `css`, or `None`.
    fn text(&self, css: &str) -> Option<String> {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : null;",
            json!(css)
        );
        self.script(&script).as_str().map(str::to_owned)
    }

    fn result(&self) -> String {
        self.text("#result")
            .unwrap_or_else(|| panic!("no #result on {}", self.path()))
    }

    /// Every cookie the browser holds for the page, HttpOnly ones included.
    fn cookies(&self) -> Vec<Value> {
        self.session_call("GET", "/cookie", None)
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn cookie(&self, name: &str) -> Option<Value> {
        self.cookies().into_iter().find(|c| c["name"] == name)
    }

    fn document_cookie(&self) -> String {
        self.script("return document.cookie;")
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    fn add_cookie(&self, name: &str, value: &str) {
        let cookie = json!({"cookie": {"name": name, "value": value, "path": "/"}});
        self.session_call("POST", "/cookie", Some(cookie));
    }

    /// The status of a same-origin `fetch` of `path` (cookies included).
    fn fetch_status(&self, path: &str) -> u64 {
        let script = format!(
            "const done = arguments[arguments.length - 1];\
             fetch({}).then(r => done(r.status), e => done(String(e)));",
            json!(path)
        );
        let v = self.session_call(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": []})),
        );
        v.as_u64().unwrap_or_else(|| panic!("fetch {path}: {v}"))
    }

    /// Polls `check` until it holds, for up to 10 s.
    fn wait_for(&self, what: &str, check: impl Fn(&Browser) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !check(self) {
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what} (on {})",
                self.path()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn screenshot(&self) -> Vec<u8> {
        let b64 = self.session_call("GET", "/screenshot", None);
        base64::engine::general_purpose::STANDARD
            .decode(b64.as_str().expect("base64 PNG"))
            .expect("decode screenshot")
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Closing the session, then chromedriver's own shutdown, quits Chromium: killing
        // chromedriver alone would leave the browser running.
        let _ = std::panic::catch_unwind(|| {
            if !self.session.is_empty() {
                http(
                    &self.addr,
                    "DELETE",
                    &format!("/session/{}", self.session),
                    &[],
                    "",
                );
            }
            http(&self.addr, "GET", "/shutdown", &[], "");
        });
        std::thread::sleep(Duration::from_millis(200));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn browser_available() -> bool {
    let found = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !found {
        common::services::skip_or_fail(&format!(
            "{CHROMIUM} or {CHROMEDRIVER} is missing (apt-get install chromium chromium-driver)"
        ));
    }
    found
}

/// `target/browser-artifacts`, beside the `debug` folder the binary is in.
fn artifacts_dir() -> PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_tessera"));
    let target = bin.parent().and_then(Path::parent).expect("target dir");
    let dir = target.join("browser-artifacts");
    std::fs::create_dir_all(&dir).expect("create browser-artifacts");
    dir
}

fn session_cookie_value(b: &Browser) -> String {
    let c = b.cookie("sessionid").expect("a sessionid cookie");
    assert_eq!(c["httpOnly"], true, "sessionid is HttpOnly: {c}");
    c["value"].as_str().unwrap().to_owned()
}

#[test]
fn walkthrough_in_chromium() {
    if !browser_available() {
        return;
    }
    let started = Instant::now();
    let dir = TempDir::new("browser");
    let opts = ServerOptions::sqlite_in(dir.path());
    let mut server = Server::start(&opts);
    let profile = dir.path().join("profile");
    let b = Browser::start(&format!("http://{}", server.addr), &profile);

    // A plain cookie: set, read, deleted.
    b.goto("/set_cookie/");
    assert_eq!(b.result(), "Set cookie test = hello cookie.");
    let test = b.cookie("test").expect("test cookie stored");
    // Django quotes a value with a space; the browser keeps the quotes as part of the value.
    assert_eq!(test["value"], "\"hello cookie\"", "{test}");
    assert_eq!(test["httpOnly"], false);
    assert!(
        b.document_cookie().contains("test=\"hello cookie\""),
        "{}",
        b.document_cookie()
    );
    b.goto("/get_cookie/");
    assert_eq!(b.result(), "test = hello cookie");
    b.goto("/check_cookie/");
    assert_eq!(b.result(), "test = hello cookie");
    b.goto("/delete_cookie/");
    assert_eq!(b.path(), "/check_cookie/", "redirected");
    assert_eq!(b.result(), "test = None");
    assert!(b.cookie("test").is_none(), "deleted from the browser");
    assert!(!b.document_cookie().contains("test="));

    // A signed cookie: set, read back, tampered.
    b.goto("/check_salt_cookie/");
    assert!(
        b.result().starts_with("No salt_cookie yet"),
        "{}",
        b.result()
    );
    let salt = b.cookie("salt_cookie").expect("signed cookie stored");
    let signed = salt["value"].as_str().unwrap().to_owned();
    assert!(signed.starts_with("\"hello salt:"), "{signed}");
    b.goto("/check_salt_cookie/");
    assert!(
        b.result()
            .starts_with("salt_cookie = hello salt (signature verified"),
        "{}",
        b.result()
    );
    let tampered = signed.replace("hello salt", "hello SALT");
    b.add_cookie("salt_cookie", &tampered);
    b.goto("/check_salt_cookie/");
    assert!(
        b.result().starts_with("salt_cookie did not verify"),
        "{}",
        b.result()
    );
    assert!(
        b.cookie("salt_cookie").is_some(),
        "a cookie that does not verify is left for the app that may read it"
    );
    b.add_cookie("salt_cookie", &tampered);
    assert_eq!(
        b.fetch_status("/check_salt_cookie/"),
        200,
        "tampering is never a 500"
    );
    b.goto("/check_salt_cookie/");
    assert!(
        b.result().starts_with("salt_cookie did not verify"),
        "still reported, still there: {}",
        b.result()
    );

    // The session: created, its key shown, HttpOnly, surviving navigation and a restart.
    b.goto("/set_session/");
    assert!(
        b.result().starts_with("Stored test_id = TEST"),
        "{}",
        b.result()
    );
    let key = session_cookie_value(&b);
    assert_eq!(key.len(), 32);
    assert!(
        !b.document_cookie().contains("sessionid"),
        "HttpOnly: invisible to scripts"
    );
    b.goto("/set_session/");
    assert_eq!(b.text("#session-key").as_deref(), Some(key.as_str()));
    assert!(b.result().contains("test_id = TEST"));
    for page in ["/", "/get_cookie/", "/check_salt_cookie/", "/api/session"] {
        b.goto(page);
    }
    b.goto("/");
    assert_eq!(b.text("#panel-key"), Some(format!("{}…", &key[..4])));
    assert!(
        !b.script("return document.body.innerHTML;")
            .as_str()
            .unwrap()
            .contains(&key),
        "/ shows the key shortened"
    );

    server.stop().expect("the server stops on Ctrl-C");
    server = Server::start(&ServerOptions {
        port: opts.port,
        ..ServerOptions::sqlite_in(dir.path())
    });
    b.goto("/set_session/");
    assert_eq!(
        b.text("#session-key").as_deref(),
        Some(key.as_str()),
        "same session after a restart"
    );
    assert!(b.result().contains("test_id = TEST"));

    // The forms on `/`.
    b.goto("/");
    b.script(
        "const f = document.getElementById('cookie-form');\
         f.elements['name'].value = 'theme'; f.elements['value'].value = 'dark';\
         f.elements['max_age'].value = '3600'; f.elements['samesite'].value = 'Lax';\
         f.submit();",
    );
    b.wait_for("the theme cookie", |b| {
        b.cookie("theme").is_some() && b.text("#panel").is_some()
    });
    assert!(b.document_cookie().contains("theme=dark"));
    assert!(
        b.cookie("theme").unwrap()["expiry"].is_u64(),
        "max age → a persistent cookie"
    );
    b.script(
        "const f = document.getElementById('session-form');\
         f.elements['key'].value = 'cart'; f.elements['value'].value = '[\"tea\", 2]'; f.submit();",
    );
    b.wait_for("cart in the session", |b| {
        b.text("#session")
            .is_some_and(|t| t.contains("cart") && t.contains("[\"tea\",2]"))
    });
    let panel = b.text("#panel").unwrap();
    assert!(
        panel.contains("theme") && panel.contains("salt_cookie") && panel.contains("test_id"),
        "{panel}"
    );
    let shot = artifacts_dir().join("index.png");
    std::fs::write(&shot, b.screenshot()).expect("save screenshot");
    eprintln!("screenshot of / saved to {}", shot.display());

    // Another site's page (a data: URL, so a cross-site, "null" origin) can neither plant a
    // cookie with the form nor flush the session with a link: the browser says where they come
    // from, and the demo refuses.
    let hostile = format!(
        "data:text/html,<form id=f method=post action='{base}/form/cookie'>\
         <input name=name value=planted><input name=value value=K><input name=path value=/>\
         </form><a id=l href='{base}/flush_session/'>win a prize</a>",
        base = b.base
    );
    b.open(&hostile);
    b.script("document.getElementById('f').submit();");
    b.wait_for("the form refused", |b| {
        b.text("#result").is_some_and(|t| t.starts_with("Refused"))
    });
    b.open(&hostile);
    b.script("document.getElementById('l').click();");
    b.wait_for("the link refused", |b| {
        b.text("#result").is_some_and(|t| t.starts_with("Refused"))
    });
    assert_eq!(b.path(), "/flush_session/");
    assert!(b.cookie("planted").is_none(), "no cookie planted");
    assert_eq!(session_cookie_value(&b), key, "the session was not flushed");

    // The rest of the walkthrough.
    b.goto("/delete_session/");
    assert_eq!(b.result(), "Deleted test_id from the session.");
    b.goto("/delete_session/");
    assert_eq!(
        b.result(),
        "Nothing to delete: test_id is not in the session."
    );
    b.goto("/clear_session/");
    assert!(b.result().starts_with("Cleared"));
    assert_eq!(session_cookie_value(&b), key, "clear keeps the key");
    b.goto("/flush_session/");
    assert!(b.result().starts_with("Flushed"));
    assert!(b.cookie("sessionid").is_none(), "flush removes the cookie");
    b.goto("/set_session/");
    let before = session_cookie_value(&b);
    b.goto("/cycle_key/");
    assert!(b.result().starts_with("Key cycled"), "{}", b.result());
    let after = session_cookie_value(&b);
    assert_ne!(before, after, "a new key in the browser");
    b.goto("/set_session/");
    assert_eq!(
        b.text("#session-key").as_deref(),
        Some(after.as_str()),
        "the data moved with it"
    );
    b.goto("/set_expiry/?value=0");
    assert!(
        b.result().contains("ends when the browser closes"),
        "{}",
        b.result()
    );
    assert!(
        b.cookie("sessionid").unwrap().get("expiry").is_none(),
        "now a browser-session cookie"
    );
    b.goto("/set_expiry/?value=300");
    let expiry = b.cookie("sessionid").unwrap()["expiry"]
        .as_u64()
        .expect("an expiry");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        (now + 290..=now + 310).contains(&expiry),
        "expires in 300 s: {expiry} vs {now}"
    );
    b.goto("/api/session");
    let api: Value = serde_json::from_str(&b.text("body").unwrap()).unwrap();
    assert_eq!(api["key"], after.as_str());
    assert_eq!(api["data"]["test_id"], "TEST");

    drop(b);
    drop(server);
    let elapsed = started.elapsed();
    eprintln!("browser walkthrough took {elapsed:?}");
    assert!(elapsed < Duration::from_secs(60), "{elapsed:?}");
}

/// Submits the login form on `/login/` as a person would (the page's own token goes with it).
fn log_in(b: &Browser, name: &str, password: &str) {
    b.goto("/login/");
    b.script(&format!(
        "const f = document.getElementById('login-form');\
         f.elements['username'].value = {}; f.elements['password'].value = {}; f.submit();",
        json!(name),
        json!(password)
    ));
    b.wait_for("the sessions page", |b| {
        b.path() == "/sessions/" && b.text("#sessions").is_some()
    });
}

/// Adds `name` to the demo's `auth_user`, as `tessera user add` does (a cheap hash: Django
/// checks any iteration count).
fn add_user(store_url: &str, name: &str, password: &str) {
    use tessera::auth::password::{Algorithm, PasswordHasher};
    use tessera::auth::sql_users::{SqlUsers, SqlUsersConfig};
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let cheap = PasswordHasher {
            algorithm: Algorithm::Pbkdf2Sha256,
            iterations: 1000,
        };
        let users = SqlUsers::connect_with(store_url, SqlUsersConfig::default().hasher(cheap))
            .await
            .expect("the demo's database");
        // `tessera serve` created the table at start.
        assert!(!users.create_table_if_missing().await.unwrap());
        users.add_user(name, password).await.expect("add the user");
    });
}

#[test]
fn login_and_log_out_everywhere_else_in_chromium() {
    if !browser_available() {
        return;
    }
    let dir = TempDir::new("browser-login");
    let opts = ServerOptions::sqlite_in(dir.path());
    let server = Server::start(&opts);
    add_user(&opts.store, "alice", "wonderland");
    let base = format!("http://{}", server.addr);
    let first = Browser::start(&base, &dir.path().join("profile-1"));
    let second = Browser::start(&base, &dir.path().join("profile-2"));

    // Anonymous: the sessions page sends to the login page.
    first.goto("/sessions/");
    first.wait_for("the login page", |b| b.path() == "/login/");
    log_in(&first, "alice", "wonderland");
    assert_eq!(
        first.text("#messages").as_deref(),
        Some("Welcome, alice."),
        "the message, once"
    );
    let sessions = first.text("#sessions").unwrap();
    assert!(sessions.contains("(this browser)"), "{sessions}");
    first.goto("/sessions/");
    assert_eq!(first.text("#messages"), None, "read once");

    // A second browser logs in too: the first lists both.
    log_in(&second, "alice", "wonderland");
    first.goto("/sessions/");
    let rows = first.script("return document.querySelectorAll('form.revoke').length;");
    assert_eq!(rows, 2, "{}", first.text("#sessions").unwrap_or_default());

    // "Log out everywhere else" from the first: the second is logged out, the first is not.
    first.script("document.getElementById('others-form').submit();");
    first.wait_for("the message", |b| {
        b.text("#messages")
            .is_some_and(|m| m.contains("Logged out 1 other session."))
    });
    let rows = first.script("return document.querySelectorAll('form.revoke').length;");
    assert_eq!(rows, 1);
    second.goto("/sessions/");
    second.wait_for("the login page", |b| b.path() == "/login/");
    assert!(second.text("#login-form").is_some());
    first.goto("/sessions/");
    assert_eq!(first.path(), "/sessions/", "the first stays logged in");
    let shot = artifacts_dir().join("sessions.png");
    std::fs::write(&shot, first.screenshot()).expect("save screenshot");

    // Log out with the button.
    first.script("document.getElementById('logout-form').submit();");
    first.wait_for("the login form", |b| b.text("#login-form").is_some());
    assert!(first
        .text("#messages")
        .is_some_and(|m| m.contains("logged out")));
    drop(first);
    drop(second);
    drop(server);
}
