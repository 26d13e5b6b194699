//! The cookie vectors produced by the real Django (`parse_cookie.json`,
//! `set_cookie.json`), plus regression, policy and property tests for
//! `tessera::cookie`.

use crate::common;

use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDateTime, TimeDelta, TimeZone, Utc};
use common::vectors::{hex, load, records, Failures};
use serde_json::Value;
use tessera::cookie::{
    browser_rejections, delete_cookie_header, http_date, is_python_whitespace, parse_cookie,
    parse_cookie_bytes, parse_request_cookies, quote_value, set_cookie_header, CookieError,
    CookieJar, CookieOptions, CookiePart, CookiePolicy, DeleteOptions, Expires, MaxAge,
    PolicyViolation, SameSite, MAX_NAME_VALUE_BYTES, MAX_REQUEST_COOKIES,
};

const NOW: f64 = 1_700_000_000.25;

// ---------------------------------------------------------------------------
// Decoding vector inputs
// ---------------------------------------------------------------------------

fn id(r: &Value) -> &str {
    r["id"].as_str().unwrap_or("<no id>")
}

/// Python `str(value)` for the JSON values the vectors use.
fn python_str(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Bool(true) => Ok("True".into()),
        Value::Bool(false) => Ok("False".into()),
        Value::Null => Ok("None".into()),
        Value::Number(n) if is_integer_text(&n.to_string()) => Ok(n.to_string()),
        other => Err(format!("unsupported value {other}")),
    }
}

fn is_integer_text(s: &str) -> bool {
    let digits = s.strip_prefix('-').unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

fn max_age(v: &Value) -> Result<Option<MaxAge>, String> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => {
            let text = n.to_string();
            if is_integer_text(&text) {
                let whole: i128 = text.parse().map_err(|e| format!("{text}: {e}"))?;
                Ok(Some(MaxAge::whole(whole)))
            } else {
                let secs = n.as_f64().ok_or_else(|| format!("bad float {text}"))?;
                Ok(Some(MaxAge::from(secs)))
            }
        }
        Value::Object(o) => {
            let secs = o
                .get("$timedelta_seconds")
                .and_then(Value::as_f64)
                .ok_or_else(|| format!("bad max_age {v}"))?;
            let micros = (secs * 1e6).round() as i64;
            Ok(Some(MaxAge::from(TimeDelta::microseconds(micros))))
        }
        other => Err(format!("bad max_age {other}")),
    }
}

/// A Python `datetime.isoformat()`; no offset means naive.
fn datetime(iso: &str) -> Result<Expires, String> {
    if let Ok(aware) = DateTime::parse_from_rfc3339(iso) {
        return Ok(Expires::At(aware));
    }
    NaiveDateTime::parse_from_str(iso, "%Y-%m-%dT%H:%M:%S%.f")
        .map(Expires::Naive)
        .map_err(|e| format!("bad datetime {iso}: {e}"))
}

fn expires(v: &Value) -> Result<Option<Expires>, String> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(Expires::Raw(s.clone()))),
        Value::Object(o) => match o.get("$datetime").and_then(Value::as_str) {
            Some(iso) => datetime(iso).map(Some),
            None => Err(format!("bad expires {v}")),
        },
        other => Err(format!("bad expires {other}")),
    }
}

fn opt_string(v: Option<&Value>, default: Option<&str>) -> Result<Option<String>, String> {
    match v {
        None => Ok(default.map(str::to_owned)),
        Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(format!("expected a string or null, got {other}")),
    }
}

fn truthy(v: Option<&Value>) -> Result<bool, String> {
    match v {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(format!("expected a bool, got {other}")),
    }
}

const SET_KWARGS: [&str; 8] = [
    "value", "max_age", "expires", "path", "domain", "secure", "httponly", "samesite",
];

