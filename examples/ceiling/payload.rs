//! The `session_data` texts the ceiling writes, signed once at startup, or on each write.
//!
//! They are what tessera's codec writes for the routes' dicts (`{"n": 1}` on `/create`, an
//! increasing `n` on `/write`), so every row has the length tessera's rows have, and Django or
//! tessera can read them. Signing them once is the point of the store's ceiling: it leaves
//! out tessera's own per-request cost (HMAC, zlib, JSON) and keeps only the store's.
//!
//! Signed on each write (`--encode-each`), they are what any store of Django's format must
//! write: the dict's JSON, signed with the request's timestamp. That ceiling is the store's
//! plus the least encoding a new or changed session needs, and leaves out the session layer.

use std::borrow::Cow;

use tessera::json::{Map, Value};
use tessera::session::codec::SessionCodec;

/// `n` of the first `/write` texts: four digits, as in tessera's rows after the thousands of
/// writes per session of a harness run (its `/write` increments `n` on every request).
const WRITE_N: i64 = 1000;

/// The texts, each with the `n` its dict holds.
pub struct Payloads {
    /// `{"n": 1}`: what `/create` stores.
    created: (String, i64),
    /// Two texts `/write` alternates between, so each compare-and-swap really changes the row.
    written: [(String, i64); 2],
    /// Set when every write signs its text anew, at the request's time.
    encode_each: Option<SessionCodec>,
}

impl Payloads {
    /// Signs the texts with `codec`, once here, or on each write when `encode_each`.
    pub fn new(codec: &SessionCodec, encode_each: bool) -> Payloads {
        let text = |n: i64| (codec.encode(&dict(n)), n);
        Payloads {
            created: text(1),
            written: [text(WRITE_N), text(WRITE_N + 1)],
            encode_each: encode_each.then(|| codec.clone()),
        }
    }

    /// The text `/create` stores at `now`, and its `n`.
    pub fn created(&self, now: f64) -> (Cow<'_, str>, i64) {
        self.signed(&self.created, now)
    }

    /// `text`, or its dict signed anew at `now` when every write signs.
    fn signed<'a>(&self, (text, n): &'a (String, i64), now: f64) -> (Cow<'a, str>, i64) {
        match &self.encode_each {
            Some(codec) => (Cow::Owned(codec.encode_at(&dict(*n), now)), *n),
            None => (Cow::Borrowed(text), *n),
        }
    }

    /// `n` of a stored text: 0 for a text the ceiling did not write (tessera's `/read` answers
    /// 0 for a session without `n`). Texts are told apart by their payload, the part before
    /// the timestamp, so a text signed on a write is known too.
    pub fn n_of(&self, stored: &str) -> i64 {
        std::iter::once(&self.created)
            .chain(&self.written)
            .find(|(text, _)| payload(text) == payload(stored))
            .map_or(0, |(_, n)| *n)
    }

    /// The text `/write` stores over `stored` at `now`, and its `n`.
    pub fn after(&self, stored: &str, now: f64) -> (Cow<'_, str>, i64) {
        let next = if payload(stored) == payload(&self.written[0].0) {
            &self.written[1]
        } else {
            &self.written[0]
        };
        self.signed(next, now)
    }
}

/// The signed text's payload: what it says, without when or the signature.
fn payload(text: &str) -> &str {
    text.split_once(':').map_or(text, |(payload, _)| payload)
}

/// `{"n": n}`.
fn dict(n: i64) -> Map {
    let mut data = Map::new();
    data.insert("n".to_owned(), Value::from(n));
    data
}
