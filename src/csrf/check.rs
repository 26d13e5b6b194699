//! The decision itself, without HTTP: Django's `CsrfViewMiddleware.process_view` over the
//! facts of one request, with its exact rejection reasons.
//!
//! Kept apart from the layer so the rules can be read (and tested) in one place: the layer
//! only gathers the facts, reads a form body when the rules need it, and answers.

use std::fmt;

use http::{HeaderMap, Method, Request};

use super::config::CsrfRules;
use super::origin::SplitUrl;
use super::token::{check_format, token_matches, unmask, TokenFormatError, CSRF_TOKEN_LENGTH};
use crate::json::Value;

/// The form field a token may come in.
pub const FORM_FIELD: &str = "csrfmiddlewaretoken";
/// The session key that holds the secret with `CSRF_USE_SESSIONS`.
pub const CSRF_SESSION_KEY: &str = "_csrftoken";

/// What the checks read from a request: the parts of Django's `request.META` they use.
#[derive(Clone, PartialEq, Eq)]
pub struct RequestFacts {
    /// The method, upper-cased as Django does.
    pub method: String,
    /// `request.is_secure()`.
    pub secure: bool,
    /// The raw host, as `Host` gives it (or the URI's authority, without a default port);
    /// `None` when there is none.
    pub host: Option<String>,
    /// `request.get_port()`: `SERVER_PORT`, as text.
    pub server_port: String,
    /// The `Origin` header.
    pub origin: Option<String>,
    /// The `Referer` header.
    pub referer: Option<String>,
    /// The token header ([`CsrfConfig::header_name`](super::CsrfConfig::header_name)).
    pub header_token: Option<String>,
}

impl fmt::Debug for RequestFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The submitted token is a credential: only whether there is one is printed.
        f.debug_struct("RequestFacts")
            .field("method", &self.method)
            .field("secure", &self.secure)
            .field("host", &self.host)
            .field("server_port", &self.server_port)
            .field("origin", &self.origin)
            .field("referer", &self.referer)
            .field("header_token", &self.header_token.as_ref().map(|_| ".."))
            .finish()
    }
}

/// A header as Django reads it: several fields joined with `,` (as WSGI servers join them),
/// the bytes as UTF-8 text, or as Latin-1 when they are not UTF-8 (so no value is ever
/// refused for its encoding; the characters only change which reason a refusal gives).
fn header_text(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<String> {
    let mut values = headers.get_all(name).iter().peekable();
    values.peek()?;
    let parts: Vec<String> = values
        .map(|v| match std::str::from_utf8(v.as_bytes()) {
            Ok(text) => text.to_owned(),
            Err(_) => v.as_bytes().iter().map(|&b| char::from(b)).collect(),
        })
        .collect();
    Some(parts.join(","))
}

/// The host a request without `Host` names in its URI (HTTP/2's `:authority`), built as
/// Django rebuilds it from `SERVER_NAME` and `SERVER_PORT`: the port only when it is not
/// the scheme's default.
fn uri_host(uri: &http::Uri, secure: bool) -> Option<String> {
    let authority = uri.authority()?;
    let default = if secure { 443 } else { 80 };
    Some(match authority.port_u16() {
        Some(port) if port != default => format!("{}:{port}", authority.host()),
        _ => authority.host().to_owned(),
    })
}

impl RequestFacts {
    /// The facts of `request`. The host is the `Host` header, else the URI's authority; the
    /// port is the URI's, else the one in `Host`, else the scheme's default (what
    /// `SERVER_PORT` is when a server is reached directly).
    pub fn from_request<B>(request: &Request<B>, rules: &CsrfRules) -> Self {
        let headers = request.headers();
        let uri = request.uri();
        let secure = match &rules.secure_proxy {
            Some((name, value)) => match header_text(headers, name) {
                Some(sent) => sent.split(',').next().unwrap_or("").trim() == value,
                None => uri.scheme_str() == Some("https"),
            },
            None => uri.scheme_str() == Some("https"),
        };
        let host = header_text(headers, http::header::HOST).or_else(|| uri_host(uri, secure));
        let host_port = host
            .as_deref()
            .and_then(|h| h.rsplit_once(':'))
            .map(|(_, p)| p)
            .filter(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
        let server_port = match (uri.port_u16(), host_port) {
            (Some(port), _) => port.to_string(),
            (None, Some(port)) => port.to_owned(),
            (None, None) if secure => "443".to_owned(),
            (None, None) => "80".to_owned(),
        };
        RequestFacts {
            method: request.method().as_str().to_ascii_uppercase(),
            secure,
            host,
            server_port,
            origin: header_text(headers, http::header::ORIGIN),
            referer: header_text(headers, http::header::REFERER),
            header_token: header_text(headers, &rules.header),
        }
    }

    /// GET, HEAD, OPTIONS and TRACE: the methods RFC 9110 calls safe, which pass unchecked.
    pub fn is_safe_method(&self) -> bool {
        matches!(self.method.as_str(), "GET" | "HEAD" | "OPTIONS" | "TRACE")
    }

    /// Whether Django would read `request.POST` (only a POST has a form).
    pub fn is_post(&self) -> bool {
        self.method == Method::POST.as_str()
    }
}

/// The secret a request arrived with: Django's `_get_secret`.
#[derive(Clone, PartialEq, Eq)]
pub enum IncomingSecret {
    /// No cookie (or no `_csrftoken` in the session).
    Missing,
    /// A cookie of the wrong shape: the request is refused, and a new secret is sent.
    Malformed(TokenFormatError),
    /// The secret (a legacy 64-character cookie already unmasked). A session may hold any
    /// string; one that is not a secret simply matches no token.
    Present(String),
}

impl fmt::Debug for IncomingSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The secret is what the tokens prove knowledge of: never printed.
        match self {
            IncomingSecret::Missing => f.write_str("Missing"),
            IncomingSecret::Malformed(e) => write!(f, "Malformed({e:?})"),
            IncomingSecret::Present(_) => f.write_str("Present(..)"),
        }
    }
}

