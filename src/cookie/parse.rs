//! Reading the `Cookie` request header exactly like Django's
//! `django.http.cookie.parse_cookie` (spec §7).
//!
//! Django does no validation here: it splits on every `;`, takes the first
//! `=`, strips Python whitespace and unquotes with `http.cookies._unquote`.
//! Matching those quirks byte for byte matters because signed cookies and
//! session keys are compared against what Django would have read.
//!
//! Every function is linear in the input size. The only deliberate
//! difference from Django is [`MAX_REQUEST_COOKIES`]: a hostile header cannot
//! make the map grow beyond that many names.

use indexmap::IndexMap;

/// At most this many distinct cookie names are kept from one request.
///
/// Chunks that would add a new name once the limit is reached are ignored;
/// values of names already kept are still updated (last value wins, as in
/// Django). Browsers send far fewer cookies per host (around 180), so real
/// traffic never reaches the limit.
pub const MAX_REQUEST_COOKIES: usize = 1000;

/// Parses a `Cookie` header like Django's `parse_cookie`.
///
/// - The header is split on every `;` (a `,` is not a separator).
/// - A chunk with `=` is split at the first one; a chunk without `=` has
///   the name `""` and the whole chunk as value.
/// - Name and value are stripped of the characters Python's `str.strip()`
///   removes (see [`is_python_whitespace`]).
/// - A chunk whose name and value are both empty is skipped.
/// - The value is unquoted (see [`unquote`]).
/// - A repeated name keeps its first position and takes the last value.
///
/// ```
/// use tessera::cookie::parse_cookie;
/// let jar = parse_cookie("a=1; b=\"x\\073y\"; a=2; lone");
/// let items: Vec<_> = jar.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
/// assert_eq!(items, [("a", "2"), ("b", "x;y"), ("", "lone")]);
/// ```
pub fn parse_cookie(header: &str) -> IndexMap<String, String> {
    let mut cookies = IndexMap::new();
    for chunk in header.split(';') {
        let (name, value) = match chunk.split_once('=') {
            Some((name, value)) => (name, value),
            None => ("", chunk),
        };
        let name = strip_python_whitespace(name);
        let value = strip_python_whitespace(value);
        if name.is_empty() && value.is_empty() {
            continue;
        }
        if let Some(slot) = cookies.get_mut(name) {
            *slot = unquote(value);
        } else if cookies.len() < MAX_REQUEST_COOKIES {
            cookies.insert(name.to_owned(), unquote(value));
        }
    }
    cookies
}

/// Parses raw `Cookie` header bytes the way Django's WSGI handler does:
/// UTF-8 with every invalid sequence replaced by U+FFFD, then
/// [`parse_cookie`].
///
/// ```
/// use tessera::cookie::parse_cookie_bytes;
/// let jar = parse_cookie_bytes(b"a=\xe9\xff; b=ok");
/// assert_eq!(jar["a"], "\u{fffd}\u{fffd}");
/// assert_eq!(jar["b"], "ok");
/// ```
pub fn parse_cookie_bytes(raw: &[u8]) -> IndexMap<String, String> {
    parse_cookie(&String::from_utf8_lossy(raw))
}

/// Parses every `Cookie` header of a request as one.
///
/// HTTP/2 and HTTP/3 may split the cookies over several `Cookie` header
/// fields; they are joined with `"; "` (RFC 9113 §8.2.3) before parsing,
/// so the result is what Django would see behind a proxy that re-joins them.
pub fn parse_request_cookies<'a>(
    headers: impl IntoIterator<Item = &'a http::HeaderValue>,
) -> IndexMap<String, String> {
    let mut joined: Vec<u8> = Vec::new();
    for (i, value) in headers.into_iter().enumerate() {
        if i > 0 {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(value.as_bytes());
    }
    parse_cookie_bytes(&joined)
}

/// Returns whether Python's `str.strip()` (no argument) removes `c`.
///
/// This is Python's `str.isspace()`: Unicode White_Space plus the
/// information separators U+001C–U+001F. It differs from Rust's
/// [`char::is_whitespace`], which does not include U+001C–U+001F.
/// U+200B (zero width space) and NUL are *not* whitespace.
pub fn is_python_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t'..='\r'
            | '\u{1c}'..='\u{20}'
            | '\u{85}'
            | '\u{a0}'
            | '\u{1680}'
            | '\u{2000}'..='\u{200a}'
            | '\u{2028}'
            | '\u{2029}'
            | '\u{202f}'
            | '\u{205f}'
            | '\u{3000}'
    )
}

fn strip_python_whitespace(s: &str) -> &str {
    s.trim_matches(is_python_whitespace)
}

/// Undoes cookie value quoting like Python's `http.cookies._unquote`.
///
/// A value that is shorter than 2 characters or does not both start and
/// end with `"` is returned unchanged. Otherwise the quotes are dropped and,
/// left to right, `\` followed by `[0-3][0-7][0-7]` becomes that octal code
/// point and `\` followed by any character except a newline becomes that
/// character. Anything else (a trailing `\`, `\` before a newline) is kept.
///
/// ```
/// use tessera::cookie::unquote;
/// assert_eq!(unquote(r#""\012\073\054""#), "\n;,");
/// assert_eq!(unquote(r#""\400""#), "400");
/// assert_eq!(unquote(r#""abc"#), r#""abc"#);
/// ```
pub fn unquote(value: &str) -> String {
    // A lone `"` yields `None` here: its prefix and suffix would overlap.
    let Some(inner) = value
        .strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
    else {
        return value.to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let rest = chars.as_str();
        if let Some(decoded) = octal_escape(rest) {
            out.push(decoded);
            chars = rest[3..].chars();
            continue;
        }
        match chars.clone().next() {
            Some(next) if next != '\n' => {
                out.push(next);
                chars.next();
            }
            // Lone trailing backslash, or backslash before a newline: kept.
            _ => out.push('\\'),
        }
    }
    out
}

/// Decodes `[0-3][0-7][0-7]` at the start of `s` (the part after a `\`).
fn octal_escape(s: &str) -> Option<char> {
    match s.as_bytes() {
        [a @ b'0'..=b'3', b @ b'0'..=b'7', c @ b'0'..=b'7', ..] => {
            let code = u32::from(a - b'0') * 64 + u32::from(b - b'0') * 8 + u32::from(c - b'0');
            char::from_u32(code)
        }
        _ => None,
    }
}
