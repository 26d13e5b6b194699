//! Parsers for option values (clap `value_parser`s) and conversions shared by commands.

use tessera::cookie::MaxAge;

/// Raw bytes given in hex (`--key-hex`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HexBytes(pub Vec<u8>);

/// Parses hex text (either case, even length) into bytes.
pub fn hex(text: &str) -> Result<HexBytes, String> {
    fn nibble(b: u8) -> Option<u8> {
        match b {
            b'0'..=b'9' => Some(b - b'0'),
            b'a'..=b'f' => Some(b - b'a' + 10),
            b'A'..=b'F' => Some(b - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if bytes.len() % 2 != 0 {
        return Err("hex text must have an even number of digits".to_owned());
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect::<Option<Vec<u8>>>()
        .map(HexBytes)
        .ok_or_else(|| "not hex: only 0-9, a-f and A-F are allowed".to_owned())
}

/// Seconds as Python's `float()` reads them: fractions, negatives, `inf` and `nan` allowed.
pub fn seconds(text: &str) -> Result<f64, String> {
    text.trim()
        .parse::<f64>()
        .map_err(|_| format!("{text:?} is not a number of seconds"))
}

/// A Unix time for `--now`: like [`seconds`], but finite (as `time.time()` always is).
pub fn unix_time(text: &str) -> Result<f64, String> {
    match seconds(text)? {
        t if t.is_finite() => Ok(t),
        _ => Err(format!("{text:?} is not a finite Unix time")),
    }
}

/// A `max_age` for `set_cookie`: an integer literal is a Python `int` (every digit kept in
/// `Max-Age`), anything else a Python `float`.
pub fn cookie_max_age(text: &str) -> Result<MaxAge, String> {
    let trimmed = text.trim();
    match trimmed.parse::<i128>() {
        Ok(whole) => Ok(MaxAge::whole(whole)),
        Err(_) => seconds(trimmed).map(MaxAge::seconds),
    }
}

/// The current time, or the pinned `--now`.
pub fn now_or_clock(now: Option<f64>) -> f64 {
    now.unwrap_or_else(tessera::signing::now)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_parses_and_rejects() {
        assert_eq!(hex("00fFa1"), Ok(HexBytes(vec![0, 255, 161])));
        assert_eq!(hex(""), Ok(HexBytes(vec![])));
        assert!(hex("abc").is_err());
        assert!(hex("zz").is_err());
        assert!(hex("é0").is_err());
    }

    #[test]
    fn seconds_and_times() {
        assert_eq!(seconds("-1.5"), Ok(-1.5));
        assert!(seconds("inf").is_ok_and(f64::is_infinite));
        assert!(seconds("1s").is_err());
        assert!(unix_time("nan").is_err());
        assert_eq!(unix_time("1700000000.25"), Ok(1_700_000_000.25));
    }

    #[test]
    fn cookie_max_age_keeps_int_and_float_apart() {
        assert_eq!(cookie_max_age("3600"), Ok(MaxAge::whole(3600)));
        assert_eq!(cookie_max_age("-120"), Ok(MaxAge::whole(-120)));
        assert_eq!(cookie_max_age("1.9"), Ok(MaxAge::seconds(1.9)));
        assert!(cookie_max_age("soon").is_err());
    }
}