impl IncomingSecret {
    /// From the CSRF cookie's value (`request.COOKIES.get(CSRF_COOKIE_NAME)`).
    pub fn from_cookie(value: Option<&str>) -> Self {
        let Some(value) = value else {
            return IncomingSecret::Missing;
        };
        if let Err(e) = check_format(value) {
            return IncomingSecret::Malformed(e);
        }
        // Django before 4.0 stored the masked form.
        match value.len() {
            CSRF_TOKEN_LENGTH => {
                unmask(value).map_or_else(IncomingSecret::Malformed, IncomingSecret::Present)
            }
            _ => IncomingSecret::Present(value.to_owned()),
        }
    }

    /// From the session's `_csrftoken` value. Django does not check its shape; a value that
    /// is not a string (which would crash Django) is kept as an empty secret, which matches
    /// no token.
    pub fn from_session(value: Option<&Value>) -> Self {
        match value {
            None => IncomingSecret::Missing,
            Some(Value::Str(s)) if s.len() == CSRF_TOKEN_LENGTH => {
                IncomingSecret::Present(unmask(s).unwrap_or_else(|_| s.clone()))
            }
            Some(Value::Str(s)) => IncomingSecret::Present(s.clone()),
            Some(_) => IncomingSecret::Present(String::new()),
        }
    }
}

/// Where a refused token came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The `csrfmiddlewaretoken` form field.
    Form,
    /// The token header, named as Django prints it (`X-Csrftoken`).
    Header(String),
}

/// Why a request was refused; `Display` is Django's reason, word for word.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Rejection {
    /// `Origin` is neither the request's own origin nor trusted.
    BadOrigin(String),
    /// HTTPS without `Origin` or `Referer`.
    NoReferer,
    /// A `Referer` without scheme or host, or one Python cannot parse.
    MalformedReferer,
    /// An `http:` `Referer` on an HTTPS request.
    InsecureReferer,
    /// A `Referer` from another site (the URL as Python re-assembles it).
    BadReferer(String),
    /// No CSRF cookie (or no secret in the session).
    NoCsrfCookie,
    /// A CSRF cookie of the wrong shape.
    BadCookie(TokenFormatError),
    /// Neither the form field nor the header carried a token.
    TokenMissing,
    /// The token has the wrong shape (`Some`) or does not match the secret (`None`).
    BadToken {
        /// Form field or header.
        source: TokenSource,
        /// The shape problem, or `None` for a well-formed token that does not match.
        format: Option<TokenFormatError>,
    },
}

