//! Every record of `auth_session_hash.json`, made by the real Django 6.1.3: the session auth
//! hash under the secret key and each fallback, and PBKDF2 password hashes made and checked
//! (`make_password`, `check_password` and whether Django would upgrade the hash).

use crate::common;

use common::vectors::{records_py, secret_keys, Failures};
use tessera::auth::password::{self, Algorithm, PasswordHasher};
use tessera::auth::session_hash;
use tessera::json::Value;

const FILE: &str = "auth_session_hash.json";

fn text<'a>(r: &'a Value, key: &str) -> Option<&'a str> {
    r[key].as_str()
}

fn algorithm(r: &Value) -> Algorithm {
    match text(r, "algorithm") {
        Some("pbkdf2_sha1") => Algorithm::Pbkdf2Sha1,
        _ => Algorithm::Pbkdf2Sha256,
    }
}

/// What an `expected` says: the result, or Django's error class.
fn outcome<T>(r: Result<T, password::PasswordError>, ok: impl Fn(T) -> Value) -> Value {
    match r {
        Ok(v) => ok(v),
        Err(_) => Value::Str("ValueError".into()),
    }
}

fn expected(r: &Value, result_keys: &[&str]) -> Value {
    let e = &r["expected"];
    if let Some(error) = e["error"].as_str() {
        return Value::Str(error.to_owned());
    }
    if result_keys.len() == 1 {
        return e[result_keys[0]].clone();
    }
    Value::List(result_keys.iter().map(|k| e[*k].clone()).collect())
}

#[test]
fn every_record_matches_django() {
    let records = records_py(FILE);
    let mut fails = Failures::default();
    let preferred = PasswordHasher::default();
    for r in &records {
        let id = text(r, "id").unwrap();
        let password = text(r, "password").unwrap_or("");
        match text(r, "op").unwrap() {
            "session_auth_hash" => {
                let keys = secret_keys(&r["settings"]);
                let got = session_hash::session_auth_hash(keys.current().as_bytes(), password);
                fails.check(id, Value::Str(got.clone()), expected(r, &["result"]));
                // And it verifies against the current key.
                fails.check(
                    &format!("{id} verify"),
                    session_hash::verify(&keys, password, &got),
                    Some(session_hash::Matched::Current),
                );
            }
            "session_auth_fallback_hashes" => {
                let keys = secret_keys(&r["settings"]);
                let got = session_hash::fallback_hashes(&keys, password);
                let want = expected(r, &["result"]);
                fails.check(
                    id,
                    Value::List(got.iter().cloned().map(Value::Str).collect()),
                    want,
                );
                // A hash made under a fallback verifies as the first key equal to it: the
                // current key, else the first fallback with the same bytes.
                for (i, hash) in got.iter().enumerate() {
                    let this = keys.fallbacks()[i].as_bytes();
                    let want = if keys.current().as_bytes() == this {
                        session_hash::Matched::Current
                    } else {
                        let first = keys.fallbacks().iter().position(|k| k.as_bytes() == this);
                        session_hash::Matched::Fallback(first.unwrap_or(i))
                    };
                    let matched = session_hash::verify(&keys, password, hash);
                    fails.check(&format!("{id} verify {i}"), matched, Some(want));
                }
                // Under a key that is neither, it does not verify.
                let other = session_hash::session_auth_hash(b"not one of the keys", password);
                fails.check(
                    &format!("{id} other key"),
                    session_hash::verify(&keys, password, &other),
                    None,
                );
            }
            "password_hash" => {
                let got = match text(r, "raw") {
                    // `make_password(None)`: random, so only its form can be checked.
                    None => {
                        let unusable = password::make_unusable_password().unwrap();
                        let want = expected(r, &["result"]);
                        let want = want.as_str().unwrap_or("");
                        fails.check(
                            id,
                            (unusable.len(), unusable.starts_with('!')),
                            (want.len(), want.starts_with('!')),
                        );
                        continue;
                    }
                    Some(raw) => outcome(
                        password::make_password(
                            raw,
                            text(r, "salt").unwrap_or(""),
                            algorithm(r),
                            r["iterations"].as_i64().map(|n| n as u32),
                        ),
                        Value::Str,
                    ),
                };
                fails.check(id, got, expected(r, &["result"]));
            }
            "password_check" => {
                let got = outcome(
                    password::check_password(
                        text(r, "raw"),
                        text(r, "encoded").unwrap_or(""),
                        &preferred,
                    ),
                    |c| Value::List(vec![Value::Bool(c.correct), Value::Bool(c.would_upgrade)]),
                );
                fails.check(id, got, expected(r, &["result", "would_upgrade"]));
            }
            other => panic!("{id}: unknown op {other}"),
        }
    }
    fails.assert_none(FILE, records.len());
}

/// A fresh hash from the default hasher checks, with a 22-character salt, and is not upgraded.
#[test]
fn a_new_hash_checks_and_needs_no_upgrade() {
    let hasher = PasswordHasher {
        iterations: 1000,
        ..PasswordHasher::default()
    };
    let encoded = hasher.hash("p4ss").unwrap();
    let fields: Vec<&str> = encoded.split('$').collect();
    assert_eq!(fields[..2], ["pbkdf2_sha256", "1000"]);
    assert_eq!(fields[2].len(), 22);
    let check = password::check_password(Some("p4ss"), &encoded, &hasher).unwrap();
    assert!(check.correct && !check.would_upgrade, "{check:?}");
    assert!(
        !password::check_password(Some("p4sS"), &encoded, &hasher)
            .unwrap()
            .correct
    );
}
