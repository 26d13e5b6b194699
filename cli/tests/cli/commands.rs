//! The `tessera` binary against the Django vectors and the CLI contract: results on stdout
//! with one newline, `Kind: message` on stderr, and exit statuses 0 / 1 BadSignature /
//! 2 SignatureExpired / 3 missing cookie / 64 usage / 65 any other error.
//!
//! Each record costs one process, so files are run whole only where they are small; elsewhere
//! a sample keeps the first records of every op / case / error kind / option combination.

use crate::common;

use std::collections::{HashMap, HashSet};
use std::ffi::OsString;
use std::process::Command;

use common::vectors::{hex, records_py, to_hex, Failures};
use tessera::json::{self, Value};

const KEY_ENV: &str = "TESSERA_SECRET_KEY";

/// What one run of the binary produced.
#[derive(Debug)]
struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Runs `tessera args…` with `TESSERA_SECRET_KEY` set to `env_key` (or unset).
fn tessera<I, S>(args: I, env_key: Option<&str>) -> Output
where
    I: IntoIterator<Item = S>,
    S: Into<OsString>,
{
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tessera"));
    cmd.args(args.into_iter().map(Into::into))
        .env_remove(KEY_ENV);
    if let Some(key) = env_key {
        cmd.env(KEY_ENV, key);
    }
    let out = cmd.output().expect("the tessera binary runs");
    Output {
        // A signal (a panic aborting, say) has no code: never equal to an expected one.
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// What a record expects from the CLI.
enum Want {
    /// Exit 0 with exactly this on stdout (plus one newline).
    Stdout(String),
    /// This exit status, nothing on stdout, and stderr starting with `kind:`.
    Error(i32, String),
}

impl Output {
    /// Compares with what is wanted; `warnings_ok` allows `warning:` lines on success.
    fn check(&self, failures: &mut Failures, id: &str, want: &Want, warnings_ok: bool) {
        match want {
            Want::Stdout(text) => {
                let expected = format!("{text}\n");
                let stderr_ok = self.stderr.is_empty()
                    || (warnings_ok && self.stderr.lines().all(|l| l.starts_with("warning: ")));
                if self.code != 0 || self.stdout != expected || !stderr_ok {
                    failures.push(id, format!("want {expected:?} exit 0, got {self:?}"));
                }
            }
            Want::Error(code, kind) => {
                let first = self.stderr.lines().next().unwrap_or_default();
                if self.code != *code
                    || !self.stdout.is_empty()
                    || !first.starts_with(&format!("{kind}: "))
                {
                    failures.push(id, format!("want {kind} exit {code}, got {self:?}"));
                }
            }
        }
    }
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:?}"))
}

fn id(r: &Value) -> &str {
    text(r, "id")
}

fn is_null(v: &Value) -> bool {
    matches!(v, Value::Null)
}

/// A number as a command-line value: ints as ints, floats in shortest round-trip form.
fn number(v: &Value) -> String {
    match v {
        Value::Int(i) => i.to_string(),
        Value::Float(f) => format!("{f}"),
        Value::Dict(_) => number(&v["$timedelta_seconds"]),
        other => panic!("not a number: {other:?}"),
    }
}

/// `--key=…` / `--key-hex=…` for a key given as text or `$bytes_hex`.
fn key_arg(flag: &str, key: &Value) -> String {
    match key {
        Value::Str(s) => format!("--{flag}={s}"),
        Value::Dict(_) => format!("--{flag}-hex={}", text(key, "$bytes_hex")),
        other => panic!("not a key: {other:?}"),
    }
}

/// Key options for Django's `key=…, fallback_keys=…` (a null key is `SECRET_KEY`, taken from
/// the environment; null fallbacks are `SECRET_KEY_FALLBACKS`). Fallbacks are given only to
/// commands that verify.
fn key_args(key: &Value, fallbacks: Option<&Value>, settings: &Value, verify: bool) -> Vec<String> {
    let mut args = Vec::new();
    if !is_null(key) {
        args.push(key_arg("key", key));
    }
    if !verify {
        return args;
    }
    let fallbacks = match fallbacks {
        Some(f) if !is_null(f) => f,
        _ => &settings["SECRET_KEY_FALLBACKS"],
    };
    if let Value::List(list) = fallbacks {
        args.extend(list.iter().map(|k| key_arg("fallback-key", k)));
    }
    args
}

fn secret_key(r: &Value) -> Option<&str> {
    r["settings"]["SECRET_KEY"].as_str()
}

/// The Django exception of an error outcome, if it is one.
fn error_of(expected: &Value) -> Option<&str> {
    expected["error"].as_str()
}

/// The CLI's kind and status for a Django exception raised after the signer was built.
fn want_error(django: &str) -> Want {
    match django {
        "BadSignature" => Want::Error(1, django.to_owned()),
        "SignatureExpired" => Want::Error(2, django.to_owned()),
        "KeyError" => Want::Error(3, "Missing".to_owned()),
        other => Want::Error(65, other.to_owned()),
    }
}

/// Expected values with `$python_repr` floats made real; `None` for reprs JSON text cannot
/// carry (lone surrogates).
fn expected_value(v: &Value) -> Option<Value> {
    Some(match v {
        Value::Dict(d) if d.contains_key("$python_repr") => match text(v, "$python_repr") {
            "nan" => Value::Float(f64::NAN),
            "inf" => Value::Float(f64::INFINITY),
            "-inf" => Value::Float(f64::NEG_INFINITY),
            _ => return None,
        },
        Value::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, v)| Some((k.clone(), expected_value(v)?)))
                .collect::<Option<_>>()?,
        ),
        Value::List(l) => Value::List(l.iter().map(expected_value).collect::<Option<_>>()?),
        other => other.clone(),
    })
}

/// The first `per_key` records of every distinct `key`.
fn sample(records: &[Value], per_key: usize, key: impl Fn(&Value) -> String) -> Vec<&Value> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    records
        .iter()
        .filter(|r| {
            let n = seen.entry(key(r)).or_default();
            *n += 1;
            *n <= per_key
        })
        .collect()
}

