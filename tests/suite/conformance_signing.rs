//! Every record of the signing vectors produced by the real Django: primitives, `Signer`,
//! `TimestampSigner`, `dumps`/`loads`, and tampered inputs.

use crate::common;
use tessera::time::MaxAge;

use common::vectors::{hex, records_py, to_hex, Failures};
use tessera::json::{self, Value};
use tessera::signing::{
    self, b62, b64, salted_hmac, Algorithm, Secret, SecretKeys, Signer, SigningError,
    TimestampSigner,
};

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("{key} is not a string in {v:?}"))
}

fn id(r: &Value) -> &str {
    text(r, "id")
}

fn secret(v: &Value) -> Secret {
    match v {
        Value::Str(s) => Secret::from(s.as_str()),
        Value::Dict(_) => Secret::from(hex(text(v, "$bytes_hex"))),
        other => panic!("not a secret: {other:?}"),
    }
}

/// Django's `key or settings.SECRET_KEY` and `fallback_keys or SECRET_KEY_FALLBACKS`.
fn keys(key: &Value, fallbacks: Option<&Value>, settings: &Value) -> SecretKeys {
    let current = match key {
        Value::Null => secret(&settings["SECRET_KEY"]),
        k => {
            let s = secret(k);
            if s.is_empty() {
                secret(&settings["SECRET_KEY"])
            } else {
                s
            }
        }
    };
    let fallbacks = match fallbacks {
        None | Some(Value::Null) => &settings["SECRET_KEY_FALLBACKS"],
        Some(f) => f,
    };
    let list = match fallbacks {
        Value::List(l) => l.iter().map(secret).collect(),
        _ => Vec::new(),
    };
    SecretKeys::new(current).with_fallbacks(list)
}

fn max_age(v: &Value) -> Option<MaxAge> {
    match v {
        Value::Null => None,
        Value::Dict(_) => v["$timedelta_seconds"].as_f64().map(MaxAge::seconds),
        Value::Int(n) => Some(MaxAge::whole(i128::from(*n))),
        n => n.as_f64().map(MaxAge::seconds),
    }
}

/// Expected values with `$python_repr` floats turned into real floats.
fn expected_value(v: &Value) -> Value {
    match v {
        Value::Dict(d) if d.contains_key("$python_repr") => match text(v, "$python_repr") {
            "nan" => Value::Float(f64::NAN),
            "inf" => Value::Float(f64::INFINITY),
            "-inf" => Value::Float(f64::NEG_INFINITY),
            other => panic!("unknown repr {other}"),
        },
        Value::Dict(d) => Value::Dict(
            d.iter()
                .map(|(k, v)| (k.clone(), expected_value(v)))
                .collect(),
        ),
        Value::List(l) => Value::List(l.iter().map(expected_value).collect()),
        other => other.clone(),
    }
}

/// Compares an outcome with `expected`: a result (as Python JSON text) or an error kind.
fn check_outcome(f: &mut Failures, r: &Value, got: Result<Value, SigningError>) {
    let expected = &r["expected"];
    match (got, expected.get("error")) {
        (Ok(v), None) => {
            let want = expected_value(&expected["result"]);
            f.check(id(r), json::to_string(&v), json::to_string(&want));
        }
        (Err(e), Some(kind)) => {
            f.check(id(r), e.django_kind(), kind.as_str().unwrap_or(""));
            let want_bad = matches!(expected["is_bad_signature"], Value::Bool(true));
            f.check(id(r), e.is_bad_signature(), want_bad);
        }
        (Ok(v), Some(kind)) => f.push(id(r), format!("got {v:?}, want error {kind:?}")),
        (Err(e), None) => f.push(
            id(r),
            format!("got error {e}, want {:?}", expected["result"]),
        ),
    }
}

