//! The `session_data` texts the ceiling writes, signed once at startup.
//!
//! They are what tessera's codec writes for the routes' dicts (`{"n": 1}` on `/create`, an
//! increasing `n` on `/write`), so every row has the length tessera's rows have, and Django or
//! tessera can read them. Signing them once is the point: the ceiling leaves out tessera's own
//! per-request cost (HMAC, zlib, JSON) and keeps only the store's.

use tessera::json::{Map, Value};
use tessera::session::codec::SessionCodec;

/// `n` of the first `/write` texts: four digits, as in tessera's rows after the thousands of
/// writes per session of a harness run (its `/write` increments `n` on every request).
const WRITE_N: i64 = 1000;

/// The texts, each with the `n` its dict holds.
#[derive(Debug)]
pub struct Payloads {
    /// `{"n": 1}`: what `/create` stores.
    created: (String, i64),
    /// Two texts `/write` alternates between, so each compare-and-swap really changes the row.
    written: [(String, i64); 2],
}

impl Payloads {
    /// Signs the texts with `codec`.
    pub fn new(codec: &SessionCodec) -> Payloads {
        let text = |n: i64| {
            let mut data = Map::new();
            data.insert("n".to_owned(), Value::from(n));
            (codec.encode(&data), n)
        };
        Payloads {
            created: text(1),
            written: [text(WRITE_N), text(WRITE_N + 1)],
        }
    }

    /// The text `/create` stores, and its `n`.
    pub fn created(&self) -> (&str, i64) {
        (&self.created.0, self.created.1)
    }

    /// `n` of a stored text: 0 for a text the ceiling did not write (tessera's `/read` answers
    /// 0 for a session without `n`).
    pub fn n_of(&self, stored: &str) -> i64 {
        std::iter::once(&self.created)
            .chain(&self.written)
            .find(|(text, _)| text == stored)
            .map_or(0, |(_, n)| *n)
    }

    /// The text `/write` stores over `stored`, and its `n`.
    pub fn after(&self, stored: &str) -> (&str, i64) {
        let next = if stored == self.written[0].0 {
            &self.written[1]
        } else {
            &self.written[0]
        };
        (&next.0, next.1)
    }
}
