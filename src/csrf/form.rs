//! The `csrfmiddlewaretoken` field of a POST body, found as Django's `request.POST` finds it.
//!
//! Django parses a form only for `application/x-www-form-urlencoded` and
//! `multipart/form-data`; any other body (JSON, say) has no form, and the token must come in
//! the header. Only the one field is looked for; the body itself goes to the handler intact.

/// Django's `DATA_UPLOAD_MAX_NUMBER_FIELDS`: more fields than this is `TooManyFieldsSent`.
const MAX_FIELDS: usize = 1000;

/// The body could not be read as Django would read it: Django answers 400.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum FormError {
    /// `RequestDataTooBig`.
    #[error("the request body is larger than the form limit")]
    TooBig,
    /// `TooManyFieldsSent`.
    #[error("the form has more than {MAX_FIELDS} fields")]
    TooManyFields,
}

/// The kinds of body Django parses into `request.POST`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FormKind {
    UrlEncoded,
    /// With its `boundary` parameter (empty when missing).
    Multipart(String),
}

impl FormKind {
    /// The form kind of a `Content-Type` value, if it is one Django parses.
    pub fn of(content_type: Option<&[u8]>) -> Option<FormKind> {
        let text: String = content_type?.iter().map(|&b| char::from(b)).collect();
        let mut parts = text.split(';');
        let main = parts.next()?.trim().to_ascii_lowercase();
        match main.as_str() {
            "application/x-www-form-urlencoded" => Some(FormKind::UrlEncoded),
            "multipart/form-data" => {
                let boundary = parts
                    .filter_map(|p| p.split_once('='))
                    .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
                    .map(|(_, v)| v.trim().trim_matches('"').to_owned())
                    .unwrap_or_default();
                Some(FormKind::Multipart(boundary))
            }
            _ => None,
        }
    }

    /// The last `csrfmiddlewaretoken` value of `body` (`request.POST.get(...)`), or `None`.
    pub fn token(&self, body: &[u8]) -> Result<Option<String>, FormError> {
        match self {
            FormKind::UrlEncoded => urlencoded_field(body, super::FORM_FIELD),
            FormKind::Multipart(boundary) => Ok(multipart_field(body, boundary, super::FORM_FIELD)),
        }
    }
}

/// `QueryDict(body).get(name)`: the body as UTF-8 (Latin-1 if it is not), split on `&`,
/// `+` as space, percent-escapes decoded as UTF-8 with replacement; the last value wins.
fn urlencoded_field(body: &[u8], name: &str) -> Result<Option<String>, FormError> {
    let text = match std::str::from_utf8(body) {
        Ok(t) => t.to_owned(),
        Err(_) => body.iter().map(|&b| char::from(b)).collect(),
    };
    if text.matches('&').count() >= MAX_FIELDS {
        return Err(FormError::TooManyFields);
    }
    let mut found = None;
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        if unquote_plus(key) == name {
            found = Some(unquote_plus(value));
        }
    }
    Ok(found)
}

/// Python's `unquote(s.replace('+', ' '))`: valid `%XX` escapes become bytes, read as UTF-8
/// with replacement characters; everything else is kept.
fn unquote_plus(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let escaped = (b == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| {
                u8::from_str_radix(hex, 16)
                    .ok()
                    .filter(|_| !hex.starts_with('+'))
            });
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(if b == b'+' { b' ' } else { b });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The last plain field `name` of a multipart body: a part whose `Content-Disposition` is
/// `form-data` with that `name` and no `filename`. A body that does not parse has no such
/// field (the header token may still pass).
///
/// The body is read as UTF-8 with replacement, as Django decodes a field's value, so the
/// searches are `str::find`: linear time whatever the body and the boundary.
fn multipart_field(body: &[u8], boundary: &str, name: &str) -> Option<String> {
    // Django's `^[ -~]{0,200}[!-~]$`: printable ASCII, not ending in a space.
    let valid = boundary.len() <= 201
        && boundary.bytes().all(|b| (b' '..=b'~').contains(&b))
        && !boundary.ends_with(' ');
    if boundary.is_empty() || !valid {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    let delimiter = format!("--{boundary}");
    let mut found = None;
    // Each part sits between "--boundary" lines; the first piece is the preamble.
    for part in text.split(delimiter.as_str()).skip(1) {
        if part.starts_with("--") {
            break;
        }
        let part = part.strip_prefix("\r\n").unwrap_or(part);
        let Some((head, content)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let content = content.strip_suffix("\r\n").unwrap_or(content);
        if field_name(head).as_deref() == Some(name) {
            found = Some(content.to_owned());
        }
    }
    found
}

/// The `name` of a part whose headers are `head`, if it is a plain `form-data` field (not a
/// file).
fn field_name(head: &str) -> Option<String> {
    let disposition = head.split("\r\n").find_map(|line| {
        let (k, v) = line.split_once(':')?;
        k.trim()
            .eq_ignore_ascii_case("content-disposition")
            .then_some(v)
    })?;
    let mut params = disposition.split(';');
    if !params
        .next()
        .is_some_and(|d| d.trim().eq_ignore_ascii_case("form-data"))
    {
        return None;
    }
    let mut name = None;
    for param in params {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let v = v.trim();
        let v = v
            .strip_prefix('"')
            .and_then(|v| v.strip_suffix('"'))
            .unwrap_or(v);
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v.to_owned()),
            "filename" | "filename*" => return None,
            _ => {}
        }
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlencoded_like_querydict() {
        let kind = FormKind::of(Some(b"Application/X-WWW-Form-Urlencoded; charset=utf-8")).unwrap();
        let token = |body: &str| kind.token(body.as_bytes()).unwrap();
        assert_eq!(
            token("a=1&csrfmiddlewaretoken=x&csrfmiddlewaretoken=y").as_deref(),
            Some("y")
        );
        assert_eq!(token("csrfmiddlewaretoken").as_deref(), Some(""));
        assert_eq!(
            token("csrf%6Diddlewaretoken=a+b%2").as_deref(),
            Some("a b%2")
        );
        assert_eq!(token("x=%C3"), None);
        assert_eq!(unquote_plus("%C3"), "\u{fffd}");
        assert_eq!(unquote_plus("%+1"), "% 1");
        assert_eq!(
            kind.token("&".repeat(1000).as_bytes()),
            Err(FormError::TooManyFields)
        );
        assert_eq!(FormKind::of(Some(b"application/json")), None);
        assert_eq!(FormKind::of(None), None);
    }

    #[test]
    fn multipart_fields_not_files() {
        let kind = FormKind::of(Some(b"multipart/form-data; boundary=\"XX\"")).unwrap();
        let body = "preamble\r\n--XX\r\nContent-Disposition: form-data; name=\"csrfmiddlewaretoken\"; filename=\"t.txt\"\r\n\r\nfile\r\n--XX\r\ncontent-disposition: form-data; name=\"csrfmiddlewaretoken\"\r\n\r\nabc\r\n--XX--\r\n";
        assert_eq!(kind.token(body.as_bytes()).unwrap().as_deref(), Some("abc"));
        assert_eq!(kind.token(b"garbage").unwrap(), None);
        // A boundary the body almost repeats costs linear time, not quadratic.
        let long = FormKind::Multipart("a".repeat(200));
        let start = std::time::Instant::now();
        assert_eq!(long.token("a".repeat(2_000_000).as_bytes()).unwrap(), None);
        assert!(start.elapsed() < std::time::Duration::from_secs(2));
        let none = FormKind::of(Some(b"multipart/form-data")).unwrap();
        assert_eq!(none.token(body.as_bytes()).unwrap(), None);
    }
}