fn opt_str(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

enum AnySigner {
    Plain(Signer),
    Timestamp(TimestampSigner),
}

fn build_signer(r: &Value) -> Result<AnySigner, SigningError> {
    let spec = &r["signer"];
    let keys = keys(&spec["key"], spec.get("fallback_keys"), &r["settings"]);
    let salt = opt_str(&spec["salt"]);
    let sep = opt_str(&spec["sep"]);
    let algorithm = opt_str(&spec["algorithm"]);
    Ok(match text(spec, "class") {
        "Signer" => AnySigner::Plain(
            Signer::builder(&keys)
                .salt(salt)
                .sep(sep)
                .algorithm_name(algorithm)
                .build()?,
        ),
        "TimestampSigner" => AnySigner::Timestamp(
            TimestampSigner::builder(&keys)
                .salt(salt)
                .sep(sep)
                .algorithm_name(algorithm)
                .build()?,
        ),
        other => panic!("unknown class {other}"),
    })
}

fn now(r: &Value) -> f64 {
    r["now"].as_f64().unwrap_or(0.0)
}

fn run_signer_record(f: &mut Failures, r: &Value) {
    let signer = build_signer(r);
    let op = text(r, "op");
    let out = signer.and_then(|s| {
        let input = &r["input"];
        Ok(match (op, &s) {
            ("init", _) => Value::from("ok"),
            ("sign", AnySigner::Plain(s)) => Value::from(s.sign(text(r, "input"))),
            ("sign", AnySigner::Timestamp(s)) => Value::from(s.sign_at(text(r, "input"), now(r))),
            ("unsign", AnySigner::Plain(s)) => Value::from(s.unsign(text(r, "input"))?),
            ("unsign", AnySigner::Timestamp(s)) => {
                Value::from(s.unsign_at(text(r, "input"), max_age(&r["max_age"]), now(r))?)
            }
            ("sign_object", AnySigner::Plain(s)) => {
                Value::from(s.sign_object(&r["obj"], matches!(r["compress"], Value::Bool(true))))
            }
            ("sign_object", AnySigner::Timestamp(s)) => Value::from(s.sign_object_at(
                &r["obj"],
                matches!(r["compress"], Value::Bool(true)),
                now(r),
            )),
            ("unsign_object", AnySigner::Plain(s)) => s.unsign_object(opt_str(input))?,
            ("unsign_object", AnySigner::Timestamp(s)) => {
                s.unsign_object_at(opt_str(input), max_age(&r["max_age"]), now(r))?
            }
            (op, _) => panic!("unknown op {op}"),
        })
    });
    check_outcome(f, r, out);
    // The derived key and signature details, where Django reported them.
    if let (Ok(AnySigner::Plain(s)), "sign") = (build_signer(r), op) {
        if let Some(sig) = r["expected"].get("signature") {
            f.check(
                id(r),
                Value::from(s.signature(text(r, "input"))),
                sig.clone(),
            );
        }
        if let Some(salt) = r["expected"].get("effective_salt") {
            f.check(id(r), Value::from(s.salt()), salt.clone());
        }
    }
}

#[test]
fn primitives() {
    let mut f = Failures::default();
    let records = records_py("primitives.json");
    for r in &records {
        let kind = text(r, "kind");
        let expected = &r["expected"];
        match kind {
            "b62_encode" => {
                let n = r["input"].as_i64().expect("int input");
                f.check(id(r), b62::encode(n).as_str(), text(expected, "result"));
            }
            "b62_decode" => {
                let got = b62::decode(text(r, "input"))
                    .map(|n| {
                        i64::try_from(n).map_or_else(|_| Value::BigInt(n.to_string()), Value::Int)
                    })
                    .map_err(SigningError::from);
                check_outcome(&mut f, r, got);
            }
            "b64_encode" => f.check(
                id(r),
                b64::encode(&hex(text(r, "input_hex"))).as_str(),
                text(expected, "result"),
            ),
            "b64_decode" => {
                let got = b64::decode(text(r, "input").as_bytes())
                    .map(|b| Value::from(to_hex(&b)))
                    .map_err(SigningError::from);
                check_outcome(&mut f, r, got);
            }
            "salted_hmac" => {
                let alg = Algorithm::from_name(text(r, "algorithm"));
                match (alg, expected.get("error")) {
                    (Some(alg), None) => {
                        let (derived, mac) = salted_hmac(
                            alg,
                            text(r, "key_salt"),
                            text(r, "value").as_bytes(),
                            secret(&r["secret"]).as_bytes(),
                        );
                        f.check(
                            id(r),
                            to_hex(&derived).as_str(),
                            text(expected, "derived_key_hex"),
                        );
                        f.check(id(r), to_hex(&mac).as_str(), text(expected, "hmac_hex"));
                        f.check(
                            id(r),
                            b64::encode(&mac).as_str(),
                            text(expected, "hmac_b64url_nopad"),
                        );
                    }
                    (None, Some(e)) => f.check(id(r), "InvalidAlgorithm", e.as_str().unwrap_or("")),
                    (alg, err) => f.push(
                        id(r),
                        format!("algorithm {alg:?} vs expected error {err:?}"),
                    ),
                }
            }
            "json_serialize" => {
                let obj = match r.get("obj_python_repr") {
                    Some(repr) => expected_value(&Value::Dict(
                        [("$python_repr".to_owned(), repr.clone())]
                            .into_iter()
                            .collect(),
                    )),
                    None => r["obj"].clone(),
                };
                f.check(
                    id(r),
                    json::to_string(&obj).as_str(),
                    text(expected, "result"),
                );
            }
            "json_deserialize" => {
                let got = json::from_slice(&hex(text(r, "input_hex"))).map_err(SigningError::from);
                check_outcome(&mut f, r, got);
            }
            "zlib_compress" => {
                use std::io::Write;
                let mut z =
                    flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::new(6));
                z.write_all(&hex(text(r, "input_hex"))).unwrap();
                f.check(
                    id(r),
                    to_hex(&z.finish().unwrap()).as_str(),
                    text(expected, "result_hex"),
                );
            }
            other => f.push(id(r), format!("unknown kind {other}")),
        }
    }
    f.assert_none("primitives.json", records.len());
}

