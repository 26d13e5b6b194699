//! `tessera serve` as a real process: the key file, store URLs, settings from the environment,
//! bursts of connections, the request log, and a clean stop on Ctrl-C.

use crate::common;

use std::os::unix::fs::PermissionsExt as _;
use std::sync::{Arc, Barrier};

use common::serve::{free_port, http, Server, ServerOptions, TempDir};

/// The type `PATCH /api/session` requires.
const JSON: (&str, &str) = ("Content-Type", "application/json");

#[test]
fn key_file_is_made_once_0600_and_sessions_survive_a_restart() {
    let dir = TempDir::new("serve-key");
    let opts = ServerOptions::sqlite_in(dir.path());
    let mut server = Server::start(&opts);
    let key_file = dir.path().join("tessera-secret-key");
    let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "the key file is private");
    let key = std::fs::read_to_string(&key_file).unwrap();
    assert_eq!(key.trim_end().len(), 50);
    assert!(server.log_text().contains(&format!(
        "generated a secret key and saved it to {}",
        key_file.display()
    )));
    assert!(
        !server.log_text().contains(key.trim_end()),
        "the key is never logged"
    );

    let r = server.request("PATCH", "/api/session", &[JSON], r#"{"user": "ada"}"#);
    let cookie = r.cookie("sessionid").expect("a session");
    let salt = server.request("GET", "/check_salt_cookie/", &[], "");
    let salt = salt.cookie("salt_cookie").unwrap();
    let status = server.stop().expect("stops on Ctrl-C");
    assert!(status.success(), "{status:?}\n{}", server.log_text());
    assert!(server.log_text().contains("stopped"));
    assert_eq!(
        std::fs::read_to_string(&server.out).unwrap(),
        "",
        "nothing on stdout"
    );

    let again = Server::start(&opts);
    assert_eq!(
        std::fs::read_to_string(&key_file).unwrap(),
        key,
        "the key is reused"
    );
    assert!(
        !again.log_text().contains("generated"),
        "{}",
        again.log_text()
    );
    let r = again.request("GET", "/api/session", &[("Cookie", &cookie)], "");
    assert_eq!(
        r.json()["data"]["user"],
        "ada",
        "the session survived the restart"
    );
    let r = again.request("GET", "/check_salt_cookie/", &[("Cookie", &salt)], "");
    assert!(r.body.contains("salt_cookie = hello salt"), "{}", r.body);
}

#[test]
fn relative_and_absolute_sqlite_urls() {
    let dir = TempDir::new("serve-urls");
    let mut opts = ServerOptions::sqlite_in(dir.path());
    opts.store = "sqlite://rel/dir/db.sqlite3".to_owned();
    let server = Server::start(&opts);
    assert_eq!(server.request("GET", "/", &[], "").status, 200);
    assert!(
        dir.path().join("rel/dir/db.sqlite3").is_file(),
        "relative to the working dir"
    );
    assert!(
        dir.path().join("rel/dir/tessera-secret-key").is_file(),
        "beside the database"
    );
    drop(server);

    // Absolute: wherever the server runs from.
    let abs = dir.path().join("abs").join("sessions.sqlite3");
    assert!(abs.is_absolute());
    let elsewhere = dir.path().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let mut opts = ServerOptions::sqlite_in(&elsewhere);
    opts.store = format!("sqlite://{}", abs.display());
    let server = Server::start(&opts);
    let r = server.request("PATCH", "/api/session", &[JSON], "{\"x\": 1}");
    assert_eq!(r.status, 200);
    assert!(abs.is_file());
    assert!(dir.path().join("abs/tessera-secret-key").is_file());
}