/// Python's `repr()` of a header name: single quotes unless it holds one and no double quote.
fn python_repr(text: &str) -> String {
    if text.contains('\'') && !text.contains('"') {
        format!("\"{text}\"")
    } else {
        format!("'{}'", text.replace('\\', "\\\\").replace('\'', "\\'"))
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::BadOrigin(origin) => write!(
                f,
                "Origin checking failed - {origin} does not match any trusted origins."
            ),
            Rejection::NoReferer => f.write_str("Referer checking failed - no Referer."),
            Rejection::MalformedReferer => {
                f.write_str("Referer checking failed - Referer is malformed.")
            }
            Rejection::InsecureReferer => {
                f.write_str("Referer checking failed - Referer is insecure while host is secure.")
            }
            Rejection::BadReferer(url) => write!(
                f,
                "Referer checking failed - {url} does not match any trusted origins."
            ),
            Rejection::NoCsrfCookie => f.write_str("CSRF cookie not set."),
            Rejection::BadCookie(e) => write!(f, "CSRF cookie {e}."),
            Rejection::TokenMissing => f.write_str("CSRF token missing."),
            Rejection::BadToken { source, format } => {
                f.write_str("CSRF token from ")?;
                match source {
                    TokenSource::Form => f.write_str("POST")?,
                    TokenSource::Header(name) => {
                        write!(f, "the {} HTTP header", python_repr(name))?
                    }
                }
                match format {
                    Some(e) => write!(f, " {e}."),
                    None => f.write_str(" incorrect."),
                }
            }
        }
    }
}

impl std::error::Error for Rejection {}