/// A compact description of a value's shape, for sampling keys.
fn shape(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Str(s) if s.is_empty() => "empty",
        Value::Str(_) => "str",
        Value::Dict(_) => "dict",
        Value::List(l) if l.is_empty() => "[]",
        Value::List(_) => "list",
        Value::Int(_) => "int",
        Value::Float(_) => "float",
        _ => "other",
    }
}

fn op(r: &Value) -> &str {
    text(r, "op")
}

// ---------------------------------------------------------------------------------------------
// signing
// ---------------------------------------------------------------------------------------------

/// `signing sign|unsign` arguments for a `signer` spec.
fn signer_args(command: &str, r: &Value) -> Vec<String> {
    let s = &r["signer"];
    let mut args = vec!["signing".to_owned(), command.to_owned()];
    args.extend(key_args(
        &s["key"],
        Some(&s["fallback_keys"]),
        &r["settings"],
        command == "unsign",
    ));
    if !is_null(&s["salt"]) {
        args.push(format!("--salt={}", text(s, "salt")));
    }
    args.push(format!("--sep={}", text(s, "sep")));
    if !is_null(&s["algorithm"]) {
        args.push(format!("--algorithm={}", text(s, "algorithm")));
    }
    if text(s, "class") == "TimestampSigner" {
        args.push("--timestamp".to_owned());
    }
    if !is_null(&r["now"]) {
        args.push(format!("--now={}", number(&r["now"])));
    }
    args
}

/// Runs a `sign`/`unsign` record of signer.json, timestamp_signer.json or tampered.json.
fn run_sign_unsign(r: &Value, failures: &mut Failures) {
    let expected = &r["expected"];
    let mut args = signer_args(op(r), r);
    if op(r) == "unsign" && !is_null(&r["max_age"]) {
        args.push(format!("--max-age={}", number(&r["max_age"])));
    }
    args.push("--".to_owned());
    args.push(text(r, "input").to_owned());
    let want = match error_of(expected) {
        Some(e) => want_error(e),
        None => Want::Stdout(text(expected, "result").to_owned()),
    };
    tessera(&args, secret_key(r)).check(failures, id(r), &want, false);
}

#[test]
fn signer_vectors() {
    let records = records_py("signer.json");
    let mut failures = Failures::default();
    let mut run = 0;
    // Constructor records: safe separators sign, unsafe ones are bad usage (64).
    let inits: Vec<Value> = records
        .iter()
        .filter(|r| op(r) == "init")
        .cloned()
        .collect();
    for r in sample(&inits, 4, |r| format!("{:?}", error_of(&r["expected"]))) {
        let mut args = signer_args("sign", r);
        args.extend(["--".to_owned(), "probe".to_owned()]);
        let out = tessera(&args, secret_key(r));
        match error_of(&r["expected"]) {
            Some(e) => out.check(&mut failures, id(r), &Want::Error(64, e.to_owned()), false),
            None if out.code != 0 || !out.stderr.is_empty() => {
                failures.push(id(r), format!("want exit 0, got {out:?}"));
            }
            None => {}
        }
        run += 1;
    }
    // sign / unsign: every combination of class, key, salt, separator, algorithm, fallbacks.
    let plain: Vec<Value> = records
        .iter()
        .filter(|r| matches!(op(r), "sign" | "unsign"))
        .cloned()
        .collect();
    for r in sample(&plain, 1, |r| {
        let s = &r["signer"];
        format!(
            "{} {:?} {} {} {} {} {}",
            op(r),
            error_of(&r["expected"]),
            text(s, "sep"),
            shape(&s["algorithm"]),
            shape(&s["key"]),
            shape(&s["salt"]),
            shape(&s["fallback_keys"]),
        )
    }) {
        run_sign_unsign(r, &mut failures);
        run += 1;
    }
    // TimestampSigner.sign_object / unsign_object are dumps / loads with the class default
    // salt when the record passes none (`--salt ""`).
    let objects: Vec<Value> = records
        .iter()
        .filter(|r| {
            matches!(op(r), "sign_object" | "unsign_object")
                && text(&r["signer"], "class") == "TimestampSigner"
        })
        .cloned()
        .collect();
    for r in sample(&objects, 1, |r| {
        let s = &r["signer"];
        format!(
            "{} {} {} {}",
            op(r),
            shape(&s["key"]),
            shape(&s["salt"]),
            r["compress"].is_truthy()
        )
    }) {
        let s = &r["signer"];
        let (command, input) = if op(r) == "sign_object" {
            ("dumps", json::to_string(&r["obj"]))
        } else {
            ("loads", text(r, "input").to_owned())
        };
        let mut args = vec!["signing".to_owned(), command.to_owned()];
        args.extend(key_args(
            &s["key"],
            Some(&s["fallback_keys"]),
            &r["settings"],
            command == "loads",
        ));
        args.push(format!("--salt={}", s["salt"].as_str().unwrap_or_default()));
        args.push(format!("--now={}", number(&r["now"])));
        if r["compress"].is_truthy() {
            args.push("--compress".to_owned());
        }
        args.extend(["--".to_owned(), input]);
        let want = if op(r) == "sign_object" {
            Want::Stdout(text(&r["expected"], "result").to_owned())
        } else {
            match expected_value(&r["expected"]["result"]) {
                Some(v) => Want::Stdout(json::to_string(&v)),
                None => continue,
            }
        };
        tessera(&args, secret_key(r)).check(&mut failures, id(r), &want, false);
        run += 1;
    }
    failures.assert_none_of_part("signer.json via the CLI", "signer.json", run);
}

