//! The `Origin` and `Referer` checks, and the pieces of Python and Django they are made of:
//! `urllib.parse.urlsplit`, `is_same_domain`, `split_domain_port` and `ALLOWED_HOSTS`.
//!
//! The rejection messages quote what Python parsed (`referer.geturl()`), so the parsing is
//! Python's, quirks included: a scheme is lower-cased, tabs and newlines vanish, an unclosed
//! `[` is a `ValueError` ("Referer is malformed"), and hosts are compared case-sensitively
//! against lower-cased patterns.

use std::net::Ipv6Addr;

/// `urllib.parse.urlsplit` (Python 3.13) of a URL: the parts the checks read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SplitUrl {
    pub scheme: String,
    pub netloc: String,
    path: String,
    query: String,
    fragment: String,
}

/// `urlsplit` raised `ValueError`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct InvalidUrl;

/// WHATWG "C0 control or space": what `urlsplit` strips from the start.
fn is_c0_or_space(c: char) -> bool {
    c <= ' '
}

fn is_scheme_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')
}

impl SplitUrl {
    /// Parses `url` as `urlsplit(url)` does.
    pub fn parse(url: &str) -> Result<SplitUrl, InvalidUrl> {
        let cleaned: String = url
            .trim_start_matches(is_c0_or_space)
            .chars()
            .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
            .collect();
        let mut rest = cleaned.as_str();
        let mut scheme = String::new();
        if let Some(i) = rest.find(':') {
            let head = &rest[..i];
            let first_alpha = head.chars().next().is_some_and(|c| c.is_ascii_alphabetic());
            if i > 0 && first_alpha && head.chars().all(is_scheme_char) {
                scheme = head.to_ascii_lowercase();
                rest = &rest[i + 1..];
            }
        }
        let mut netloc = "";
        if let Some(after) = rest.strip_prefix("//") {
            let end = after.find(['/', '?', '#']).unwrap_or(after.len());
            netloc = &after[..end];
            rest = &after[end..];
            let (open, close) = (netloc.contains('['), netloc.contains(']'));
            if open != close {
                return Err(InvalidUrl);
            }
            if open {
                let inside = netloc.split_once('[').map_or("", |(_, r)| r);
                let host = inside.split_once(']').map_or(inside, |(h, _)| h);
                check_bracketed_host(host)?;
            }
        }
        let (rest, fragment) = rest.split_once('#').unwrap_or((rest, ""));
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        Ok(SplitUrl {
            scheme,
            netloc: netloc.to_owned(),
            path: path.to_owned(),
            query: query.to_owned(),
            fragment: fragment.to_owned(),
        })
    }

    /// `geturl()`: the URL put back together (what Django quotes in its messages).
    pub fn geturl(&self) -> String {
        let mut url = String::new();
        if !self.scheme.is_empty() {
            url.push_str(&self.scheme);
            url.push(':');
        }
        if !self.netloc.is_empty() {
            url.push_str("//");
            url.push_str(&self.netloc);
            if !self.path.is_empty() && !self.path.starts_with('/') {
                url.push('/');
            }
        } else if self.path.starts_with("//")
            || (!self.scheme.is_empty()
                && USES_NETLOC.contains(&self.scheme.as_str())
                && (self.path.is_empty() || self.path.starts_with('/')))
        {
            url.push_str("//");
        }
        url.push_str(&self.path);
        if !self.query.is_empty() {
            url.push('?');
            url.push_str(&self.query);
        }
        if !self.fragment.is_empty() {
            url.push('#');
            url.push_str(&self.fragment);
        }
        url
    }
}

/// `urllib.parse.uses_netloc`.
const USES_NETLOC: &[&str] = &[
    "",
    "ftp",
    "http",
    "gopher",
    "nntp",
    "telnet",
    "imap",
    "wais",
    "file",
    "mms",
    "https",
    "shttp",
    "snews",
    "prospero",
    "rtsp",
    "rtsps",
    "rtspu",
    "rsync",
    "svn",
    "svn+ssh",
    "sftp",
    "nfs",
    "git",
    "git+ssh",
    "ws",
    "wss",
    "itms-services",
];