#[test]
fn signer() {
    let mut f = Failures::default();
    let records = records_py("signer.json");
    for r in &records {
        run_signer_record(&mut f, r);
    }
    f.assert_none("signer.json", records.len());
}

#[test]
fn timestamp_signer() {
    let mut f = Failures::default();
    let records = records_py("timestamp_signer.json");
    for r in &records {
        run_signer_record(&mut f, r);
        if text(r, "op") == "sign" {
            if let Some(ts) = r["expected"].get("timestamp_b62") {
                let want = ts.as_str().unwrap_or("");
                f.check(id(r), b62::encode(now(r).floor() as i64).as_str(), want);
            }
        }
    }
    f.assert_none("timestamp_signer.json", records.len());
}

fn run_dumps_loads(f: &mut Failures, r: &Value) {
    let settings = &r["settings"];
    let keys = keys(&r["key"], r.get("fallback_keys"), settings);
    let salt = match &r["salt"] {
        Value::Null => signing::DUMPS_SALT,
        s => opt_str(s),
    };
    let got = match text(r, "op") {
        "dumps" => signing::dumps_at(
            &r["obj"],
            &keys,
            salt,
            matches!(r["compress"], Value::Bool(true)),
            now(r),
        )
        .map(Value::from),
        "loads" => signing::loads_at(
            text(r, "input"),
            &keys,
            salt,
            max_age(&r["max_age"]),
            now(r),
        ),
        "unsign" => return run_signer_record(f, r),
        op => panic!("unknown op {op}"),
    };
    check_outcome(f, r, got);
}

#[test]
fn dumps_loads() {
    let mut f = Failures::default();
    let records = records_py("dumps_loads.json");
    for r in &records {
        run_dumps_loads(&mut f, r);
    }
    f.assert_none("dumps_loads.json", records.len());
}

#[test]
fn tampered() {
    let mut f = Failures::default();
    let records = records_py("tampered.json");
    for r in &records {
        run_dumps_loads(&mut f, r);
    }
    f.assert_none("tampered.json", records.len());
}
