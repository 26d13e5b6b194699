//! What a session can hold and still be read back: checked when it is written, so a write
//! that could never load again is refused with a clear error instead of being acknowledged
//! and then lost (a load that meets too deep or too large data gives an empty session).

use super::error::SessionError;
use crate::json::{self, Map, Value};
use crate::signing::MAX_DECOMPRESSED_BYTES;

/// Refuses `data` when its JSON would nest deeper than the reader accepts
/// ([`json::MAX_DEPTH`]) or be larger than it decompresses ([`MAX_DECOMPRESSED_BYTES`]).
///
/// One walk over the data gives the depth and an upper bound on the JSON's size (every byte
/// of text escaped); only data whose bound passes the limit is serialized to measure it
/// exactly, so an ordinary session costs a walk, not a second serialization.
pub(crate) fn check_storable(data: &Map) -> Result<(), SessionError> {
    let mut bound = 2usize;
    for (k, v) in data {
        bound = bound.saturating_add(text_bound(k) + 2);
        walk(v, 1, &mut bound).map_err(|()| {
            SessionError::Unstorable(format!(
                "the session nests deeper than {} levels, which could never be read back",
                json::MAX_DEPTH
            ))
        })?;
    }
    let limit = usize::try_from(MAX_DECOMPRESSED_BYTES).unwrap_or(usize::MAX);
    if bound > limit {
        let size = json::map_to_string(data).len();
        if size > limit {
            return Err(SessionError::Unstorable(format!(
                "the session is {size} bytes of JSON; a session is read back up to {limit}"
            )));
        }
    }
    Ok(())
}

/// Adds `value`'s size bound to `bound`; `Err` past [`json::MAX_DEPTH`]. The recursion stops
/// there, so its depth is bounded whatever the input (and it allocates nothing).
fn walk(value: &Value, depth: usize, bound: &mut usize) -> Result<(), ()> {
    if depth > json::MAX_DEPTH {
        return Err(());
    }
    let own = match value {
        Value::Null | Value::Bool(_) => 5,
        Value::Int(_) | Value::Float(_) => 25,
        Value::BigInt(digits) => digits.len(),
        Value::Str(s) => text_bound(s),
        Value::List(items) => {
            for item in items {
                walk(item, depth + 1, bound)?;
            }
            2 + 2 * items.len()
        }
        Value::Dict(map) => {
            for (k, v) in map {
                *bound = bound.saturating_add(text_bound(k) + 4);
                walk(v, depth + 1, bound)?;
            }
            2
        }
    };
    *bound = bound.saturating_add(own);
    Ok(())
}

/// The most bytes a string can take in Python's ASCII-only JSON: six per byte (`\u00e9`), plus
/// the quotes.
fn text_bound(s: &str) -> usize {
    s.len().saturating_mul(6).saturating_add(2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested(depth: usize) -> Map {
        let mut v = Value::Int(1);
        for _ in 1..depth {
            v = Value::List(vec![v]);
        }
        let mut data = Map::new();
        data.insert("deep".into(), v);
        data
    }

    #[test]
    fn depth_is_checked_as_the_reader_checks_it() {
        for depth in [1, 100, json::MAX_DEPTH] {
            let data = nested(depth);
            assert!(check_storable(&data).is_ok(), "{depth}");
            let text = json::map_to_string(&data);
            assert!(json::from_str(&text).is_ok(), "{depth} reads back");
        }
        let data = nested(json::MAX_DEPTH + 1);
        assert!(json::from_str(&json::map_to_string(&data)).is_err());
        assert!(matches!(
            check_storable(&data),
            Err(SessionError::Unstorable(_))
        ));
    }
}