impl CsrfRules {
    /// `request.get_host()`: the raw host if `ALLOWED_HOSTS` allows it.
    fn good_host<'a>(&self, facts: &'a RequestFacts) -> Option<&'a str> {
        self.config.allowed_hosts.validate(facts.host.as_deref()?)
    }

    /// Django's `_origin_verified`.
    fn origin_verified(&self, facts: &RequestFacts, origin: &str) -> bool {
        if let Some(host) = self.good_host(facts) {
            let scheme = if facts.secure { "https" } else { "http" };
            if origin
                .strip_prefix(scheme)
                .and_then(|r| r.strip_prefix("://"))
                == Some(host)
            {
                return true;
            }
        }
        self.trusted.trusts_origin(origin)
    }

    /// Django's `_check_referer` (HTTPS requests without `Origin`).
    fn check_referer(&self, facts: &RequestFacts) -> Result<(), Rejection> {
        let referer = facts.referer.as_deref().ok_or(Rejection::NoReferer)?;
        let url = SplitUrl::parse(referer).map_err(|_| Rejection::MalformedReferer)?;
        if url.scheme.is_empty() || url.netloc.is_empty() {
            return Err(Rejection::MalformedReferer);
        }
        if url.scheme != "https" {
            return Err(Rejection::InsecureReferer);
        }
        if self.trusted.trusts_referer_host(&url.netloc) {
            return Ok(());
        }
        let cookie_domain = if self.config.use_sessions {
            &self.config.session_cookie_domain
        } else {
            &self.config.cookie_domain
        };
        let good = match cookie_domain {
            Some(domain) if facts.server_port != "443" && facts.server_port != "80" => {
                format!("{domain}:{}", facts.server_port)
            }
            Some(domain) => domain.clone(),
            None => self
                .good_host(facts)
                .ok_or_else(|| Rejection::BadReferer(url.geturl()))?
                .to_owned(),
        };
        if super::origin::is_same_domain(&url.netloc, &good) {
            Ok(())
        } else {
            Err(Rejection::BadReferer(url.geturl()))
        }
    }

    /// The checks that need no secret and no body: `Origin` if sent, else `Referer` on HTTPS.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] Django reports.
    pub fn check_origin(&self, facts: &RequestFacts) -> Result<(), Rejection> {
        if let Some(origin) = &facts.origin {
            if !self.origin_verified(facts, origin) {
                return Err(Rejection::BadOrigin(origin.clone()));
            }
        } else if facts.secure {
            self.check_referer(facts)?;
        }
        Ok(())
    }

    /// The secret the token must match: the request must have brought a well-formed one.
    ///
    /// # Errors
    ///
    /// [`Rejection::BadCookie`] or [`Rejection::NoCsrfCookie`].
    pub fn check_secret<'s>(&self, secret: &'s IncomingSecret) -> Result<&'s str, Rejection> {
        match secret {
            IncomingSecret::Missing => Err(Rejection::NoCsrfCookie),
            IncomingSecret::Malformed(e) => Err(Rejection::BadCookie(*e)),
            IncomingSecret::Present(s) => Ok(s),
        }
    }

    /// The token check: the form field if the form has a non-empty one, else the header.
    ///
    /// # Errors
    ///
    /// [`Rejection::TokenMissing`] or [`Rejection::BadToken`].
    pub fn check_token(
        &self,
        facts: &RequestFacts,
        secret: &str,
        form_token: Option<&str>,
    ) -> Result<(), Rejection> {
        let (token, source) = match form_token.filter(|t| !t.is_empty()) {
            Some(t) => (t, TokenSource::Form),
            None => (
                facts
                    .header_token
                    .as_deref()
                    .ok_or(Rejection::TokenMissing)?,
                TokenSource::Header(self.header_display.clone()),
            ),
        };
        if let Err(e) = check_format(token) {
            return Err(Rejection::BadToken {
                source,
                format: Some(e),
            });
        }
        if token_matches(token, secret) {
            Ok(())
        } else {
            Err(Rejection::BadToken {
                source,
                format: None,
            })
        }
    }

    /// The whole decision for a request that is not exempt: safe methods pass; then the
    /// origin, the secret and the token, in Django's order. `form_token` is the
    /// `csrfmiddlewaretoken` field of a POST form (`None` when there is no form).
    ///
    /// # Errors
    ///
    /// The first [`Rejection`] Django would report.
    ///
    /// ```
    /// use tessera::csrf::{CsrfConfig, IncomingSecret, Rejection, RequestFacts};
    /// let rules = CsrfConfig::default().validate()?;
    /// let facts = RequestFacts {
    ///     method: "POST".into(),
    ///     secure: false,
    ///     host: Some("example.com".into()),
    ///     server_port: "80".into(),
    ///     origin: Some("http://evil.example".into()),
    ///     referer: None,
    ///     header_token: None,
    /// };
    /// let refused = rules.check(&facts, &IncomingSecret::Missing, None).unwrap_err();
    /// assert_eq!(
    ///     refused.to_string(),
    ///     "Origin checking failed - http://evil.example does not match any trusted origins."
    /// );
    /// # Ok::<(), tessera::session::ConfigError>(())
    /// ```
    pub fn check(
        &self,
        facts: &RequestFacts,
        secret: &IncomingSecret,
        form_token: Option<&str>,
    ) -> Result<(), Rejection> {
        if facts.is_safe_method() {
            return Ok(());
        }
        self.check_origin(facts)?;
        let secret = self.check_secret(secret)?;
        self.check_token(facts, secret, form_token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let s = IncomingSecret::Present("ZxzychBDhjhAM2g0FyIF3wcwrJpXFdja".into());
        assert_eq!(format!("{s:?}"), "Present(..)");
    }

    #[test]
    fn facts_follow_django_s_meta() {
        let rules = crate::csrf::CsrfConfig::default().validate().unwrap();
        let facts = |req: Request<()>| RequestFacts::from_request(&req, &rules);
        let f = facts(Request::post("http://testserver:80/x").body(()).unwrap());
        assert_eq!(
            (f.host.as_deref(), f.server_port.as_str()),
            (Some("testserver"), "80")
        );
        let f = facts(Request::post("https://h:8443/x").body(()).unwrap());
        assert_eq!(
            (f.host.as_deref(), f.server_port.as_str()),
            (Some("h:8443"), "8443")
        );
        assert!(f.secure);
        let f = facts(
            Request::post("/x")
                .header("host", "example.org:8000")
                .header("origin", "http://é.example")
                .header("x-csrftoken", "a")
                .header("x-csrftoken", "b")
                .method("delete")
                .body(())
                .unwrap(),
        );
        assert_eq!(f.server_port, "8000");
        assert_eq!(f.origin.as_deref(), Some("http://é.example"));
        assert_eq!(f.header_token.as_deref(), Some("a,b"));
        assert_eq!(f.method, "DELETE");
        assert!(!f.is_safe_method());
        assert!(!format!("{f:?}").contains("a,b"), "no token in Debug");
    }

    #[test]
    fn header_names_are_quoted_as_python_does() {
        assert_eq!(python_repr("X-Csrftoken"), "'X-Csrftoken'");
        assert_eq!(python_repr("X-It'S"), "\"X-It'S\"");
    }
}
