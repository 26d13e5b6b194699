//! Guard rails: cookies Django would happily write but a browser or an HTTP
//! stack would reject, or that would corrupt the header.
//!
//! Django validates only the name and `samesite`. Everything else is
//! written raw, so a `path` with `;` injects attributes, a `€` in a value
//! makes the header unsendable over WSGI, and a `__Host-` cookie with a
//! `Domain` is silently dropped by browsers. tessera's
//! [`CookieJar`](crate::cookie::CookieJar) refuses those by default
//! ([`CookiePolicy::strict`]); [`CookiePolicy::lenient`] writes exactly what
//! Django would. [`browser_rejections`] explains an existing header.
//!
//! The rules follow RFC 6265bis as current browsers implement it: cookie
//! prefixes are matched case-insensitively, and `SameSite=None` and
//! `Partitioned` both require `Secure`.

use super::error::{CookiePart, PolicyViolation};
use super::morsel::Morsel;

/// Browsers drop a cookie whose name plus value exceeds this many bytes.
pub const MAX_NAME_VALUE_BYTES: usize = 4096;

/// Whether tessera refuses cookies that browsers or HTTP stacks would reject.
///
/// The default is strict. `lenient` writes exactly what Django would,
/// including headers browsers drop; use it only for byte-compatibility
/// tests or when another layer already validates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct CookiePolicy {
    /// Skip every check below (Django's behaviour).
    pub lenient: bool,
}

impl CookiePolicy {
    /// Refuse cookies with any [`PolicyViolation`] (the default).
    pub const fn strict() -> Self {
        CookiePolicy { lenient: false }
    }

    /// Write what Django would, unchecked.
    pub const fn lenient() -> Self {
        CookiePolicy { lenient: true }
    }

    /// Checks a cookie's pending state: `Ok` if it is acceptable or the
    /// policy is lenient, otherwise the first violation.
    pub fn check(&self, morsel: &Morsel) -> Result<(), PolicyViolation> {
        if self.lenient {
            return Ok(());
        }
        match violations(morsel).into_iter().next() {
            Some(violation) => Err(violation),
            None => Ok(()),
        }
    }
}

/// Every [`PolicyViolation`] of a cookie's pending state, regardless of
/// policy.
pub fn violations(morsel: &Morsel) -> Vec<PolicyViolation> {
    let mut found = Vec::new();
    let parts = [
        (CookiePart::Name, Some(morsel.name())),
        (CookiePart::Value, Some(morsel.coded_value())),
        (CookiePart::Domain, morsel.domain()),
        (CookiePart::Path, morsel.path()),
        (CookiePart::Expires, morsel.raw_expires()),
        (CookiePart::SameSite, morsel.samesite()),
    ];
    for (part, text) in parts {
        let Some(text) = text else { continue };
        let allowed: fn(char) -> bool = match part {
            // RFC 6265bis names are tokens; Django also allows ':', which is not one.
            CookiePart::Name => is_token,
            _ => is_header_safe,
        };
        if let Some(ch) = text.chars().find(|&c| !allowed(c)) {
            found.push(PolicyViolation::ForbiddenChar { part, ch });
        }
        if !matches!(part, CookiePart::Name | CookiePart::Value) && text.contains(';') {
            found.push(PolicyViolation::AttributeInjection { part });
        }
    }
    check_size(morsel.name(), morsel.coded_value(), &mut found);
    check_attributes(
        &Attributes {
            name: morsel.name(),
            secure: morsel.secure(),
            domain: morsel.domain(),
            path: morsel.path(),
            samesite: morsel.samesite(),
            partitioned: morsel.partitioned(),
        },
        &mut found,
    );
    found
}

