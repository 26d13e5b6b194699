//! Base62 timestamps, as Django's `b62_encode` / `b62_decode`.

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Why a base62 string could not be read (Django raises `IndexError` / `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B62Error {
    /// The empty string (Python: `IndexError`).
    #[error("IndexError: empty base62 string")]
    Empty,
    /// A character outside the alphabet (Python: `ValueError`).
    #[error("ValueError: invalid base62 character")]
    InvalidChar,
}

/// Encodes an integer: most significant digit first, `-` for negatives, `0` for zero.
pub fn encode(n: i64) -> String {
    if n == 0 {
        return "0".to_owned();
    }
    let mut digits = Vec::with_capacity(12);
    let mut m = n.unsigned_abs();
    while m > 0 {
        digits.push(ALPHABET[(m % 62) as usize]);
        m /= 62;
    }
    if n < 0 {
        digits.push(b'-');
    }
    digits.reverse();
    // Only alphabet bytes and '-' were pushed.
    String::from_utf8(digits).unwrap_or_default()
}

fn digit(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some((c - b'0') as u32),
        b'A'..=b'Z' => Some((c - b'A') as u32 + 10),
        b'a'..=b'z' => Some((c - b'a') as u32 + 36),
        _ => None,
    }
}

/// Decodes with Django's quirks (`"-"` → 0, leading zeros allowed). Python ints are unbounded;
/// values past `i128` saturate, which only matters for timestamps far beyond any real clock.
pub fn decode(s: &str) -> Result<i128, B62Error> {
    if s.is_empty() {
        return Err(B62Error::Empty);
    }
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let mut acc: i128 = 0;
    for &c in digits.as_bytes() {
        let d = digit(c).ok_or(B62Error::InvalidChar)?;
        acc = acc.saturating_mul(62).saturating_add(d as i128);
    }
    Ok(if negative { -acc } else { acc })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_quirks() {
        assert_eq!(encode(1_700_000_000), "1r31eq");
        assert_eq!(decode("1r31eq"), Ok(1_700_000_000));
        assert_eq!(encode(-61), "-z");
        assert_eq!(decode("-"), Ok(0));
        assert_eq!(decode("00"), Ok(0));
        assert_eq!(decode(""), Err(B62Error::Empty));
        assert_eq!(decode("+1"), Err(B62Error::InvalidChar));
        assert_eq!(decode(&"z".repeat(100)), Ok(i128::MAX));
        assert_eq!(
            encode(i64::MIN),
            format!("-{}", encode_u(i64::MIN.unsigned_abs()))
        );
    }

    fn encode_u(mut m: u64) -> String {
        let mut s = Vec::new();
        while m > 0 {
            s.push(ALPHABET[(m % 62) as usize]);
            m /= 62;
        }
        s.reverse();
        String::from_utf8(s).unwrap()
    }
}