#[test]
fn timestamp_signer_vectors() {
    let records = records_py("timestamp_signer.json");
    let mut failures = Failures::default();
    let picked = sample(&records, 1, |r| {
        format!(
            "{} {:?} {:?} {} {}",
            op(r),
            error_of(&r["expected"]),
            r["note"].as_str(),
            shape(&r["max_age"]),
            shape(&r["signer"]["salt"]),
        )
    });
    for r in &picked {
        run_sign_unsign(r, &mut failures);
    }
    failures.assert_none_of_part(
        "timestamp_signer.json via the CLI",
        "timestamp_signer.json",
        picked.len(),
    );
}

/// Runs a `dumps`/`loads` record of dumps_loads.json or tampered.json.
fn run_dumps_loads(r: &Value, failures: &mut Failures) -> bool {
    let expected = &r["expected"];
    let mut args = vec!["signing".to_owned(), op(r).to_owned()];
    args.extend(key_args(
        &r["key"],
        r.get("fallback_keys"),
        &r["settings"],
        op(r) == "loads",
    ));
    if !is_null(&r["salt"]) {
        args.push(format!("--salt={}", text(r, "salt")));
    }
    args.push(format!("--now={}", number(&r["now"])));
    let input = if op(r) == "dumps" {
        if r["compress"].is_truthy() {
            args.push("--compress".to_owned());
        }
        json::to_string(&r["obj"])
    } else {
        if !is_null(&r["max_age"]) {
            args.push(format!("--max-age={}", number(&r["max_age"])));
        }
        text(r, "input").to_owned()
    };
    args.extend(["--".to_owned(), input]);
    let want = match error_of(expected) {
        Some(e) => want_error(e),
        None if op(r) == "dumps" => Want::Stdout(text(expected, "result").to_owned()),
        None => match expected_value(&expected["result"]) {
            Some(v) => Want::Stdout(json::to_string(&v)),
            None => return false,
        },
    };
    tessera(&args, secret_key(r)).check(failures, id(r), &want, false);
    true
}

#[test]
fn dumps_loads_vectors() {
    let records = records_py("dumps_loads.json");
    let mut failures = Failures::default();
    let mut run = 0;
    for r in sample(&records, 1, |r| {
        format!(
            "{} {:?} {} {} {} {} {}",
            op(r),
            error_of(&r["expected"]),
            shape(&r["key"]),
            shape(&r["salt"]),
            r["compress"].is_truthy(),
            shape(&r["max_age"]),
            r.get("fallback_keys").map_or("absent", shape),
        )
    }) {
        run += usize::from(run_dumps_loads(r, &mut failures));
    }
    failures.assert_none_of_part("dumps_loads.json via the CLI", "dumps_loads.json", run);
}

#[test]
fn tampered_vectors() {
    let records = records_py("tampered.json");
    let mut failures = Failures::default();
    let mut run = 0;
    // A few of every outcome, for Signer, TimestampSigner and loads, with validly signed
    // malformed payloads apart.
    for r in sample(&records, 3, |r| {
        format!(
            "{} {} {:?} {}",
            op(r),
            r["signer"]["class"].as_str().unwrap_or("loads"),
            error_of(&r["expected"]),
            text(r, "mutation").starts_with("validly_signed"),
        )
    }) {
        if op(r) == "unsign" {
            run_sign_unsign(r, &mut failures);
            run += 1;
        } else {
            run += usize::from(run_dumps_loads(r, &mut failures));
        }
    }
    failures.assert_none_of_part("tampered.json via the CLI", "tampered.json", run);
}

// ---------------------------------------------------------------------------------------------
// cookies
// ---------------------------------------------------------------------------------------------

#[test]
fn signed_cookie_vectors() {
    let records = records_py("signed_cookies.json");
    let mut failures = Failures::default();
    let mut run = 0;
    // Every set_signed_cookie, some legacy values, and every get_signed_cookie case.
    let gets: Vec<Value> = records
        .iter()
        .filter(|r| op(r) == "get_signed_cookie" && !is_null(&r["default"]))
        .cloned()
        .collect();
    let picked_gets = sample(&gets, 1, |r| {
        format!(
            "{} {:?} {} {}",
            text(r, "case"),
            error_of(&r["expected"]),
            r["settings"]["SIGNED_COOKIE_LEGACY_SALT_FALLBACK"].is_truthy(),
            shape(&r["settings"]["SECRET_KEY_FALLBACKS"]),
        )
    });
    let sets = records.iter().filter(|r| op(r) == "set_signed_cookie");
    let legacy: Vec<Value> = records
        .iter()
        .filter(|r| op(r) == "legacy_signed_cookie_value")
        .cloned()
        .collect();
    for r in sets
        .chain(sample(&legacy, 3, |_| String::new()))
        .chain(picked_gets)
    {
        let expected = &r["expected"];
        let mut args = vec!["cookie".to_owned()];
        let want = if op(r) == "get_signed_cookie" {
            args.push("get".to_owned());
            args.extend(key_args(&Value::Null, None, &r["settings"], true));
            args.push(format!("--header={}", text(r, "cookie_header")));
            args.push(format!("--salt={}", text(r, "salt")));
            if !is_null(&r["max_age"]) {
                args.push(format!("--max-age={}", number(&r["max_age"])));
            }
            if r["settings"]["SIGNED_COOKIE_LEGACY_SALT_FALLBACK"].is_truthy() {
                args.push("--legacy-salt-fallback".to_owned());
            }
            if text(r, "default") != "RAISE_ERROR" {
                args.push(format!("--default={}", text(r, "default")));
            }
            args.push(format!("--now={}", number(&r["now"])));
            args.extend(["--".to_owned(), text(r, "name").to_owned()]);
            match error_of(expected) {
                Some(e) => want_error(e),
                None => Want::Stdout(text(expected, "result").to_owned()),
            }
        } else {
            args.push("sign".to_owned());
            args.push(format!("--salt={}", text(r, "salt")));
            if op(r) == "legacy_signed_cookie_value" {
                args.push("--legacy-salt".to_owned());
            }
            args.push(format!("--now={}", number(&r["now"])));
            args.extend([
                "--".to_owned(),
                text(r, "name").to_owned(),
                text(r, "value").to_owned(),
            ]);
            match error_of(expected) {
                Some(e) => want_error(e),
                None => Want::Stdout(text(expected, "signed_value").to_owned()),
            }
        };
        tessera(&args, secret_key(r)).check(&mut failures, id(r), &want, false);
        run += 1;
    }
    failures.assert_none_of_part(
        "signed_cookies.json via the CLI",
        "signed_cookies.json",
        run,
    );
}