#[test]
fn keys_and_settings_from_the_environment() {
    let dir = TempDir::new("serve-env");
    let mut opts = ServerOptions::sqlite_in(dir.path());
    opts.env = vec![
        ("TESSERA_SECRET_KEY", "old-key".to_owned()),
        ("TESSERA_SESSION_COOKIE_NAME", "sid".to_owned()),
        ("TESSERA_SESSION_COOKIE_AGE", "60".to_owned()),
    ];
    let server = Server::start(&opts);
    assert!(
        !dir.path().join("tessera-secret-key").exists(),
        "no key file with a key given"
    );
    let r = server.request("GET", "/set_session/", &[], "");
    let sid = r.set_cookies()[0].to_owned();
    assert!(
        sid.starts_with("sid=") && sid.contains("Max-Age=60"),
        "{sid}"
    );
    let salt = server
        .request("GET", "/check_salt_cookie/", &[], "")
        .cookie("salt_cookie")
        .unwrap();
    drop(server);

    // Rotated: the new key signs, the old one still verifies.
    opts.port = free_port();
    opts.env = vec![
        ("TESSERA_SECRET_KEY", "new-key".to_owned()),
        (
            "TESSERA_SECRET_KEY_FALLBACKS",
            " other , old-key".to_owned(),
        ),
    ];
    let server = Server::start(&opts);
    let r = server.request("GET", "/check_salt_cookie/", &[("Cookie", &salt)], "");
    assert!(r.body.contains("salt_cookie = hello salt"), "{}", r.body);
    drop(server);

    // Without the fallback, the old signature no longer verifies: reported, not a 500.
    opts.port = free_port();
    opts.env = vec![];
    opts.args = vec!["--secret-key".to_owned(), "new-key".to_owned()];
    let server = Server::start(&opts);
    let r = server.request("GET", "/check_salt_cookie/", &[("Cookie", &salt)], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("did not verify"), "{}", r.body);
    drop(server);

    opts.port = free_port();
    opts.env = vec![("TESSERA_SESSION_COOKIE_AGE", "soon".to_owned())];
    let Err((status, log)) = Server::try_start(&opts) else {
        panic!("a bad setting must stop the server");
    };
    assert_eq!(status.and_then(|s| s.code()), Some(64), "{log}");
    assert!(
        log.contains("ImproperlyConfigured") && log.contains("TESSERA_SESSION_COOKIE_AGE"),
        "{log}"
    );

    // Settings no browser could use stop the server, one clear error each (a cookie name
    // with a space started, then answered every save with 503; the others went into every
    // Set-Cookie as written).
    for (name, value) in [
        ("TESSERA_SESSION_COOKIE_NAME", "my session"),
        ("TESSERA_SESSION_COOKIE_NAME", ""),
        ("TESSERA_SESSION_COOKIE_DOMAIN", "ex.com; Secure"),
        ("TESSERA_SESSION_COOKIE_PATH", "/;x"),
        ("TESSERA_SESSION_COOKIE_AGE", "9223372036854775807"),
        ("TESSERA_SESSION_COOKIE_SAMESITE", "None"),
    ] {
        opts.port = free_port();
        opts.env = vec![(name, value.to_owned())];
        let Err((status, log)) = Server::try_start(&opts) else {
            panic!("{name}={value:?} must stop the server");
        };
        assert_eq!(status.and_then(|s| s.code()), Some(64), "{name}: {log}");
        assert!(log.contains("ImproperlyConfigured"), "{name}: {log}");
    }
}

#[test]
fn a_hundred_concurrent_connections_all_succeed() {
    let dir = TempDir::new("serve-burst");
    let server = Server::start(&ServerOptions::sqlite_in(dir.path()));
    let barrier = Arc::new(Barrier::new(100));
    let threads: Vec<_> = (0..100)
        .map(|i| {
            let (addr, barrier) = (server.addr.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let r = http(
                    &addr,
                    "PATCH",
                    "/api/session",
                    &[JSON],
                    &format!("{{\"n\": {i}}}"),
                );
                assert_eq!(r.status, 200, "{i}: {}", r.body);
                r.cookie("sessionid").expect("a session")
            })
        })
        .collect();
    let mut cookies: Vec<String> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    cookies.sort();
    cookies.dedup();
    assert_eq!(cookies.len(), 100, "a hundred distinct sessions");
}