/// `_check_bracketed_host`: an IPv6 address (a zone after `%` allowed) or an IPvFuture.
fn check_bracketed_host(host: &str) -> Result<(), InvalidUrl> {
    if let Some(future) = host.strip_prefix('v') {
        // `v[a-fA-F0-9]+\.[a-zA-Z0-9\._~!$&'()*+,;=:]+`, matched from the start.
        let (version, address) = future.split_once('.').ok_or(InvalidUrl)?;
        let address_ok = !address.is_empty()
            && address
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._~!$&'()*+,;=:".contains(c));
        return if !version.is_empty()
            && version.chars().all(|c| c.is_ascii_hexdigit())
            && address_ok
        {
            Ok(())
        } else {
            Err(InvalidUrl)
        };
    }
    let (address, zone) = host.split_once('%').unwrap_or((host, ""));
    if host.contains('%') && (zone.is_empty() || zone.contains('%')) {
        return Err(InvalidUrl);
    }
    address
        .parse::<Ipv6Addr>()
        .map(drop)
        .map_err(|_| InvalidUrl)
}

/// Django's `is_same_domain(host, pattern)`: `pattern` (lower-cased) is the host itself, or
/// starts with `.` and the host is that domain or one under it. `host` is not lower-cased.
pub(crate) fn is_same_domain(host: &str, pattern: &str) -> bool {
    if pattern.is_empty() {
        return false;
    }
    let pattern = pattern.to_lowercase();
    match pattern.strip_prefix('.') {
        Some(base) => host.ends_with(&pattern) || host == base,
        None => host == pattern,
    }
}

/// Django's `split_domain_port`: the lower-cased domain (one trailing dot removed) if `host`
/// is a valid `domain[:port]` or `[ipv6][:port]`, else `None`.
pub(crate) fn valid_domain(host: &str) -> Option<String> {
    if !host.is_ascii() {
        return None;
    }
    let host = host.to_ascii_lowercase();
    let (domain, port) = if let Some(inner) = host.strip_prefix('[') {
        let (address, port) = inner.split_once(']')?;
        let (head, tail) = address.split_once(':')?;
        let hex = |c: char| c.is_ascii_digit() || ('a'..='f').contains(&c);
        let ok = head.chars().all(hex)
            && !tail.is_empty()
            && tail.chars().all(|c| hex(c) || c == '.' || c == ':');
        if !ok {
            return None;
        }
        (host[..address.len() + 2].to_owned(), port)
    } else {
        let end = host.find(':').unwrap_or(host.len());
        let domain = &host[..end];
        let ok = !domain.is_empty()
            && domain
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '.' || c == '-');
        if !ok {
            return None;
        }
        (domain.to_owned(), &host[end..])
    };
    if !port.is_empty() {
        let digits = port.strip_prefix(':')?;
        if digits.is_empty() || !digits.chars().all(|c| c.is_ascii_digit()) {
            return None;
        }
    }
    let domain = domain
        .strip_suffix('.')
        .map_or(domain.clone(), str::to_owned);
    (!domain.is_empty()).then_some(domain)
}

/// `ALLOWED_HOSTS`: which `Host` values `request.get_host()` accepts.
///
/// A host the list refuses is never "the request's own origin", so same-site checks fail for
/// it (Django's `DisallowedHost` inside the CSRF checks).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum AllowedHosts {
    /// Every syntactically valid host, as `ALLOWED_HOSTS = ["*"]`. The default: a browser
    /// sends the attacked site's own `Host`, so this does not weaken the CSRF checks; set a
    /// list to match a Django deployment exactly.
    #[default]
    Any,
    /// Django's patterns: `www.example.com`, `.example.com` (the domain and its subdomains),
    /// `*` (anything).
    List(Vec<String>),
}

impl AllowedHosts {
    /// A list of Django `ALLOWED_HOSTS` patterns.
    pub fn list<I, S>(patterns: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        AllowedHosts::List(patterns.into_iter().map(Into::into).collect())
    }