/// Why a browser would drop this `Set-Cookie` header value (empty if it
/// would keep it), reading it the way RFC 6265bis browsers do.
///
/// Useful to warn about headers produced by Django or by a lenient jar.
///
/// ```
/// use tessera::cookie::{browser_rejections, PolicyViolation};
/// assert!(browser_rejections("id=1; Path=/; Secure").is_empty());
/// assert_eq!(
///     browser_rejections("__Host-id=1; Domain=example.com; Path=/; Secure"),
///     [PolicyViolation::HostPrefixWithDomain],
/// );
/// ```
pub fn browser_rejections(header: &str) -> Vec<PolicyViolation> {
    let mut found = Vec::new();
    if let Some(ch) = header.chars().find(|&c| !is_header_safe(c)) {
        found.push(PolicyViolation::ForbiddenChar {
            part: CookiePart::Header,
            ch,
        });
    }
    let mut pieces = header.split(';');
    let pair = pieces.next().unwrap_or_default();
    let (name, value) = match pair.split_once('=') {
        Some((name, value)) => (trim_wsp(name), trim_wsp(value)),
        None => ("", trim_wsp(pair)),
    };
    if name.is_empty() && value.is_empty() {
        found.push(PolicyViolation::Empty);
    }
    check_size(name, value, &mut found);

    let mut attributes = Attributes {
        name,
        ..Attributes::default()
    };
    for piece in pieces {
        let (key, value) = match piece.split_once('=') {
            Some((key, value)) => (trim_wsp(key), trim_wsp(value)),
            None => (trim_wsp(piece), ""),
        };
        match key.to_ascii_lowercase().as_str() {
            "secure" => attributes.secure = true,
            "partitioned" => attributes.partitioned = true,
            "domain" if !value.is_empty() => attributes.domain = Some(value),
            // A path not starting with `/` means the default path.
            "path" => attributes.path = Some(value).filter(|p| p.starts_with('/')),
            "samesite" => attributes.samesite = Some(value),
            _ => {}
        }
    }
    check_attributes(&attributes, &mut found);
    found
}

/// The attributes the prefix and `Secure` rules look at.
#[derive(Default)]
struct Attributes<'a> {
    name: &'a str,
    secure: bool,
    domain: Option<&'a str>,
    path: Option<&'a str>,
    samesite: Option<&'a str>,
    partitioned: bool,
}

fn check_size(name: &str, value: &str, found: &mut Vec<PolicyViolation>) {
    let size = name.len() + value.len();
    if size > MAX_NAME_VALUE_BYTES {
        found.push(PolicyViolation::TooLarge {
            size,
            limit: MAX_NAME_VALUE_BYTES,
        });
    }
}

fn check_attributes(attrs: &Attributes<'_>, found: &mut Vec<PolicyViolation>) {
    if has_prefix_ignore_case(attrs.name, "__Secure-") && !attrs.secure {
        found.push(PolicyViolation::SecurePrefixWithoutSecure);
    }
    if has_prefix_ignore_case(attrs.name, "__Host-") {
        if !attrs.secure {
            found.push(PolicyViolation::HostPrefixWithoutSecure);
        }
        if attrs.domain.is_some() {
            found.push(PolicyViolation::HostPrefixWithDomain);
        }
        if attrs.path != Some("/") {
            found.push(PolicyViolation::HostPrefixPath {
                path: attrs.path.map(str::to_owned),
            });
        }
    }
    let samesite_none = attrs
        .samesite
        .is_some_and(|s| s.eq_ignore_ascii_case("none"));
    if samesite_none && !attrs.secure {
        found.push(PolicyViolation::SameSiteNoneWithoutSecure);
    }
    if attrs.partitioned && !attrs.secure {
        found.push(PolicyViolation::PartitionedWithoutSecure);
    }
}

/// Visible ASCII, space or tab: what survives every HTTP stack unchanged.
/// An RFC 9110 `tchar`, the characters of an RFC 6265bis cookie name.
fn is_token(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

fn is_header_safe(c: char) -> bool {
    matches!(c, ' '..='~' | '\t')
}

fn has_prefix_ignore_case(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Trims RFC 6265bis whitespace (space and tab).
fn trim_wsp(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}