#[test]
fn the_log_has_one_line_per_request_and_never_a_session_key() {
    let dir = TempDir::new("serve-log");
    let mut server = Server::start(&ServerOptions::sqlite_in(dir.path()));
    let first = server.request("GET", "/set_session/", &[], "");
    let cookie = first.cookie("sessionid").unwrap();
    let page = server.request("GET", "/set_session/", &[("Cookie", &cookie)], "");
    let key = cookie.strip_prefix("sessionid=").unwrap().to_owned();
    assert!(page.body.contains(&key), "the page itself shows the key");
    server.request(
        "GET",
        "/set_expiry/?value=300&secret=hunter2",
        &[("Cookie", &cookie)],
        "",
    );
    let cycled = server.request("GET", "/cycle_key/", &[("Cookie", &cookie)], "");
    let new_key = cycled.cookie("sessionid").unwrap();
    server.request("PATCH", "/api/session", &[("Cookie", &new_key), JSON], "[]");
    server.stop();

    let log = server.log_text();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" INFO GET ") || l.contains(" INFO PATCH "))
        .collect();
    assert_eq!(lines.len(), 5, "{log}");
    assert!(
        lines[0].contains("GET /set_session/ 200 ") && lines[0].ends_with("ms"),
        "{log}"
    );
    assert!(
        lines[2].contains("GET /set_expiry/ 200 "),
        "no query string: {log}"
    );
    assert!(lines[4].contains("PATCH /api/session 400 "), "{log}");
    assert!(
        !log.contains("hunter2") && !log.contains("value=300"),
        "{log}"
    );
    let new_key = new_key.strip_prefix("sessionid=").unwrap();
    for k in [key.as_str(), new_key] {
        assert!(!log.contains(k), "a session key in the log:\n{log}");
    }
}

#[test]
fn a_secret_key_file_gives_the_key_the_option_gives() {
    let dir = TempDir::new("serve-key-file");
    let key_file = dir.path().join("my-key");
    std::fs::write(&key_file, "file-key\n").unwrap();
    let mut opts = ServerOptions::sqlite_in(dir.path());
    opts.args = vec![
        "--secret-key-file".to_owned(),
        key_file.display().to_string(),
    ];
    let server = Server::start(&opts);
    let salt = server
        .request("GET", "/check_salt_cookie/", &[], "")
        .cookie("salt_cookie")
        .unwrap();
    assert!(!server.log_text().contains("file-key"), "never logged");
    drop(server);
    assert!(
        !dir.path().join("tessera-secret-key").exists(),
        "no key generated"
    );

    opts.port = free_port();
    opts.args = vec!["--secret-key".to_owned(), "file-key".to_owned()];
    let server = Server::start(&opts);
    let r = server.request("GET", "/check_salt_cookie/", &[("Cookie", &salt)], "");
    assert!(r.body.contains("salt_cookie = hello salt"), "{}", r.body);
    drop(server);

    // The harness's standard input is empty: no key there, and the server does not start.
    for (args, why) in [
        (
            vec!["--secret-key-file", "-"],
            "standard input holds no secret key",
        ),
        (
            vec!["--secret-key-file", "my-key", "--secret-key", "k"],
            "cannot be used with",
        ),
    ] {
        opts.port = free_port();
        opts.args = args.into_iter().map(str::to_owned).collect();
        let Err((status, log)) = Server::try_start(&opts) else {
            panic!("{:?} must not start", opts.args);
        };
        assert_eq!(status.and_then(|s| s.code()), Some(64), "{log}");
        assert!(log.contains(why), "{log}");
    }
}

/// `TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK=true`: a cookie signed as Django 5.2.14 signs it
/// verifies on the demo (it was reported as tampered and deleted); a bad value is refused.
#[test]
fn the_legacy_salt_fallback_comes_from_the_environment() {
    use tessera::cookie::CookieSigner;
    use tessera::signing::SecretKeys;
    let dir = TempDir::new("serve-legacy");
    let mut opts = ServerOptions::sqlite_in(dir.path());
    opts.env = vec![
        ("TESSERA_SECRET_KEY", "legacy-key".to_owned()),
        (
            "TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK",
            "true".to_owned(),
        ),
    ];
    let legacy = CookieSigner::new(&SecretKeys::new("legacy-key")).write_legacy_salt(true);
    let cookie = format!(
        "salt_cookie=\"{}\"",
        legacy.sign("salt_cookie", "hello salt", "nice")
    );
    let server = Server::start(&opts);
    let r = server.request("GET", "/check_salt_cookie/", &[("Cookie", &cookie)], "");
    assert!(r.body.contains("salt_cookie = hello salt"), "{}", r.body);
    drop(server);
    opts.port = free_port();
    opts.env = vec![(
        "TESSERA_SIGNED_COOKIE_LEGACY_SALT_FALLBACK",
        "maybe".to_owned(),
    )];
    let Err((status, log)) = Server::try_start(&opts) else {
        panic!("a bad flag must stop the server");
    };
    assert_eq!(status.and_then(|s| s.code()), Some(64), "{log}");
}
