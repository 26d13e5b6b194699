//! The demo's login, sessions page and account API over real requests through the demo router,
//! on a SQLite store whose database holds Django's `auth_user` (`SqlUsers`).

use crate::common;

use common::http::{send_with, Reply};

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use common::serve::TempDir;
use http::StatusCode;
use serde_json::{json, Value};
use tessera::auth::password::{Algorithm, PasswordHasher};
use tessera::auth::sql_users::{SqlUsers, SqlUsersConfig};
use tessera::signing::SecretKeys;
use tessera::url::open;
use tessera::SessionConfig;

impl Reply {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .map_or("", |v| v.to_str().unwrap())
    }
    fn has_cors_headers(&self) -> bool {
        self.headers
            .keys()
            .any(|k| k.as_str().starts_with("access-control-allow"))
    }
    /// The value of the first hidden `csrfmiddlewaretoken` field.
    fn form_token(&self) -> String {
        let at = self
            .body
            .find("name=\"csrfmiddlewaretoken\" value=\"")
            .unwrap_or_else(|| panic!("no token field: {}", self.body));
        let rest = &self.body[at + 34..];
        rest[..rest.find('"').unwrap()].to_owned()
    }
}

/// A browser (or a script) with its own cookie jar.
#[derive(Default)]
struct Client {
    jar: BTreeMap<String, String>,
}

impl Client {
    async fn send(
        &mut self,
        app: &Router,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Reply {
        let cookie: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let cookie = cookie.join("; ");
        let mut all: Vec<(&str, &str)> = headers.to_vec();
        if !self.jar.is_empty() {
            all.push(("cookie", &cookie));
        }
        let reply = send_with(app, method, uri, &all, body).await;
        for set in reply.headers.get_all("set-cookie") {
            let set = set.to_str().unwrap();
            let pair = set.split(';').next().unwrap();
            let (name, value) = pair.split_once('=').unwrap();
            if set.contains("expires=Thu, 01 Jan 1970") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
        reply
    }

    async fn get(&mut self, app: &Router, uri: &str) -> Reply {
        self.send(app, "GET", uri, &[], "").await
    }

    /// A JSON call, as a script makes it.
    async fn api(&mut self, app: &Router, method: &str, uri: &str, body: Value) -> Reply {
        let headers = [("content-type", "application/json")];
        self.send(app, method, uri, &headers, &body.to_string())
            .await
    }

    /// A form post from the demo's own page.
    async fn form(&mut self, app: &Router, uri: &str, body: &str) -> Reply {
        let headers = [("content-type", "application/x-www-form-urlencoded")];
        self.send(app, "POST", uri, &headers, body).await
    }

    /// Opens `page` and posts its form with the token it carries.
    async fn submit(&mut self, app: &Router, page: &str, uri: &str, fields: &str) -> Reply {
        let token = self.get(app, page).await.form_token();
        self.form(app, uri, &format!("{fields}&csrfmiddlewaretoken={token}"))
            .await
    }
}

/// The demo on a fresh SQLite store, with user `alice` (password `wonderland`) in `auth_user`
/// beside the sessions; her id.
async fn demo() -> (Router, String, TempDir) {
    let dir = TempDir::new("demo-auth");
    let url = format!("sqlite://{}", dir.path().join("db.sqlite3").display());
    let keys = SecretKeys::new("demo-auth-secret");
    let sessions = open(&url, &keys).await.unwrap();
    sessions.migrate().await.unwrap();
    // Django checks a hash of any iteration count: a cheap one keeps the test fast.
    let cheap = PasswordHasher {
        algorithm: Algorithm::Pbkdf2Sha256,
        iterations: 1000,
    };
    let users = SqlUsers::connect_with(&url, SqlUsersConfig::default().hasher(cheap))
        .await
        .unwrap();
    assert!(users.create_table_if_missing().await.unwrap());
    let alice = users.add_user("alice", "wonderland").await.unwrap();
    let app = tessera_cli::demo::router_with_users(
        &sessions,
        &keys,
        SessionConfig::default(),
        Arc::new(users),
    )
    .unwrap();
    (app, alice.id, dir)
}

fn login_body(password: &str) -> Value {
    json!({"username": "alice", "password": password})
}

#[tokio::test]
async fn api_login_user_sessions_and_revoke() {
    let (app, id, _dir) = demo().await;
    let mut first = Client::default();
    let r = first
        .api(&app, "POST", "/api/login", login_body("wrong"))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);
    assert!(r.json()["error"].is_string());
    assert_eq!(
        first.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );
    let r = first.get(&app, "/api/sessions").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.body);

