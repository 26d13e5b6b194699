//! What a session can hold and still be read back: checked when it is written, so a write
//! that could never load again is refused with a clear error instead of being acknowledged
//! and then lost (a load that meets too deep or too large data gives an empty session).

use super::config::SessionConfig;
use super::error::SessionError;
use super::lifetime::expiry_date_of;
use crate::json::{self, Map, Value};
use crate::time::{END_OF_DATES, START_OF_DATES};

/// Checks that `data`, written at `now`, can be stored and read back, and gives its expiry
/// date (Unix seconds): every store refuses the same writes, with the same message.
///
/// Refused, as [`SessionError::Unstorable`] (400): JSON nested deeper than the reader accepts
/// ([`json::MAX_DEPTH`]); more values than [`SessionConfig::max_data_values`]; more bytes of
/// JSON than [`SessionConfig::max_data_bytes`]; an expiry outside the years 1 to 9999 (SQLite
/// failed on it while PostgreSQL and MySQL silently clamped it).
pub(crate) fn check_writable(
    data: &Map,
    config: &SessionConfig,
    now: f64,
) -> Result<f64, SessionError> {
    check_storable(data, config)?;
    let out_of_range = |why: &str| {
        SessionError::Unstorable(format!(
            "the session's expiry {why}: it must fall in the years 1 to 9999, which Django and \
             every database store"
        ))
    };
    let expires_at = expiry_date_of(data, config, now).map_err(|e| match e {
        // Django's `OverflowError` from `timedelta` or `datetime` arithmetic.
        SessionError::Expiry(e) => out_of_range(&format!("cannot be computed ({e})")),
        e => e,
    })?;
    if !(START_OF_DATES..END_OF_DATES).contains(&expires_at) {
        return Err(out_of_range("is out of range"));
    }
    Ok(expires_at)
}

/// The data half of [`check_writable`].
///
/// One walk over the data gives the depth, the value count and an upper bound on the JSON's
/// size (every byte of text escaped); only data whose bound passes the budget is serialized to
/// measure it exactly, so an ordinary session costs a walk, not a second serialization.
fn check_storable(data: &Map, config: &SessionConfig) -> Result<(), SessionError> {
    let mut walk = Walk {
        bound: 2,
        values_left: config.max_data_values,
    };
    for (k, v) in data {
        walk.bound = walk.bound.saturating_add(text_bound(k) + 2);
        walk.value(v, 1).map_err(|over| {
            SessionError::Unstorable(match over {
                Over::Depth => format!(
                    "the session nests deeper than {} levels, which could never be read back",
                    json::MAX_DEPTH
                ),
                Over::Values => format!(
                    "the session holds more than {} values, the most a session may hold",
                    config.max_data_values
                ),
            })
        })?;
    }
    let limit = config.max_data_bytes;
    if walk.bound > limit {
        let size = json::map_to_string(data).len();
        if size > limit {
            return Err(SessionError::Unstorable(format!(
                "the session is {size} bytes of JSON; a session may hold {limit}"
            )));
        }
    }
    Ok(())
}

/// Which limit a walk ran into.
enum Over {
    Depth,
    Values,
}

/// The state of one walk: the JSON size bound so far and how many more values may come.
struct Walk {
    bound: usize,
    values_left: usize,
}

impl Walk {
    /// Adds `value`'s size bound and counts it; `Err` past [`json::MAX_DEPTH`] or the value
    /// budget. The recursion stops there, so its depth is bounded whatever the input (and it
    /// allocates nothing).
    fn value(&mut self, value: &Value, depth: usize) -> Result<(), Over> {
        if depth > json::MAX_DEPTH {
            return Err(Over::Depth);
        }
        self.values_left = self.values_left.checked_sub(1).ok_or(Over::Values)?;
        let own = match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Int(_) | Value::Float(_) => 25,
            Value::BigInt(digits) => digits.len(),
            Value::Str(s) => text_bound(s),
            // Every unit written as `\uXXXX` at worst.
            Value::Utf16(units) => 2 + 6 * units.len(),
            Value::List(items) => {
                for item in items {
                    self.value(item, depth + 1)?;
                }
                2 + 2 * items.len()
            }
            Value::Dict(map) => {
                for (k, v) in map {
                    self.bound = self.bound.saturating_add(text_bound(k) + 4);
                    self.value(v, depth + 1)?;
                }
                2
            }
        };
        self.bound = self.bound.saturating_add(own);
        Ok(())
    }
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
            assert!(
                check_storable(&data, &SessionConfig::default()).is_ok(),
                "{depth}"
            );
            let text = json::map_to_string(&data);
            assert!(json::from_str(&text).is_ok(), "{depth} reads back");
        }
        let data = nested(json::MAX_DEPTH + 1);
        assert!(json::from_str(&json::map_to_string(&data)).is_err());
        assert!(matches!(
            check_storable(&data, &SessionConfig::default()),
            Err(SessionError::Unstorable(_))
        ));
    }

    #[test]
    fn values_bytes_and_expiry_are_checked_against_the_settings() {
        let config = SessionConfig {
            max_data_values: 10,
            max_data_bytes: 100,
            ..SessionConfig::default()
        };
        let mut data = Map::new();
        data.insert("list".into(), Value::List(vec![Value::Null; 9]));
        assert!(
            check_storable(&data, &config).is_ok(),
            "the list and its 9 items"
        );
        data.insert("one".into(), Value::Int(1));
        let e = check_storable(&data, &config).unwrap_err();
        assert!(e.to_string().contains("more than 10 values"), "{e}");

        let mut data = Map::new();
        data.insert("s".into(), Value::Str("x".repeat(92)));
        assert_eq!(json::map_to_string(&data).len(), 100);
        assert!(check_storable(&data, &config).is_ok(), "exactly the budget");
        data.insert("s".into(), Value::Str("x".repeat(93)));
        let e = check_storable(&data, &config).unwrap_err();
        assert!(e.to_string().contains("101 bytes"), "{e}");

        let config = SessionConfig::default();
        let mut data = Map::new();
        let now = 1_700_000_000.0;
        assert_eq!(
            check_writable(&data, &config, now).unwrap(),
            now + 1_209_600.0
        );
        data.insert(
            crate::session::expiry::SESSION_EXPIRY_KEY.into(),
            Value::Str("9999-12-31T23:59:59-14:00".into()),
        );
        let e = check_writable(&data, &config, now).unwrap_err();
        assert!(e.to_string().contains("years 1 to 9999"), "{e}");
        data.insert(
            crate::session::expiry::SESSION_EXPIRY_KEY.into(),
            Value::Str("9999-12-31T23:59:59+00:00".into()),
        );
        assert_eq!(
            check_writable(&data, &config, now).unwrap(),
            END_OF_DATES - 1.0
        );
    }
}
