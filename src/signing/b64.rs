//! URL-safe base64 without padding, and Django's lenient decoder.

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, URL_SAFE_NO_PAD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;

/// Why base64 text could not be decoded (Python: `binascii.Error`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum B64Error {
    /// One data character more than a multiple of four.
    #[error("binascii.Error: number of data characters cannot be 1 more than a multiple of 4")]
    Length,
    /// The data ends in the middle of a group.
    #[error("binascii.Error: Incorrect padding")]
    Padding,
}

/// Django's `b64_encode`: URL-safe alphabet, every trailing `=` removed.
pub fn encode(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Encodes `data` into `out`, returning the length, or `None` if `out` is too small.
pub fn encode_slice(data: &[u8], out: &mut [u8]) -> Option<usize> {
    URL_SAFE_NO_PAD.encode_slice(data, out).ok()
}

/// Appends the encoding of `data` to `out`, without allocating a new string.
pub fn encode_into(data: &[u8], out: &mut String) {
    URL_SAFE_NO_PAD.encode_string(data, out);
}

const LENIENT: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_allow_trailing_bits(true)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone),
);

/// Django's `b64_decode`: pad to a multiple of four, then decode as CPython's non-strict
/// `a2b_base64` does (characters outside the alphabet are skipped, `+`/`/` and `-`/`_` both
/// accepted, decoding stops at a completed padding group). Django only ever decodes text whose
/// signature already verified, so this leniency is unreachable for an attacker.
pub fn decode(s: &[u8]) -> Result<Vec<u8>, B64Error> {
    // The usual case: clean URL-safe text.
    if let Ok(v) = URL_SAFE_NO_PAD.decode(s) {
        return Ok(v);
    }
    let padded_len = s.len() + (4 - s.len() % 4) % 4;
    let mut data = Vec::with_capacity(s.len());
    let mut pads = 0usize;
    let mut finished = false;
    for i in 0..padded_len {
        let c = s.get(i).copied().unwrap_or(b'=');
        if c == b'=' {
            let quad = data.len() % 4;
            if quad >= 2 {
                pads += 1;
                if quad + pads >= 4 {
                    finished = true;
                    break;
                }
            }
            continue;
        }
        let c = match c {
            b'-' => b'+',
            b'_' => b'/',
            c => c,
        };
        if c.is_ascii_alphanumeric() || c == b'+' || c == b'/' {
            data.push(c);
            pads = 0;
        }
    }
    match data.len() % 4 {
        1 => return Err(B64Error::Length),
        0 => {}
        _ if !finished => return Err(B64Error::Padding),
        _ => {}
    }
    LENIENT.decode(&data).map_err(|_| B64Error::Padding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_like_django() {
        assert_eq!(decode(b"YQ").unwrap(), b"a");
        assert_eq!(decode(b"YQ===").unwrap(), b"a");
        assert_eq!(decode(b"YW!!Jj").unwrap(), b"abc");
        assert_eq!(decode(b"/+8").unwrap(), [0xff, 0xef]);
        assert_eq!(decode(b"Y"), Err(B64Error::Length));
        assert_eq!(decode(b"=YQ"), Err(B64Error::Padding));
        assert_eq!(encode(b""), "");
    }
}