/// `cookie set|delete` arguments for a record's `kwargs`.
fn set_cookie_args(r: &Value) -> Vec<String> {
    let kwargs = &r["kwargs"];
    let mut args = vec!["cookie".to_owned()];
    let mut value = None;
    if op(r) == "set_cookie" {
        args.push("set".to_owned());
        args.push(format!("--now={}", number(&r["now"])));
    } else {
        args.push("delete".to_owned());
    }
    let Some(kwargs) = kwargs.as_dict() else {
        panic!("{}: kwargs is not a dict", id(r))
    };
    for (name, v) in kwargs {
        match (name.as_str(), v) {
            ("value", Value::Str(s)) => value = Some(s.clone()),
            ("value", v) => value = Some(number(v)),
            ("max_age", v) => args.push(format!("--max-age={}", number(v))),
            ("expires", Value::Str(s)) => args.push(format!("--expires={s}")),
            ("expires", v) => args.push(format!("--expires={}", text(v, "$datetime"))),
            // Django's `path=None` and `path=""` both leave Path out of a fresh cookie.
            ("path", Value::Null) => args.push("--path=".to_owned()),
            ("secure" | "httponly", Value::Bool(true)) => args.push(format!("--{name}")),
            ("secure" | "httponly", Value::Bool(false)) => {}
            (_, Value::Str(s)) => args.push(format!("--{name}={s}")),
            (name, v) => panic!("{}: unexpected kwarg {name}={v:?}", id(r)),
        }
    }
    args.extend(["--".to_owned(), text(r, "name").to_owned()]);
    if op(r) == "set_cookie" {
        args.push(value.unwrap_or_default());
    }
    args
}

/// What kind of `set_cookie` argument a value is, for sampling.
fn kwarg_class(v: &Value) -> String {
    match v {
        Value::Str(s) if s.chars().all(|c| c.is_ascii_alphanumeric()) => "plain".to_owned(),
        Value::Str(s) if s.chars().all(|c| u32::from(c) < 0x100) => "latin1".to_owned(),
        Value::Str(_) => "unicode".to_owned(),
        Value::Dict(d) if d.contains_key("$datetime") => {
            let t = text(v, "$datetime");
            let aware = t.len() > 19 && t[19..].contains(['+', '-']);
            format!("datetime aware={aware}")
        }
        other => shape(other).to_owned(),
    }
}

#[test]
fn set_cookie_vectors() {
    let records = records_py("set_cookie.json");
    let mut failures = Failures::default();
    let singles: Vec<Value> = records
        .iter()
        .filter(|r| matches!(op(r), "set_cookie" | "delete_cookie"))
        .cloned()
        .collect();
    // Every kind of argument and outcome (value classes, int / float / timedelta max ages,
    // aware / naive / text expires, …), and every name given to delete_cookie.
    let mut ids = HashSet::new();
    let by_kwargs = sample(&singles, 1, |r| {
        let kwargs = r["kwargs"].as_dict().map_or_else(String::new, |d| {
            d.iter()
                .map(|(k, v)| format!("{k}={}", kwarg_class(v)))
                .collect::<Vec<_>>()
                .join(",")
        });
        format!("{} {:?} {kwargs}", op(r), error_of(&r["expected"]))
    });
    let by_name = sample(&singles, 1, |r| format!("{} {}", op(r), text(r, "name")));
    let mut run = 0;
    for r in by_kwargs.into_iter().chain(by_name) {
        if !ids.insert(id(r).to_owned()) {
            continue;
        }
        let expected = &r["expected"];
        let want = match error_of(expected) {
            Some(e) => want_error(e),
            None => Want::Stdout(text(expected, "header").to_owned()),
        };
        tessera(set_cookie_args(r), None).check(&mut failures, id(r), &want, true);
        run += 1;
    }
    failures.assert_none_of_part("set_cookie.json via the CLI", "set_cookie.json", run);
}

#[test]
fn parse_cookie_vectors() {
    let records = records_py("parse_cookie.json");
    let mut failures = Failures::default();
    let mut run = 0;
    // Every raw-bytes record, and a few headers of every class of content.
    let picked = sample(&records, 3, |r| {
        let Some(h) = r["header"].as_str() else {
            return id(r).to_owned();
        };
        format!(
            "ascii={} quote={} escape={} ws={} long={} chunks={}",
            h.is_ascii(),
            h.contains('"'),
            h.contains('\\'),
            h.chars()
                .any(|c| (c.is_whitespace() && c != ' ') || c.is_control()),
            h.len() > 200,
            h.split(';').count().min(3),
        )
    });
    for r in picked {
        let header: OsString = if op(r) == "parse_cookie" {
            let header = text(r, "header");
            // A command-line argument cannot hold NUL; the library tests cover that record.
            if header.contains('\0') {
                continue;
            }
            header.into()
        } else {
            raw_arg(hex(text(r, "raw_header_hex")))
        };
        let want = Want::Stdout(json::to_string(&r["expected"]["result"]));
        let args: Vec<OsString> = vec!["cookie".into(), "parse".into(), "--".into(), header];
        tessera(args, None).check(&mut failures, id(r), &want, false);
        run += 1;
    }
    failures.assert_none_of_part("parse_cookie.json via the CLI", "parse_cookie.json", run);
}

/// Raw bytes as one command-line argument (they need not be UTF-8 on Unix).
fn raw_arg(bytes: Vec<u8>) -> OsString {
    #[cfg(unix)]
    {
        std::os::unix::ffi::OsStringExt::from_vec(bytes)
    }
    #[cfg(not(unix))]
    {
        String::from_utf8_lossy(&bytes).into_owned().into()
    }
}

