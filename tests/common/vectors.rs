//! Loading the Django conformance vectors copied into `tests/conformance/django/`.
#![allow(dead_code)]

use std::path::PathBuf;

/// The folder holding the vector copies: under the library's root, which is this package's
/// root or (for the CLI crate's tests) the folder above it.
pub fn dir() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest
        .ancestors()
        .map(|root| root.join("tests/conformance/django"))
        .find(|dir| dir.is_dir())
        .unwrap_or_else(|| panic!("no tests/conformance/django above {}", manifest.display()))
}

/// One vector file, parsed with key order kept.
pub fn load(name: &str) -> serde_json::Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The file's own `record_count`: how many records a loop that runs the whole file must run.
pub fn record_count(name: &str) -> usize {
    load(name)
        .get("record_count")
        .and_then(serde_json::Value::as_u64)
        .and_then(|n| usize::try_from(n).ok())
        .unwrap_or_else(|| panic!("{name}: no record_count"))
}

/// The records of one vector file (as many as its `record_count` says, or a panic).
pub fn records(name: &str) -> Vec<serde_json::Value> {
    let file = load(name);
    let records = match file.get("records") {
        Some(serde_json::Value::Array(r)) => r.clone(),
        _ => panic!("{name}: no records"),
    };
    assert_eq!(
        Some(records.len() as u64),
        file.get("record_count").and_then(serde_json::Value::as_u64),
        "{name}: the records do not match the file's record_count"
    );
    records
}

/// Collects failures so one run reports every failing id, then fails once.
#[derive(Default)]
pub struct Failures(Vec<String>);

impl Failures {
    /// Records a failure of `id` with a reason.
    pub fn push(&mut self, id: &str, why: impl std::fmt::Display) {
        self.0.push(format!("{id}: {why}"));
    }
    /// Compares and records a mismatch.
    pub fn check<T: PartialEq + std::fmt::Debug>(&mut self, id: &str, got: T, want: T) {
        if got != want {
            self.push(id, format!("got {got:?}, want {want:?}"));
        }
    }
    /// Panics listing every failure, if any, or unless `ran` is the whole of `file` (its
    /// `record_count`): a loop that silently skips records cannot pass.
    pub fn assert_none(self, file: &str, ran: usize) {
        let count = record_count(file);
        self.assert_none_in(file, ran);
        assert_eq!(ran, count, "{file}: ran {ran} of its {count} records");
    }

    /// Panics listing every failure, if any, or if `ran` is not a non-empty part of `file`:
    /// for loops that run the records of one kind (the library's loops run the whole file).
    pub fn assert_none_of_part(self, what: &str, file: &str, ran: usize) {
        let count = record_count(file);
        assert!(
            ran > 0 && ran <= count,
            "{what}: ran {ran} records of {file}'s {count}"
        );
        self.assert_none_in(what, ran);
    }

    fn assert_none_in(self, what: &str, total: usize) {
        assert!(
            self.0.is_empty(),
            "{what}: {} of {total} records failed:\n{}",
            self.0.len(),
            self.0.join("\n")
        );
    }
}

/// Decodes lowercase hex.
pub fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Encodes lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// One vector file parsed with Python's JSON rules (exact ints, ints and floats apart).
pub fn load_py(name: &str) -> tessera::json::Value {
    let path = dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    tessera::json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The records of a vector file parsed with [`load_py`] (as many as its `record_count` says).
pub fn records_py(name: &str) -> Vec<tessera::json::Value> {
    let records = match load_py(name) {
        tessera::json::Value::Dict(mut d) => match d.swap_remove("records") {
            Some(tessera::json::Value::List(r)) => r,
            _ => panic!("{name}: no records"),
        },
        _ => panic!("{name}: not an object"),
    };
    assert_eq!(
        records.len(),
        record_count(name),
        "{name}: the records do not match the file's record_count"
    );
    records
}

/// A secret key as the vectors write it: text, or `{"$bytes_hex": "…"}` for bytes.
pub fn secret(v: &tessera::json::Value) -> tessera::signing::Secret {
    use tessera::json::Value;
    use tessera::signing::Secret;
    match v {
        Value::Str(s) => Secret::from(s.as_str()),
        Value::Dict(_) => Secret::from(hex(v["$bytes_hex"].as_str().expect("hex text"))),
        other => panic!("not a secret: {other:?}"),
    }
}

/// A record's `SECRET_KEY` and `SECRET_KEY_FALLBACKS` settings.
pub fn secret_keys(settings: &tessera::json::Value) -> tessera::signing::SecretKeys {
    use tessera::json::Value;
    let fallbacks = match &settings["SECRET_KEY_FALLBACKS"] {
        Value::List(l) => l.iter().map(secret).collect(),
        _ => Vec::new(),
    };
    tessera::signing::SecretKeys::new(secret(&settings["SECRET_KEY"])).with_fallbacks(fallbacks)
}