/// `set_cookie` kwargs → (value, options).
fn set_args(kwargs: &Value) -> Result<(String, CookieOptions), String> {
    let kw = kwargs.as_object().ok_or("kwargs is not an object")?;
    if let Some(unknown) = kw.keys().find(|k| !SET_KWARGS.contains(&k.as_str())) {
        return Err(format!("unknown kwarg {unknown}"));
    }
    let value = kw.get("value").map_or(Ok(String::new()), python_str)?;
    let options = CookieOptions {
        max_age: kw.get("max_age").map_or(Ok(None), max_age)?,
        expires: kw.get("expires").map_or(Ok(None), expires)?,
        path: opt_string(kw.get("path"), Some("/"))?,
        domain: opt_string(kw.get("domain"), None)?,
        secure: truthy(kw.get("secure"))?,
        httponly: truthy(kw.get("httponly"))?,
        samesite: opt_string(kw.get("samesite"), None)?,
        partitioned: false,
    };
    Ok((value, options))
}

/// `delete_cookie` kwargs → options.
fn delete_args(kwargs: &Value) -> Result<DeleteOptions, String> {
    let kw = kwargs.as_object().ok_or("kwargs is not an object")?;
    if let Some(unknown) = kw
        .keys()
        .find(|k| !["path", "domain", "samesite"].contains(&k.as_str()))
    {
        return Err(format!("unknown kwarg {unknown}"));
    }
    Ok(DeleteOptions {
        path: opt_string(kw.get("path"), Some("/"))?,
        domain: opt_string(kw.get("domain"), None)?,
        samesite: opt_string(kw.get("samesite"), None)?,
    })
}

/// Whether our error is the outcome Django reported.
fn error_matches(err: &CookieError, expected: &Value) -> bool {
    let class = expected["error"].as_str().unwrap_or_default();
    let message = expected["message"].as_str().unwrap_or_default();
    match err {
        CookieError::IllegalName(_) => class == "CookieError" && message.starts_with("Illegal key"),
        CookieError::ReservedName(_) => {
            class == "CookieError" && message.starts_with("Attempt to set a reserved key")
        }
        CookieError::InvalidSameSite(_) => class == "ValueError" && message.starts_with("samesite"),
        CookieError::ExpiresWithMaxAge => {
            class == "ValueError" && message.contains("can't be used together")
        }
        CookieError::InvalidMaxAge(_) => class == "ValueError" || class == "OverflowError",
        _ => false,
    }
}

/// Compares a `Result` with an outcome object (`header` or `error`).
fn check_outcome(
    failures: &mut Failures,
    id: &str,
    got: Result<String, CookieError>,
    expected: &Value,
) {
    match (got, expected.get("header").and_then(Value::as_str)) {
        (Ok(header), Some(want)) => {
            failures.check(id, header.as_str(), want);
            let latin1 = header.chars().all(|c| u32::from(c) < 0x100);
            if let Some(want_latin1) = expected.get("latin1_encodable").and_then(Value::as_bool) {
                failures.check(&format!("{id} latin1_encodable"), latin1, want_latin1);
            }
            if let Some(want_line) = expected.get("header_line").and_then(Value::as_str) {
                failures.check(
                    &format!("{id} header_line"),
                    format!("Set-Cookie: {header}").as_str(),
                    want_line,
                );
            }
        }
        (Err(err), None) if error_matches(&err, expected) => {}
        (got, _) => failures.push(id, format!("got {got:?}, want {expected}")),
    }
}

// ---------------------------------------------------------------------------
// parse_cookie.json
// ---------------------------------------------------------------------------

fn items(map: &indexmap::IndexMap<String, String>) -> Vec<(String, String)> {
    map.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
}

fn expected_items(expected: &Value) -> Option<Vec<(String, String)>> {
    expected["items"]
        .as_array()?
        .iter()
        .map(|pair| Some((pair[0].as_str()?.to_owned(), pair[1].as_str()?.to_owned())))
        .collect()
}

#[test]
fn parse_cookie_vectors() {
    let records = records("parse_cookie.json");
    let mut failures = Failures::default();
    for r in &records {
        let id = id(r);
        let Some(want) = expected_items(&r["expected"]) else {
            failures.push(id, "no expected items");
            continue;
        };
        match r["op"].as_str() {
            Some("parse_cookie") => {
                let header = r["header"].as_str().unwrap_or_default();
                failures.check(id, items(&parse_cookie(header)), want);
            }
            Some("wsgi_request_cookies") => {
                let raw = hex(r["raw_header_hex"].as_str().unwrap_or_default());
                failures.check(id, items(&parse_cookie_bytes(&raw)), want.clone());
                match http::HeaderValue::from_bytes(&raw) {
                    Ok(value) => failures.check(
                        &format!("{id} via HeaderValue"),
                        items(&parse_request_cookies([&value])),
                        want,
                    ),
                    Err(e) => failures.push(id, format!("HeaderValue: {e}")),
                }
            }
            other => failures.push(id, format!("unknown op {other:?}")),
        }
    }
    failures.assert_none("parse_cookie.json", records.len());
}