// ---------------------------------------------------------------------------------------------
// The contract, case by case
// ---------------------------------------------------------------------------------------------

const KEY: &str = "%vv=kcei(1d39gn&vrl72d1yle3qzd56tqn_dkmq8svvb17ok-";
const OLD_KEY: &str = "ucy93!dcw0&ikz!v6^b@50dvjjkx%p-a9aknn!2g@c2-h5eeu9";
const NOW: &str = "--now=1700000000.25";

fn run(args: &[&str]) -> Output {
    tessera(args, Some(KEY))
}

fn assert_ok(out: &Output, stdout: &str) {
    assert_eq!(
        (out.code, out.stdout.as_str(), out.stderr.as_str()),
        (0, format!("{stdout}\n").as_str(), ""),
        "{out:?}"
    );
}

fn assert_err(out: &Output, code: i32, kind: &str) {
    assert_eq!(out.code, code, "{out:?}");
    assert_eq!(out.stdout, "", "{out:?}");
    assert!(
        out.stderr.starts_with(&format!("{kind}: ")),
        "stderr should start with {kind}: {out:?}"
    );
}

/// Stdout without its final newline, for chaining commands.
fn result(out: &Output) -> String {
    assert_eq!(out.code, 0, "{out:?}");
    out.stdout
        .strip_suffix('\n')
        .unwrap_or_else(|| panic!("no final newline: {out:?}"))
        .to_owned()
}