    /// `request.get_host()`: `raw` itself if its domain is valid and allowed.
    pub(crate) fn validate<'a>(&self, raw: &'a str) -> Option<&'a str> {
        let domain = valid_domain(raw)?;
        let allowed = match self {
            AllowedHosts::Any => true,
            AllowedHosts::List(patterns) => patterns
                .iter()
                .any(|p| p == "*" || is_same_domain(&domain, p)),
        };
        allowed.then_some(raw)
    }
}

/// `CSRF_TRUSTED_ORIGINS`, split as Django's middleware caches it.
#[derive(Debug, Clone, Default)]
pub(crate) struct TrustedOrigins {
    /// Origins without `*`, compared whole.
    exact: Vec<String>,
    /// `(scheme, ".domain")` for each `scheme://*.domain`.
    subdomains: Vec<(String, String)>,
    /// Every origin's netloc with leading `*` removed, for the `Referer` check (any scheme).
    hosts: Vec<String>,
}

impl TrustedOrigins {
    /// Prepares the list; an origin `urlsplit` refuses is an error.
    pub fn new(origins: &[String]) -> Result<Self, InvalidUrl> {
        let mut trusted = TrustedOrigins::default();
        for origin in origins {
            let parsed = SplitUrl::parse(origin)?;
            let host = parsed.netloc.trim_start_matches('*').to_owned();
            if origin.contains('*') {
                trusted.subdomains.push((parsed.scheme, host.clone()));
            } else {
                trusted.exact.push(origin.clone());
            }
            trusted.hosts.push(host);
        }
        Ok(trusted)
    }

    /// Django's `_origin_verified` after the same-host test: an exact trusted origin, or a
    /// subdomain of a wildcard one with the same scheme.
    pub fn trusts_origin(&self, origin: &str) -> bool {
        if self.exact.iter().any(|o| o == origin) {
            return true;
        }
        let Ok(parsed) = SplitUrl::parse(origin) else {
            return false;
        };
        self.subdomains
            .iter()
            .any(|(scheme, host)| *scheme == parsed.scheme && is_same_domain(&parsed.netloc, host))
    }

    /// Whether a `Referer`'s netloc is one of the trusted origins' hosts.
    pub fn trusts_referer_host(&self, netloc: &str) -> bool {
        self.hosts.iter().any(|h| is_same_domain(netloc, h))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urlsplit_like_python() {
        let u = SplitUrl::parse("HTTPS://api.Example.com/x?y=1#f").unwrap();
        assert_eq!(u.scheme, "https");
        assert_eq!(u.netloc, "api.Example.com");
        assert_eq!(u.geturl(), "https://api.Example.com/x?y=1#f");
        assert_eq!(SplitUrl::parse("https://[::1/"), Err(InvalidUrl));
        assert_eq!(SplitUrl::parse("https://[zz]/"), Err(InvalidUrl));
        assert!(SplitUrl::parse("https://[::1]:8/").is_ok());
        let u = SplitUrl::parse("www.example.com/form/").unwrap();
        assert_eq!((u.scheme.as_str(), u.netloc.as_str()), ("", ""));
        assert_eq!(
            SplitUrl::parse(" http://a\t.b/?").unwrap().geturl(),
            "http://a.b/"
        );
        assert_eq!(SplitUrl::parse("null").unwrap().netloc, "");
    }

    #[test]
    fn hosts_like_django() {
        assert_eq!(
            valid_domain("Example.org:8000").as_deref(),
            Some("example.org")
        );
        assert_eq!(valid_domain("example.org.").as_deref(), Some("example.org"));
        assert_eq!(valid_domain("[::1]:80").as_deref(), Some("[::1]"));
        assert_eq!(valid_domain("bad host"), None);
        assert_eq!(valid_domain("a:"), None);
        assert_eq!(valid_domain(""), None);
        let hosts = AllowedHosts::list([".example.com"]);
        assert_eq!(
            hosts.validate("api.example.com:1"),
            Some("api.example.com:1")
        );
        assert_eq!(hosts.validate("evil.test"), None);
        assert!(is_same_domain("a.example.com", ".EXAMPLE.com"));
        assert!(!is_same_domain("A.example.com", "a.example.com"));
    }
}