#[test]
fn python_whitespace_matches_vector_metadata() {
    let file = load("parse_cookie.json");
    let listed: Vec<u32> = file["python_str_strip_whitespace_codepoints"]
        .as_array()
        .expect("metadata list")
        .iter()
        .map(|v| v.as_u64().expect("code point") as u32)
        .collect();
    let ours: Vec<u32> = (0..=0x10FFFF)
        .filter_map(char::from_u32)
        .filter(|&c| is_python_whitespace(c))
        .map(u32::from)
        .collect();
    assert_eq!(ours, listed);
}

// ---------------------------------------------------------------------------
// set_cookie.json
// ---------------------------------------------------------------------------

#[test]
fn set_cookie_vectors() {
    let records = records("set_cookie.json");
    let mut failures = Failures::default();
    for r in &records {
        let id = id(r);
        let name = r["name"].as_str().unwrap_or_default();
        let now = r["now"].as_f64().unwrap_or(NOW);
        let expected = &r["expected"];
        match r["op"].as_str() {
            Some("set_cookie") => {
                let (value, options) = match set_args(&r["kwargs"]) {
                    Ok(args) => args,
                    Err(e) => {
                        failures.push(id, e);
                        continue;
                    }
                };
                let got = set_cookie_header(name, &value, &options, now);
                check_outcome(&mut failures, id, got, expected);
                // The lenient jar must produce the same outcome.
                let mut jar = CookieJar::new().with_policy(CookiePolicy::lenient());
                let via_jar = jar
                    .set(name, &value, &options)
                    .map(|()| jar.set_cookie_headers(now).join("\n"));
                check_outcome(&mut failures, &format!("{id} via jar"), via_jar, expected);
            }
            Some("delete_cookie") => {
                let options = match delete_args(&r["kwargs"]) {
                    Ok(options) => options,
                    Err(e) => {
                        failures.push(id, e);
                        continue;
                    }
                };
                check_outcome(
                    &mut failures,
                    id,
                    delete_cookie_header(name, &options),
                    expected,
                );
                let mut jar = CookieJar::new().with_policy(CookiePolicy::lenient());
                let via_jar = jar
                    .delete_with(name, &options)
                    .map(|()| jar.set_cookie_headers(now).join("\n"));
                check_outcome(&mut failures, &format!("{id} via jar"), via_jar, expected);
            }
            Some("sequence") => {
                let mut jar = CookieJar::new().with_policy(CookiePolicy::lenient());
                let calls = r["calls"].as_array().cloned().unwrap_or_default();
                let result = calls.iter().try_for_each(|call| {
                    let name = call["name"].as_str().unwrap_or_default();
                    match call["method"].as_str() {
                        Some("set_cookie") => {
                            let (value, options) = set_args(&call["kwargs"])?;
                            jar.set(name, &value, &options).map_err(|e| e.to_string())
                        }
                        Some("delete_cookie") => {
                            let options = delete_args(&call["kwargs"])?;
                            jar.delete_with(name, &options).map_err(|e| e.to_string())
                        }
                        other => Err(format!("unknown method {other:?}")),
                    }
                });
                let want: Vec<String> = expected["headers"]
                    .as_array()
                    .map(|a| {
                        a.iter()
                            .filter_map(|h| h.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                match result {
                    Ok(()) => failures.check(id, jar.set_cookie_headers(now), want),
                    Err(e) => failures.push(id, e),
                }
            }
            other => failures.push(id, format!("unknown op {other:?}")),
        }
    }
    failures.assert_none("set_cookie.json", records.len());
}

// ---------------------------------------------------------------------------
// Regressions: hostile or extreme inputs
// ---------------------------------------------------------------------------

#[test]
fn one_mebibyte_of_empty_cookies_parses_fast() {
    let header = "a=;".repeat((1 << 20) / 3);
    let start = Instant::now();
    let parsed = parse_cookie(&header);
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    assert_eq!(items(&parsed), [("a".to_owned(), String::new())]);
}

#[test]
fn huge_quoted_backslash_values_unquote_linearly() {
    let backslashes = "\\".repeat(100 * 1024);
    let start = Instant::now();
    let even = parse_cookie(&format!("a=\"{backslashes}\""));
    let odd = parse_cookie(&format!("a=\"{backslashes}\\\""));
    assert!(
        start.elapsed() < Duration::from_secs(2),
        "took {:?}",
        start.elapsed()
    );
    // Pairs collapse to one backslash.
    assert_eq!(even["a"], "\\".repeat(50 * 1024));
    // An odd count: the last `\` escapes nothing (the closing quote was
    // stripped first), so it is kept.
    assert_eq!(odd["a"], "\\".repeat(50 * 1024 + 1));
}

#[test]
fn unquote_edge_cases() {
    let cases = [
        (r#"a="\400""#, "400"),
        (r#"a="\377""#, "\u{ff}"),
        (r#"a="\08""#, "08"),
        (r#"a="x\""#, "x\\"),
        ("a=\"x\\\ny\"", "x\\\ny"),
        (r#"a="""#, ""),
        (r#"a=""#, "\""),
        (r#"a="é\351""#, "éé"),
    ];
    for (header, want) in cases {
        assert_eq!(parse_cookie(header)["a"], want, "{header}");
    }
}

#[test]
fn request_cookie_count_is_capped() {
    let mut header: String = (0..MAX_REQUEST_COOKIES + 500)
        .map(|i| format!("c{i}=v; "))
        .collect();
    header.push_str("c0=last");
    let parsed = parse_cookie(&header);
    assert_eq!(parsed.len(), MAX_REQUEST_COOKIES);
    assert!(!parsed.contains_key(&format!("c{MAX_REQUEST_COOKIES}")));
    // Names already kept still take their last value, as in Django.
    assert_eq!(parsed["c0"], "last");
    assert_eq!(parsed.get_index(0).map(|(k, _)| k.as_str()), Some("c0"));
}

#[test]
fn multiple_cookie_headers_are_joined() {
    let mut headers = http::HeaderMap::new();
    headers.append(http::header::COOKIE, "a=1; b=2".parse().unwrap());
    headers.append(http::header::COOKIE, "c=3".parse().unwrap());
    headers.append(
        http::header::COOKIE,
        http::HeaderValue::from_bytes(b"d=\xe9").unwrap(),
    );
    let jar = CookieJar::from_headers(&headers);
    let got: Vec<_> = jar.iter().collect();
    assert_eq!(got, [("a", "1"), ("b", "2"), ("c", "3"), ("d", "\u{fffd}")]);
}

#[test]
fn huge_max_age_saturates_instead_of_overflowing() {
    let header = set_cookie_header("a", "b", &CookieOptions::new().max_age(u64::MAX), NOW).unwrap();
    assert_eq!(
        header,
        "a=b; expires=Fri, 31 Dec 9999 23:59:59 GMT; Max-Age=18446744073709551615; Path=/"
    );
    let header = set_cookie_header("a", "b", &CookieOptions::new().max_age(i64::MIN), NOW).unwrap();
    assert_eq!(
        header,
        "a=b; expires=Mon, 01 Jan 0001 00:00:00 GMT; Max-Age=-9223372036854775808; Path=/"
    );
    // Python's int(1e300) keeps every digit of the float.
    let header = set_cookie_header("a", "b", &CookieOptions::new().max_age(1e300), NOW).unwrap();
    let int_1e300 = "1000000000000000052504760255204420248704468581108159154915854115511802457988908195786371375080447864043704443832883878176942523235360430575644792184786706982848387200926575803737830233794788090059368953234970799945081119038967640880074652742780142494579258788820056842838115669472196386865459400540160";
    assert_eq!(
        header,
        format!("a=b; expires=Fri, 31 Dec 9999 23:59:59 GMT; Max-Age={int_1e300}; Path=/")
    );
    let header = set_cookie_header("a", "b", &CookieOptions::new().max_age(-0.5), NOW).unwrap();
    assert!(header.contains("Max-Age=0;"), "{header}");
    for bad in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let err = set_cookie_header("a", "b", &CookieOptions::new().max_age(bad), NOW);
        assert!(
            matches!(err, Err(CookieError::InvalidMaxAge(_))),
            "{bad}: {err:?}"
        );
    }
}

#[test]
fn extreme_datetimes_and_clocks_do_not_panic() {
    let far = chrono::NaiveDate::from_ymd_opt(200_000, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .unwrap();
    let header = set_cookie_header("a", "b", &CookieOptions::new().expires(far), NOW).unwrap();
    assert!(
        header.contains("expires=Fri, 31 Dec 9999 23:59:59 GMT"),
        "{header}"
    );
    let past = Utc.with_ymd_and_hms(-5000, 1, 1, 0, 0, 0).unwrap();
    let header = set_cookie_header("a", "b", &CookieOptions::new().expires(past), NOW).unwrap();
    assert_eq!(
        header,
        "a=b; expires=Tue, 14 Nov 2023 22:13:20 GMT; Max-Age=0; Path=/"
    );
    for now in [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::MAX,
        f64::MIN,
        -1e18,
    ] {
        let with_age = set_cookie_header("a", "b", &CookieOptions::new().max_age(60), now).unwrap();
        let until = set_cookie_header("a", "b", &CookieOptions::new().expires(far), now).unwrap();
        for header in [&with_age, &until] {
            assert!(header.starts_with("a=b; expires="), "{now}: {header}");
            assert!(
                http::HeaderValue::from_str(header).is_ok(),
                "{now}: {header}"
            );
        }
        assert!(with_age.contains("; Max-Age=60; "), "{now}: {with_age}");
    }
}

#[test]
fn http_date_matches_python_rounding() {
    // Values checked against CPython's `email.utils.formatdate(t, usegmt=True)`.
    let cases = [
        (0.0, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (1_700_000_000.25, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (1_700_000_000.999_999_5, "Tue, 14 Nov 2023 22:13:21 GMT"),
        (1_700_000_000.999_999_3, "Tue, 14 Nov 2023 22:13:20 GMT"),
        (-1.5, "Wed, 31 Dec 1969 23:59:58 GMT"),
        (-4e-7, "Thu, 01 Jan 1970 00:00:00 GMT"),
        (-6e-7, "Wed, 31 Dec 1969 23:59:59 GMT"),
        (-62_135_596_800.0, "Mon, 01 Jan 0001 00:00:00 GMT"),
        (253_402_300_799.0, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (1e300, "Fri, 31 Dec 9999 23:59:59 GMT"),
        (-1e300, "Mon, 01 Jan 0001 00:00:00 GMT"),
        (f64::NAN, "Thu, 01 Jan 1970 00:00:00 GMT"),
    ];
    for (t, want) in cases {
        assert_eq!(http_date(t), want, "{t}");
    }
}

#[test]
fn morsel_reuse_keeps_partitioned_and_emits_it_before_path() {
    let mut jar = CookieJar::new();
    let opts = CookieOptions::new()
        .secure(true)
        .partitioned(true)
        .max_age(10);
    jar.set("chips", "1", &opts).unwrap();
    jar.set("chips", "2", &CookieOptions::new()).unwrap();
    assert_eq!(
        jar.set_cookie_headers(NOW),
        ["chips=2; Max-Age=10; Partitioned; Path=/; Secure"]
    );
}

#[test]
fn option_conversions() {
    let from_duration = set_cookie_header(
        "a",
        "",
        &CookieOptions::new().max_age(Duration::from_millis(90_900)),
        NOW,
    )
    .unwrap();
    let from_timedelta = set_cookie_header(
        "a",
        "",
        &CookieOptions::new().max_age(TimeDelta::milliseconds(90_900)),
        NOW,
    )
    .unwrap();
    let want = r#"a=""; expires=Tue, 14 Nov 2023 22:14:51 GMT; Max-Age=90; Path=/"#;
    assert_eq!(from_duration, want);
    assert_eq!(from_timedelta, want);
    assert_eq!(SameSite::parse("sTrIcT"), Some(SameSite::Strict));
    assert_eq!(String::from(SameSite::None), "None");
    let header = set_cookie_header("a", "", &CookieOptions::new().samesite("lAx"), NOW).unwrap();
    assert_eq!(header, r#"a=""; Path=/; SameSite=lAx"#);
}

// ---------------------------------------------------------------------------
// Policy
// ---------------------------------------------------------------------------

fn strict_set(name: &str, value: &str, options: &CookieOptions) -> Result<(), PolicyViolation> {
    match CookieJar::new().set(name, value, options) {
        Ok(()) => Ok(()),
        Err(CookieError::Policy { reason, .. }) => Err(reason),
        Err(other) => panic!("unexpected error {other:?}"),
    }
}

#[test]
fn policy_rejects_what_browsers_drop() {
    use PolicyViolation as V;
    let secure = || CookieOptions::new().secure(true);
    let cases: Vec<(&str, String, CookieOptions, V)> = vec![
        (
            "a",
            "€".into(),
            CookieOptions::new(),
            V::ForbiddenChar {
                part: CookiePart::Value,
                ch: '€',
            },
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().path("/x\r\nSet-Cookie: evil=1"),
            V::ForbiddenChar {
                part: CookiePart::Path,
                ch: '\r',
            },
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().path("/; Domain=evil.example"),
            V::AttributeInjection {
                part: CookiePart::Path,
            },
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().domain("é.example"),
            V::ForbiddenChar {
                part: CookiePart::Domain,
                ch: 'é',
            },
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().expires("x; Domain=evil"),
            V::AttributeInjection {
                part: CookiePart::Expires,
            },
        ),
        (
            "a",
            "x".repeat(MAX_NAME_VALUE_BYTES),
            CookieOptions::new(),
            V::TooLarge {
                size: MAX_NAME_VALUE_BYTES + 1,
                limit: MAX_NAME_VALUE_BYTES,
            },
        ),
        (
            "__Secure-a",
            "v".into(),
            CookieOptions::new(),
            V::SecurePrefixWithoutSecure,
        ),
        (
            "__secure-a",
            "v".into(),
            CookieOptions::new(),
            V::SecurePrefixWithoutSecure,
        ),
        (
            "__Host-a",
            "v".into(),
            CookieOptions::new(),
            V::HostPrefixWithoutSecure,
        ),
        (
            "__Host-a",
            "v".into(),
            secure().domain("example.com"),
            V::HostPrefixWithDomain,
        ),
        (
            "__Host-a",
            "v".into(),
            secure().path("/app"),
            V::HostPrefixPath {
                path: Some("/app".into()),
            },
        ),
        (
            "__Host-a",
            "v".into(),
            secure().no_path(),
            V::HostPrefixPath { path: None },
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().samesite(SameSite::None),
            V::SameSiteNoneWithoutSecure,
        ),
        (
            "a",
            "v".into(),
            CookieOptions::new().partitioned(true),
            V::PartitionedWithoutSecure,
        ),
    ];
    for (name, value, options, want) in cases {
        assert_eq!(
            strict_set(name, &value, &options),
            Err(want.clone()),
            "{name}={value:.20} {options:?}"
        );
        // Lenient writes it anyway, like Django.
        let mut jar = CookieJar::new().with_policy(CookiePolicy::lenient());
        jar.set(name, &value, &options).unwrap();
        // The header checker reports the same problem (or, for an
        // injection, the bytes that make it one).
        let header = jar.set_cookie_headers(NOW).remove(0);
        let found = browser_rejections(&header);
        match want {
            V::AttributeInjection { .. } => {}
            V::ForbiddenChar { ch, .. } => {
                assert!(
                    found.contains(&V::ForbiddenChar {
                        part: CookiePart::Header,
                        ch
                    }),
                    "{header}: {found:?}"
                )
            }
            want => assert!(found.contains(&want), "{header}: {found:?}"),
        }
    }
    // Fine cookies pass.
    for (name, options) in [
        ("a", CookieOptions::new()),
        ("__Host-a", secure()),
        ("__Secure-a", secure().domain("example.com").path("/x")),
        ("a", secure().samesite("none").partitioned(true)),
        ("a", harmless_attributes()),
    ] {
        assert_eq!(
            strict_set(name, "caf\u{e9} \"quoted\"; \n", &options),
            Ok(()),
            "{name}"
        );
    }
}

/// Every attribute set to something harmless.
fn harmless_attributes() -> CookieOptions {
    CookieOptions::new()
        .max_age(60)
        .domain("example.com")
        .path("/a b")
        .httponly(true)
        .samesite(SameSite::Strict)
        .expires("Wed, 21 Oct 2037 07:28:00 GMT")
}

#[test]
fn failed_set_leaves_the_jar_unchanged() {
    let mut jar = CookieJar::new();
    jar.set("a", "1", &CookieOptions::new().httponly(true))
        .unwrap();
    let before = jar.set_cookie_headers(NOW);
    assert!(jar
        .set("a", "2", &CookieOptions::new().samesite("None"))
        .is_err());
    assert!(jar
        .set("a", "2", &CookieOptions::new().samesite("bogus"))
        .is_err());
    assert!(jar.set("expires", "2", &CookieOptions::new()).is_err());
    assert_eq!(jar.set_cookie_headers(NOW), before);
    assert!(jar.pending("expires").is_none());
}

#[test]
fn strict_delete_of_prefixed_cookies() {
    let mut jar = CookieJar::new();
    // Django adds Secure for the exact prefixes, so these pass.
    jar.delete("__Host-a", None, None).unwrap();
    jar.delete("__Secure-a", Some("/x"), None).unwrap();
    // A lower-case prefix gets no Secure from Django, but browsers match
    // prefixes case-insensitively and would ignore the deletion.
    let err = jar.delete("__secure-a", None, None).unwrap_err();
    assert!(matches!(
        err,
        CookieError::Policy {
            reason: PolicyViolation::SecurePrefixWithoutSecure,
            ..
        }
    ));
    jar.delete_with("n", &DeleteOptions::new().samesite("none").no_path())
        .unwrap();
    assert_eq!(
        jar.set_cookie_headers(NOW),
        [
            r#"__Host-a=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/; Secure"#,
            r#"__Secure-a=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; Path=/x; Secure"#,
            r#"n=""; expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; SameSite=none; Secure"#,
        ]
    );
}

#[test]
fn header_map_output() {
    let mut jar = CookieJar::new();
    jar.set("a", "1", &CookieOptions::new()).unwrap();
    jar.set("b", "2", &CookieOptions::new().httponly(true))
        .unwrap();
    let mut headers = http::HeaderMap::new();
    jar.append_set_cookie_headers(&mut headers, NOW).unwrap();
    let got: Vec<_> = headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    assert_eq!(got, ["a=1; Path=/", "b=2; HttpOnly; Path=/"]);

    let mut lenient = CookieJar::new().with_policy(CookiePolicy::lenient());
    lenient.set("ok", "1", &CookieOptions::new()).unwrap();
    lenient
        .set("a", "1", &CookieOptions::new().path("/\r\n"))
        .unwrap();
    let mut headers = http::HeaderMap::new();
    assert!(matches!(
        lenient.append_set_cookie_headers(&mut headers, NOW),
        Err(CookieError::InvalidHeaderValue { .. })
    ));
    assert!(headers.is_empty());
}

#[test]
fn browser_rejections_reads_headers_like_a_browser() {
    use PolicyViolation as V;
    assert_eq!(browser_rejections("a=1"), []);
    assert_eq!(browser_rejections("=; Path=/"), [V::Empty]);
    assert_eq!(
        browser_rejections("a=1; samesite=NONE"),
        [V::SameSiteNoneWithoutSecure]
    );
    assert_eq!(browser_rejections("a=1; SameSite=None; secure"), []);
    assert_eq!(browser_rejections("__HOST-a=1; Secure; Path=/"), []);
    assert_eq!(
        browser_rejections("__Host-a=1; Secure; Path=relative"),
        [V::HostPrefixPath { path: None }]
    );
    assert_eq!(
        browser_rejections("__Host-a=1; Secure; Path=/; Domain="),
        []
    );
    assert_eq!(
        browser_rejections("a=1\0"),
        [V::ForbiddenChar {
            part: CookiePart::Header,
            ch: '\0'
        }]
    );
    // Messages say why.
    let message = V::HostPrefixPath {
        path: Some("/x".into()),
    }
    .to_string();
    assert!(message.contains("Path=/x"), "{message}");
    let message = CookieError::Policy {
        name: "a".into(),
        reason: V::ForbiddenChar {
            part: CookiePart::Path,
            ch: '\n',
        },
    }
    .to_string();
    assert!(
        message.contains("line feed") && message.contains("Path"),
        "{message}"
    );
}

// ---------------------------------------------------------------------------
// Property-style: accepted cookies are always safe
// ---------------------------------------------------------------------------

/// A tiny deterministic LCG (Knuth's MMIX constants).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    /// Text of up to `max_len` characters; a third of the time it may hold
    /// characters no header can carry.
    fn text(&mut self, max_len: usize) -> String {
        const PLAIN: &[char] = &['a', 'Z', '0', '-', '_', '.', '!', '~', ':'];
        const PUNCT: &[char] = &[
            ' ', '"', '\\', ';', ',', '=', '(', '/', '@', '\t', 'é', 'ÿ', '\u{1}',
        ];
        const HOSTILE: &[char] = &[
            '\r', '\n', '\0', '\u{7f}', '\u{85}', '\u{a0}', '€', '☃', '🍪', '\u{200b}', '\u{2028}',
        ];
        let pools: &[&[char]] = if self.below(3) == 0 {
            &[PLAIN, PUNCT, HOSTILE]
        } else {
            &[PLAIN, PLAIN, PUNCT]
        };
        let len = self.below(max_len + 1);
        (0..len)
            .map(|_| {
                let pool = pools[self.below(pools.len())];
                self.pick(pool)
            })
            .collect()
    }

    fn name(&mut self) -> String {
        let prefix = self.pick(&["", "", "__Host-", "__Secure-", "__host-"]);
        let body = if self.below(4) == 0 {
            self.text(8)
        } else {
            (0..1 + self.below(8))
                .map(|_| self.pick(&['a', 'B', '7', '-', '_', '.', '|']))
                .collect()
        };
        format!("{prefix}{body}")
    }

    fn options(&mut self) -> CookieOptions {
        let mut options = CookieOptions::new();
        if self.below(3) == 0 {
            options = options.path(self.pick(&["/", "/app", ""]));
        } else if self.below(4) == 0 {
            options = options.path(format!("/{}", self.text(6)));
        } else if self.below(8) == 0 {
            options = options.no_path();
        }
        if self.below(4) == 0 {
            options = options.domain(if self.below(2) == 0 {
                "example.com".to_owned()
            } else {
                self.text(6)
            });
        }
        if self.below(4) == 0 {
            options = options.expires(if self.below(2) == 0 {
                "Wed, 21 Oct 2037 07:28:00 GMT".to_owned()
            } else {
                self.text(6)
            });
        } else if self.below(3) == 0 {
            options = options.max_age(self.below(100_000) as i64 - 50_000);
        }
        options.secure = self.below(2) == 0;
        options.httponly = self.below(2) == 0;
        options.partitioned = self.below(5) == 0;
        if self.below(3) == 0 {
            options = options.samesite(self.pick(&["Lax", "strict", "NONE", ""]));
        }
        options
    }
}

#[test]
fn accepted_cookies_never_break_the_header() {
    let mut rng = Lcg(0x7e55_e2a0);
    let (mut accepted, mut rejected) = (0, 0);
    for round in 0..1000 {
        let name = rng.name();
        let value = rng.text(24);
        let options = rng.options();
        let mut jar = CookieJar::new();
        match jar.set(&name, &value, &options) {
            Ok(()) => {
                accepted += 1;
                let headers = jar.set_cookie_headers(NOW + round as f64);
                let [header] = headers.as_slice() else {
                    panic!("one header expected")
                };
                assert!(
                    header.chars().all(|c| matches!(c, ' '..='~' | '\t')),
                    "{name:?}={value:?} {options:?} -> {header:?}"
                );
                assert!(http::HeaderValue::from_str(header).is_ok(), "{header:?}");
                assert_eq!(browser_rejections(header), [], "{header:?}");
                // What a browser sends back reads as the original value.
                let cookie_header = format!("{}={}", name, quote_value(&value));
                assert_eq!(
                    parse_cookie(&cookie_header).get(&name),
                    Some(&value),
                    "{cookie_header:?}"
                );
            }
            Err(CookieError::Policy { .. }) => rejected += 1,
            Err(
                CookieError::IllegalName(_)
                | CookieError::ReservedName(_)
                | CookieError::InvalidSameSite(_),
            ) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        accepted > 100 && rejected > 100,
        "accepted {accepted}, rejected {rejected}"
    );
}