#[test]
fn help_and_version_exit_zero() {
    for args in [
        &["--help"][..],
        &["--version"],
        &["signing", "sign", "--help"],
    ] {
        let out = tessera(args, None);
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(!out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    assert!(tessera(["--version"], None)
        .stdout
        .contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn usage_errors_exit_64() {
    for args in [
        &["signing", "sign", "--bogus", "v"][..],
        &[],
        &["signing"],
        &["signing", "frobnicate"],
        &["signing", "sign"],
        // --max-age only means something to a TimestampSigner.
        &["signing", "unsign", "--max-age=5", "--", "v:sig"],
        &["signing", "sign", "--now=soon", "v"],
        &["signing", "sign", "--now=nan", "v"],
        &["signing", "sign", "--key-hex=abc", "v"],
        &["signing", "sign", "--key=a", "--key-hex=00", "v"],
        &["cookie", "set", "--max-age=forever", "n", "v"],
    ] {
        assert_err(&run(args), 64, "UsageError");
    }
    // An unsafe separator is Django's ValueError, but bad usage of the CLI.
    assert_err(&run(&["signing", "sign", "--sep=a", "v"]), 64, "ValueError");
    assert_err(
        &run(&["signing", "unsign", "--sep=", "v"]),
        64,
        "ValueError",
    );
}

#[test]
fn keys_from_options_and_environment() {
    let from_env = run(&["signing", "sign", "--", "qjrgzwzylb"]);
    // Spec §2 worked example.
    assert_ok(
        &from_env,
        "qjrgzwzylb:5uAnjwPUBCq7u4iMV8wxI0jKHzPNVj_qCZBqsENTcBQ",
    );
    let with_key = tessera(["signing", "sign", "--key", KEY, "--", "qjrgzwzylb"], None);
    assert_ok(&with_key, &result(&from_env));
    let hex_key = format!("--key-hex={}", to_hex(KEY.as_bytes()));
    assert_ok(
        &tessera(["signing", "sign", &hex_key, "--", "qjrgzwzylb"], None),
        &result(&from_env),
    );
    // `key=""` is falsy in Django: the settings key is used.
    assert_ok(
        &run(&["signing", "sign", "--key=", "--", "qjrgzwzylb"]),
        &result(&from_env),
    );
    // No key anywhere is a configuration error, never a signature with an empty key.
    assert_err(
        &tessera(["signing", "sign", "v"], None),
        64,
        "ImproperlyConfigured",
    );
    assert_err(
        &tessera(["signing", "sign", "v"], Some("")),
        64,
        "ImproperlyConfigured",
    );
    assert_err(
        &tessera(["cookie", "get", "--header=a=1", "a"], None),
        64,
        "ImproperlyConfigured",
    );
    // A key may start with '-'.
    let dash = tessera(["signing", "sign", "--key", "-dash", "--", "v"], None);
    assert_eq!(dash.code, 0, "{dash:?}");
}

/// `tessera args…` with `stdin` on its standard input and no key in the environment.
fn tessera_with_stdin(args: &[&str], stdin: &str) -> Output {
    use std::io::Write as _;
    let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(args)
        .env_remove(KEY_ENV)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the tessera binary runs");
    let mut pipe = child.stdin.take().unwrap();
    pipe.write_all(stdin.as_bytes()).unwrap();
    drop(pipe);
    let out = child.wait_with_output().unwrap();
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

#[test]
fn keys_from_a_file_or_stdin_sign_as_the_key_option_does() {
    let dir = common::serve::TempDir::new("key-file");
    let file = |name: &str, content: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        format!("--key-file={}", path.display())
    };
    let signed = result(&tessera(["signing", "sign", "--key", KEY, "--", "v"], None));
    // One trailing newline, as `echo` leaves, is not part of the key; nor is a CRLF.
    for content in [format!("{KEY}\n"), format!("{KEY}\r\n"), KEY.to_owned()] {
        let key_file = file("key", &content);
        assert_ok(
            &tessera(["signing", "sign", &key_file, "--", "v"], None),
            &signed,
        );
        assert_ok(
            &tessera_with_stdin(&["signing", "sign", "--key-file", "-", "--", "v"], &content),
            &signed,
        );
    }
    // Verifying commands take it too, beside the environment's key.
    let key_file = file("key", &format!("{KEY}\n"));
    assert_ok(
        &tessera(
            ["signing", "unsign", &key_file, "--", &signed],
            Some("other"),
        ),
        "v",
    );
    // Only one newline goes: a second one is part of the key, which then does not verify.
    let two = file("two", &format!("{KEY}\n\n"));
    assert_err(
        &tessera(["signing", "unsign", &two, "--", &signed], None),
        1,
        "BadSignature",
    );
    for empty in ["", "\n", "\r\n"] {
        let key_file = file("empty", empty);
        let out = tessera(["signing", "sign", &key_file, "--", "v"], Some(KEY));
        assert_err(&out, 64, "ImproperlyConfigured");
        let out = tessera_with_stdin(&["signing", "sign", "--key-file=-", "--", "v"], empty);
        assert_err(&out, 64, "ImproperlyConfigured");
        assert!(out.stderr.contains("standard input"), "{out:?}");
    }
    let missing = format!("--key-file={}", dir.path().join("missing").display());
    assert_err(
        &tessera(["signing", "sign", &missing, "v"], None),
        65,
        "OSError",
    );
    let key_file = file("key", KEY);
    for other in ["--key=k", "--key-hex=00"] {
        assert_err(
            &tessera(["signing", "sign", &key_file, other, "v"], None),
            64,
            "UsageError",
        );
    }
}

#[test]
fn fallback_keys_verify_everywhere() {
    let old_hex = format!("--fallback-key-hex={}", to_hex(OLD_KEY.as_bytes()));
    let old = format!("--fallback-key={OLD_KEY}");
    let signed = result(&tessera(["signing", "sign", "--", "v"], Some(OLD_KEY)));
    assert_err(
        &run(&["signing", "unsign", "--", &signed]),
        1,
        "BadSignature",
    );
    assert_ok(&run(&["signing", "unsign", &old, "--", &signed]), "v");
    assert_ok(
        &run(&[
            "signing",
            "unsign",
            "--fallback-key=x",
            &old_hex,
            "--",
            &signed,
        ]),
        "v",
    );

    let token = result(&tessera(["signing", "dumps", "--", "[1]"], Some(OLD_KEY)));
    assert_err(&run(&["signing", "loads", "--", &token]), 1, "BadSignature");
    assert_ok(&run(&["signing", "loads", &old, "--", &token]), "[1]");

    let cookie = result(&tessera(["cookie", "sign", "--", "n", "v"], Some(OLD_KEY)));
    let header = format!("--header=n={cookie}");
    assert_err(&run(&["cookie", "get", &header, "n"]), 1, "BadSignature");
    assert_ok(&run(&["cookie", "get", &header, &old_hex, "n"]), "v");
}

#[test]
fn salts_follow_django_defaults() {
    let sign = |extra: &[&str]| {
        let mut args = vec!["signing", "sign"];
        args.extend(extra);
        args.extend(["--", "v"]);
        result(&run(&args))
    };
    let default = sign(&[]);
    // `salt=""` falls back to the class default.
    assert_eq!(sign(&["--salt="]), default);
    assert_eq!(sign(&["--salt=django.core.signing.Signer"]), default);
    assert_ne!(sign(&["--salt=other"]), default);
    let ts = sign(&["--timestamp", NOW, "--salt="]);
    assert_eq!(ts, sign(&["--timestamp", NOW]));
    assert_eq!(
        ts,
        sign(&[
            "--timestamp",
            NOW,
            "--salt=django.core.signing.TimestampSigner"
        ])
    );

    // dumps: no --salt is "django.core.signing"; --salt "" is TimestampSigner's default.
    let dumps = |extra: &[&str]| {
        let mut args = vec!["signing", "dumps", NOW];
        args.extend(extra);
        args.extend(["--", "1"]);
        result(&run(&args))
    };
    assert_eq!(dumps(&[]), dumps(&["--salt=django.core.signing"]));
    assert_eq!(
        dumps(&["--salt="]),
        dumps(&["--salt=django.core.signing.TimestampSigner"])
    );
    assert_ne!(dumps(&[]), dumps(&["--salt="]));
}

#[test]
fn timestamps_and_max_age() {
    let signed = result(&run(&["signing", "sign", "--timestamp", NOW, "--", "-v"]));
    assert!(signed.starts_with("-v:1r31eq:"), "{signed}");
    let unsign = |extra: &[&str]| {
        let mut args = vec!["signing", "unsign", "--timestamp"];
        args.extend(extra);
        args.extend(["--", &signed]);
        run(&args)
    };
    assert_ok(&unsign(&["--now=1700000010.25", "--max-age=10.25"]), "-v");
    assert_err(
        &unsign(&["--now=1700000010.25", "--max-age", "10"]),
        2,
        "SignatureExpired",
    );
    // Negative max ages parse, as options and with `=`, and fail any past timestamp.
    assert_err(
        &unsign(&["--now=1700000000.25", "--max-age", "-1"]),
        2,
        "SignatureExpired",
    );
    assert_err(
        &unsign(&["--now", "1700000000", "--max-age=-0.5"]),
        2,
        "SignatureExpired",
    );
    assert_ok(&unsign(&["--now=1699999999", "--max-age=-0.5"]), "-v");
    // Without --now the real clock is used: a fresh signature is not expired.
    let fresh = result(&run(&["signing", "sign", "--timestamp", "--", "v"]));
    assert_ok(
        &run(&[
            "signing",
            "unsign",
            "--timestamp",
            "--max-age=600",
            "--",
            &fresh,
        ]),
        "v",
    );
    let token = result(&run(&["signing", "dumps", "--", "{}"]));
    assert_ok(
        &run(&["signing", "loads", "--max-age=600", "--", &token]),
        "{}",
    );
    assert_err(
        &run(&["signing", "loads", "--max-age=-600", "--", &token]),
        2,
        "SignatureExpired",
    );
}

#[test]
fn signing_errors_have_kinds() {
    assert_err(
        &run(&["signing", "unsign", "--", "no-separator"]),
        1,
        "BadSignature",
    );
    assert_err(
        &run(&["signing", "sign", "--algorithm=sha-256", "v"]),
        65,
        "InvalidAlgorithm",
    );
    // A validly signed value with no timestamp, given to a TimestampSigner.
    let plain = result(&run(&[
        "signing",
        "sign",
        "--salt=django.core.signing.TimestampSigner",
        "v",
    ]));
    assert_err(
        &run(&["signing", "unsign", "--timestamp", "--", &plain]),
        65,
        "ValueError",
    );
    assert_err(
        &run(&["signing", "dumps", "--", "{'a': 1}"]),
        65,
        "ValueError",
    );
    assert_err(&run(&["signing", "dumps", "--", ""]), 65, "ValueError");
    assert_err(&run(&["signing", "loads", "--", "x"]), 1, "BadSignature");
}

#[test]
fn loads_prints_python_json() {
    let obj = r#"{"z":1,"a":[1e-05,100.0,1.5e+16,-0.0,NaN,Infinity,-Infinity],"big":123456789012345678901234567890,"s":"h\u00e9\ud83d\ude00","n":null,"t":true}"#;
    for compress in ["--compress", "--now=1"] {
        let token = result(&run(&["signing", "dumps", compress, "--", obj]));
        assert_ok(&run(&["signing", "loads", "--", &token]), obj);
    }
    let repetitive = format!("{:?}", "a".repeat(100));
    let token = result(&run(&["signing", "dumps", "--compress", "--", &repetitive]));
    assert!(token.starts_with('.'), "compressed: {token}");
    assert_ok(&run(&["signing", "loads", "--", &token]), &repetitive);
    // Raw non-ASCII in the input is escaped as Python escapes it.
    let token = result(&run(&["signing", "dumps", "--", r#"["é😀", 1.0, 1]"#]));
    assert_ok(
        &run(&["signing", "loads", "--", &token]),
        r#"["\u00e9\ud83d\ude00",1.0,1]"#,
    );
    // A negative number is a value, not an option.
    let token = result(&run(&["signing", "dumps", "-5"]));
    assert_ok(&run(&["signing", "loads", "--", &token]), "-5");
}

#[test]
fn cookie_get_defaults_and_headers() {
    let signed = result(&run(&[
        "cookie", "sign", "--salt=s", NOW, "--", "theme", "dark",
    ]));
    let header = format!("--header=theme={signed}");
    let get = |extra: &[&str]| {
        let mut args = vec!["cookie", "get", "--salt=s"];
        args.extend(extra);
        args.push("theme");
        run(&args)
    };
    assert_ok(&get(&[&header, "--now=1700000001"]), "dark");
    // Several Cookie headers are one request's cookies.
    assert_ok(&get(&["--header=a=1", "--header", "b=2", &header]), "dark");
    assert_err(&get(&["--header=a=1"]), 3, "Missing");
    assert_err(&get(&[]), 3, "Missing");
    assert_ok(&get(&["--header=a=1", "--default=-"]), "-");
    assert_err(
        &get(&[&header, "--max-age=1", "--now=1700000002"]),
        2,
        "SignatureExpired",
    );
    assert_ok(
        &get(&[&header, "--max-age=1", "--now=1700000002", "--default="]),
        "",
    );
    let tampered = format!("--header=theme={signed}x");
    assert_err(&get(&[&tampered]), 1, "BadSignature");
    assert_ok(&get(&[&tampered, "--default", "light"]), "light");

    // Validly signed (Django's cookie key and v2 salt) but without a timestamp: an error
    // even with a default, as in Django.
    let cookie_key = format!(
        "--key-hex={}",
        to_hex(&[b"django.http.cookies".as_slice(), KEY.as_bytes()].concat())
    );
    let malformed = result(&run(&[
        "signing",
        "sign",
        &cookie_key,
        "--salt=django.http.cookies.v2:1:stheme",
        "--",
        "dark",
    ]));
    let header = format!("--header=theme={malformed}");
    assert_err(&get(&[&header]), 65, "ValueError");
    assert_err(&get(&[&header, "--default=x"]), 65, "ValueError");
}

#[test]
fn cookie_sign_legacy_and_names() {
    let v2 = result(&run(&["cookie", "sign", NOW, "--", "a", "v"]));
    let legacy = result(&run(&[
        "cookie",
        "sign",
        NOW,
        "--legacy-salt",
        "--",
        "a",
        "v",
    ]));
    assert_ne!(v2, legacy);
    let header = format!("--header=a={legacy}");
    assert_err(&run(&["cookie", "get", &header, "a"]), 1, "BadSignature");
    assert_ok(
        &run(&["cookie", "get", &header, "--legacy-salt-fallback", "a"]),
        "v",
    );
    assert_err(
        &run(&["cookie", "sign", "--", "bad name", "v"]),
        65,
        "CookieError",
    );
    assert_err(
        &run(&["cookie", "sign", "--", "Path", "v"]),
        65,
        "CookieError",
    );
}

#[test]
fn cookie_set_and_delete() {
    let set = |args: &[&str]| {
        let mut all = vec!["cookie", "set", NOW];
        all.extend(args);
        tessera(&all, None)
    };
    assert_ok(
        &set(&["--max-age", "3600", "--httponly", "--", "c", "semi;colon"]),
        r#"c="semi\073colon"; expires=Tue, 14 Nov 2023 23:13:20 GMT; HttpOnly; Max-Age=3600; Path=/"#,
    );
    assert_ok(
        &set(&["--max-age", "-1.5", "--path", "", "--", "c", "v"]),
        "c=v; expires=Tue, 14 Nov 2023 22:13:18 GMT; Max-Age=-1",
    );
    assert_ok(
        &set(&["--expires=2023-11-14T23:13:20.25Z", "--", "c", "v"]),
        "c=v; expires=Tue, 14 Nov 2023 23:13:21 GMT; Max-Age=3601; Path=/",
    );
    assert_ok(
        &set(&["--expires", "-1", "--", "c", "v"]),
        "c=v; expires=-1; Path=/",
    );
    assert_ok(
        &set(&[
            "--secure",
            "--partitioned",
            "--samesite=None",
            "--",
            "c",
            "v",
        ]),
        "c=v; Partitioned; Path=/; SameSite=None; Secure",
    );
    // Django writes what a browser drops; the CLI says why on stderr and still succeeds.
    let host = set(&["--domain=example.com", "--", "__Host-id", "1"]);
    assert_eq!(host.code, 0, "{host:?}");
    assert_eq!(host.stdout, "__Host-id=1; Domain=example.com; Path=/\n");
    assert!(host.stderr.starts_with("warning: "), "{host:?}");
    assert!(host.stderr.contains("Secure"), "{host:?}");
    assert!(host.stderr.contains("Domain"), "{host:?}");
    let none = tessera(
        [
            "cookie",
            "delete",
            "--samesite=None",
            "--path=/x",
            "--",
            "c",
        ],
        None,
    );
    assert_ok(
        &none,
        r#"c=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/x; SameSite=None; Secure"#,
    );
    let dropped = tessera(
        ["cookie", "delete", "--domain=x.example", "--", "__Host-a"],
        None,
    );
    assert_eq!(dropped.code, 0, "{dropped:?}");
    assert!(dropped.stderr.starts_with("warning: "), "{dropped:?}");

    assert_err(&set(&["--samesite=sometimes", "c", "v"]), 65, "ValueError");
    assert_err(
        &set(&[
            "--max-age=5",
            "--expires=2023-11-14T23:13:20+00:00",
            "c",
            "v",
        ]),
        65,
        "ValueError",
    );
    assert_err(&set(&["--max-age=nan", "c", "v"]), 65, "ValueError");
    assert_err(&set(&["--", "a=b", "v"]), 65, "CookieError");
    assert_err(&set(&["--", "expires", "v"]), 65, "CookieError");
    assert_err(
        &tessera(["cookie", "delete", "--samesite=x", "c"], None),
        65,
        "ValueError",
    );
}

#[test]
fn cookie_headers_that_would_carry_more_than_the_cookie_exit_65() {
    // What Django writes raw: a CR or LF starts another header, a ';' another attribute.
    let set = |option: &str| tessera(["cookie", "set", NOW, option, "--", "a", "b"], None);
    for option in [
        "--expires=x\r\nSet-Cookie: a=b",
        "--expires=Wed, 21 Oct 2037 07:28:00 GMT; HttpOnly",
        "--path=/\r\nX-Injected: 1",
        "--path=/\n",
        "--path=/;x",
        "--path=/x; Domain=evil.example",
        "--domain=example.com\r\nSet-Cookie: a=b",
        "--domain=ex.com; Secure",
        "--domain=a;b",
        "--domain=\u{1b}[31m",
        "--path=/\u{7f}",
        // A first bad character that is only a warning does not hide a line break after it.
        "--domain=\u{e9}\r\n",
    ] {
        let out = set(option);
        assert_err(&out, 65, "ValueError");
        assert!(
            out.stderr.contains("cookie \"a\" rejected: the "),
            "{option:?}: {out:?}"
        );
    }
    let delete = |option: &str| tessera(["cookie", "delete", option, "--", "a"], None);
    for option in [
        "--path=/\r\nSet-Cookie: a=b",
        "--path=/;x",
        "--domain=ex.com\n",
        "--domain=ex.com; Secure",
    ] {
        assert_err(&delete(option), 65, "ValueError");
    }
    // What a browser only drops stays a warning, with the header printed.
    let none = set("--samesite=None");
    assert_eq!(none.code, 0, "{none:?}");
    assert_eq!(none.stdout, "a=b; Path=/; SameSite=None\n");
    assert!(none.stderr.starts_with("warning: "), "{none:?}");
    let idn = set("--domain=\u{e9}.example");
    assert_eq!(idn.code, 0, "{idn:?}");
    assert!(idn.stderr.starts_with("warning: "), "{idn:?}");
    assert_ok(&set("--path=/a\tb"), "a=b; Path=/a\tb");
}

#[test]
fn cookie_parse_prints_a_json_object() {
    assert_ok(
        &tessera(["cookie", "parse", "b=2; a=\"x\\073y\"; b=3; café=é"], None),
        r#"{"b":"3","a":"x;y","caf\u00e9":"\u00e9"}"#,
    );
    assert_ok(&tessera(["cookie", "parse", ""], None), "{}");
}

#[test]
fn session_decode_and_encode_match_django_vectors() {
    let mut f = Failures::default();
    let mut n = 0;
    for r in records_py("session_encoding.json") {
        let id = r["id"].as_str().unwrap().to_owned();
        match r["op"].as_str().unwrap() {
            "encode"
                if r["backend"]
                    .as_str()
                    .is_some_and(|b| b.contains("backends.db")) =>
            {
                n += 1;
                let key = r["settings"]["SECRET_KEY"].as_str().unwrap().to_owned();
                let obj = tessera::json::to_string(&r["session_dict"]);
                let now = format!("{}", r["now"].as_f64().unwrap());
                let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
                    .args([
                        "session", "encode", "--key", &key, "--now", &now, "--", &obj,
                    ])
                    .output()
                    .unwrap();
                let got = String::from_utf8_lossy(&out.stdout).trim_end().to_owned();
                f.check(&id, got.as_str(), r["expected"]["result"].as_str().unwrap());
                let back = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
                    .args(["session", "decode", "--key", &key, "--", &got])
                    .output()
                    .unwrap();
                f.check(
                    &id,
                    String::from_utf8_lossy(&back.stdout).trim_end(),
                    obj.as_str(),
                );
            }
            _ => {}
        }
    }
    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .args(["session", "decode", "--key", "k", "e30:1r31eq:forged"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).starts_with("BadSignature"));
    f.assert_none_of_part(
        "session_encoding.json via the CLI",
        "session_encoding.json",
        n,
    );
}