    let r = first
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), json!({"id": id}));
    assert_eq!(first.get(&app, "/api/user").await.json(), json!({"id": id}));

    let mut second = Client::default();
    let r = second
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let listed = first.get(&app, "/api/sessions").await.json();
    let sessions = listed["sessions"].as_array().unwrap().clone();
    assert_eq!(sessions.len(), 2, "{listed}");
    let current: Vec<_> = sessions.iter().filter(|s| s["current"] == true).collect();
    assert_eq!(current.len(), 1, "{listed}");
    let first_key = first.jar["sessionid"].clone();
    let shown = current[0]["id"].as_str().unwrap();
    assert_eq!(shown, format!("{}…", &first_key[..4]), "shown short");
    assert!(!listed.to_string().contains(&first_key), "never in full");

    // Log out everywhere else: the other browser is anonymous at its next request.
    let r = first
        .api(
            &app,
            "POST",
            "/api/sessions/revoke",
            json!({"others": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json()["revoked"], 1);
    let left = first.get(&app, "/api/sessions").await.json();
    assert_eq!(left["sessions"].as_array().unwrap().len(), 1, "{left}");
    assert_eq!(
        second.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );
    assert_eq!(first.get(&app, "/api/user").await.json(), json!({"id": id}));

    // One by its short id, then all.
    second
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    let second_short = format!("{}…", &second.jar["sessionid"][..4]);
    let r = first
        .api(
            &app,
            "POST",
            "/api/sessions/revoke",
            json!({"id": second_short}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.json(), json!({"revoked": 1, "logged_out": false}));
    assert_eq!(
        second.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );
    let r = first
        .api(&app, "POST", "/api/sessions/revoke", json!({"id": "zzzz…"}))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = first
        .api(
            &app,
            "POST",
            "/api/sessions/revoke",
            json!({"others": true, "all": true}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);

    second
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    let r = first
        .api(&app, "POST", "/api/sessions/revoke", json!({"all": true}))
        .await;
    assert_eq!(
        r.json(),
        json!({"revoked": 2, "logged_out": true}),
        "{}",
        r.body
    );
    assert!(
        !first.jar.contains_key("sessionid"),
        "this browser's cookie deleted"
    );
    assert_eq!(
        first.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );
    assert_eq!(
        second.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );

    // Log out.
    first
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    let r = first.api(&app, "POST", "/api/logout", json!({})).await;
    assert_eq!(r.json(), json!({"id": null}));
    assert_eq!(
        first.get(&app, "/api/user").await.json(),
        json!({"id": null})
    );
}

#[tokio::test]
async fn the_api_refuses_forms_and_preflights() {
    let (app, _, _dir) = demo().await;
    let mut visitor = Client::default();
    // What a form on another site can send: no preflight needed, so it must be refused.
    for content_type in [
        "application/x-www-form-urlencoded",
        "text/plain",
        "multipart/form-data; boundary=x",
    ] {
        let r = visitor
            .send(
                &app,
                "POST",
                "/api/login",
                &[("content-type", content_type)],
                "username=alice&password=wonderland",
            )
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .contains("application/json"));
        assert!(visitor.jar.is_empty(), "{content_type}: nothing set");
    }
    // The preflight a page's fetch with a JSON body needs first: refused, and nothing allows it.
    let r = visitor
        .send(
            &app,
            "OPTIONS",
            "/api/login",
            &[
                ("origin", "https://evil.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            "",
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(!r.has_cors_headers(), "{:?}", r.headers);
    assert!(r.json()["error"].is_string());
    // A script needs no token.
    let r = visitor
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_login_form_needs_the_token_and_says_welcome_once() {
    let (app, id, _dir) = demo().await;
    let mut browser = Client::default();
    assert_eq!(browser.get(&app, "/sessions/").await.location(), "/login/");
    let page = browser.get(&app, "/login/").await;
    assert!(page.body.contains("id=\"login-form\""), "{}", page.body);
    let r = browser
        .form(&app, "/login/", "username=alice&password=wonderland")
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "no token: {}", r.body);
    assert!(r.body.contains("CSRF token missing"), "{}", r.body);
    assert!(!browser.jar.contains_key("sessionid"));

    let r = browser
        .submit(&app, "/login/", "/login/", "username=alice&password=nope")
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body.contains("Wrong username or password"), "{}", r.body);
    assert!(r.body.contains("value=\"alice\""), "the name is kept");

    let r = browser
        .submit(
            &app,
            "/login/",
            "/login/",
            "username=alice&password=wonderland",
        )
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert_eq!(r.location(), "/sessions/");
    let page = browser.get(&app, "/sessions/").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.body.matches("Welcome, alice.").count(), 1);
    assert!(page
        .body
        .contains(&format!("<code id=\"user-id\">{id}</code>")));
    assert!(page.body.contains("(this browser)"));
    let again = browser.get(&app, "/sessions/").await;
    assert!(!again.body.contains("Welcome, alice."), "shown once");

    // A name with markup is escaped wherever it is shown.
    let r = browser.submit(&app, "/login/", "/logout/", "x=1").await;
    assert_eq!(r.location(), "/login/");
    let r = browser
        .submit(
            &app,
            "/login/",
            "/login/",
            "username=%3Cscript%3E&password=x",
        )
        .await;
    assert!(!r.body.contains("<script>"), "{}", r.body);
    assert!(r.body.contains("&lt;script&gt;"));
}

#[tokio::test]
async fn the_revoke_forms_end_other_browsers() {
    let (app, _, _dir) = demo().await;
    let login = "username=alice&password=wonderland";
    let mut first = Client::default();
    let mut second = Client::default();
    let mut third = Client::default();
    for browser in [&mut first, &mut second, &mut third] {
        let r = browser.submit(&app, "/login/", "/login/", login).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    }
    let page = first.get(&app, "/sessions/").await;
    assert_eq!(page.body.matches("class=\"inline revoke\"").count(), 3);
    // Without the token, nothing ends.
    let second_short = format!("{}…", &second.jar["sessionid"][..4]);
    let r = first
        .form(&app, "/sessions/revoke", &format!("id={second_short}"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(second.get(&app, "/sessions/").await.status == StatusCode::OK);

    let r = first
        .submit(
            &app,
            "/sessions/",
            "/sessions/revoke",
            &format!("id={}", second_short.replace('…', "%E2%80%A6")),
        )
        .await;
    assert_eq!(r.location(), "/sessions/", "{}", r.body);
    assert_eq!(second.get(&app, "/sessions/").await.location(), "/login/");
    let page = first.get(&app, "/sessions/").await;
    assert!(page.body.contains("That session ended"), "{}", page.body);
    assert_eq!(page.body.matches("class=\"inline revoke\"").count(), 2);

    let r = first
        .submit(&app, "/sessions/", "/sessions/revoke", "others=1")
        .await;
    assert_eq!(r.location(), "/sessions/");
    assert_eq!(third.get(&app, "/sessions/").await.location(), "/login/");
    let page = first.get(&app, "/sessions/").await;
    assert!(
        page.body.contains("Logged out 1 other session."),
        "{}",
        page.body
    );
    assert_eq!(page.body.matches("class=\"inline revoke\"").count(), 1);
}

#[tokio::test]
async fn without_a_sql_store_the_login_page_says_why() {
    let keys = SecretKeys::new("demo-auth-secret");
    let sessions = open("memory://", &keys).await.unwrap();
    let app = tessera_cli::demo::router(&sessions, &keys, SessionConfig::default()).unwrap();
    let mut browser = Client::default();
    let page = browser.get(&app, "/login/").await;
    assert!(
        page.body.contains("Login needs a SQL session store"),
        "{}",
        page.body
    );
    let r = browser
        .api(&app, "POST", "/api/login", login_body("wonderland"))
        .await;
    assert_eq!(r.status, StatusCode::NOT_IMPLEMENTED, "{}", r.body);
    assert!(r.json()["error"].as_str().unwrap().contains("SQL"));
    // The rest of the demo is as before.
    assert_eq!(
        browser.get(&app, "/set_session/").await.status,
        StatusCode::OK
    );
}
