//! Cookie name validation and value quoting, as Python's `http.cookies`
//! (`Morsel.set` and `_quote`) does them for Django.

use std::fmt::Write as _;

use super::error::CookieError;

/// Attribute names Python's `Morsel` refuses as cookie names
/// (compared case-insensitively).
const RESERVED_NAMES: [&str; 9] = [
    "expires", "path", "comment", "domain", "max-age", "secure", "httponly", "version", "samesite",
];

/// Whether `c` is in Python's `_LegalChars`:
/// ``A–Z a–z 0–9 ! # $ % & ' * + - . ^ _ ` | ~ :``.
pub(crate) fn is_legal_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~:".contains(c)
}

/// Characters that are not legal but still written unescaped inside quotes.
fn is_unescaped_extra(c: char) -> bool {
    " ()/<=>?@[]{}".contains(c)
}

/// Checks a cookie name like `Morsel.set`: reserved attribute names first
/// (case-insensitive), then one or more legal characters.
///
/// # Errors
///
/// [`CookieError::ReservedName`] or [`CookieError::IllegalName`].
pub fn validate_name(name: &str) -> Result<(), CookieError> {
    if RESERVED_NAMES
        .iter()
        .any(|reserved| reserved.eq_ignore_ascii_case(name))
    {
        return Err(CookieError::ReservedName(name.to_owned()));
    }
    if name.is_empty() || !name.chars().all(is_legal_char) {
        return Err(CookieError::IllegalName(name.to_owned()));
    }
    Ok(())
}

/// Quotes a cookie value like Python's `http.cookies._quote`.
///
/// A non-empty value made only of legal characters is returned as is.
/// Anything else, including `""`, is wrapped in double quotes with `"` and
/// `\` backslash-escaped and every other code point below U+0100 that is
/// neither legal nor one of `` ␠()/<=>?@[]{}`` written as `\ooo` octal.
/// Code points from U+0100 up pass through raw.
///
/// ```
/// use tessera::cookie::quote_value;
/// assert_eq!(quote_value("abc"), "abc");
/// assert_eq!(quote_value(""), "\"\"");
/// assert_eq!(quote_value("semi;colon"), r#""semi\073colon""#);
/// assert_eq!(quote_value("café €"), "\"caf\\351 €\"");
/// ```
pub fn quote_value(value: &str) -> String {
    if !value.is_empty() && value.chars().all(is_legal_char) {
        return value.to_owned();
    }
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_legal_char(c) || is_unescaped_extra(c) => out.push(c),
            // Writing to a `String` cannot fail.
            c if u32::from(c) < 0x100 => _ = write!(out, "\\{:03o}", u32::from(c)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
