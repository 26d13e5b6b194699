//! The grammar of store URLs, read once: a scheme, what stands before `?`, and the query's
//! parameters in order, percent-decoded. Each store takes the parameters it knows and names
//! any other in its error ([`crate::url::open`] assembles a backend from a URL).

use super::StoreError;

pub(crate) fn config_error(msg: impl Into<String>) -> StoreError {
    StoreError::Config(msg.into())
}

/// A store URL split once: `scheme://target?name=value&…`. The target (authority and path)
/// is the backend's to read; the parameters are taken by name, and what no backend took is an
/// error.
#[derive(Debug)]
pub(crate) struct StoreUrl<'a> {
    /// The part before `://`.
    pub(crate) scheme: &'a str,
    /// Between `://` and the first `?`, as written.
    pub(crate) target: &'a str,
    params: Vec<Param<'a>>,
}

/// One query parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Param<'a> {
    /// Percent-decoded.
    pub(crate) name: String,
    /// Percent-decoded (except `db=` of a `cached+` URL, which is a URL itself).
    pub(crate) value: String,
    /// `name=value` as written, for a driver that parses the URL again.
    pub(crate) raw: &'a str,
}

impl<'a> StoreUrl<'a> {
    /// Splits `url`. Messages never echo it (it may hold a password).
    pub(crate) fn parse(url: &'a str) -> Result<Self, StoreError> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            config_error("a store URL looks like scheme://…, e.g. sqlite://tessera.sqlite3")
        })?;
        if scheme.is_empty() {
            return Err(config_error("a store URL needs a scheme, e.g. sqlite://"));
        }
        let (target, query) = rest.split_once('?').unwrap_or((rest, ""));
        let cached = scheme.starts_with("cached+");
        let mut params = Vec::new();
        let mut query = query;
        while !query.is_empty() {
            // `db=` of a `cached+` URL is the rest, `&`s and all.
            let (pair, next) = if cached && query.starts_with("db=") {
                (query, "")
            } else {
                query.split_once('&').unwrap_or((query, ""))
            };
            query = next;
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let name = percent_decode(name)?;
            let value = if cached && name == "db" {
                value.to_owned()
            } else {
                percent_decode(value)?
            };
            params.push(Param {
                name,
                value,
                raw: pair,
            });
        }
        Ok(StoreUrl {
            scheme,
            target,
            params,
        })
    }

    /// Fails on the first parameter not in `known`, naming it, the scheme and what the scheme
    /// takes.
    pub(crate) fn only(&self, known: &[&str]) -> Result<(), StoreError> {
        let Some(unknown) = self
            .params
            .iter()
            .find(|p| !known.contains(&p.name.as_str()))
        else {
            return Ok(());
        };
        let takes = if known.is_empty() {
            "it takes none".to_owned()
        } else {
            format!("known: {}", known.join(", "))
        };
        Err(config_error(format!(
            "unknown parameter {:?} for {}:// ({takes})",
            unknown.name, self.scheme
        )))
    }

    /// Removes every `name` parameter and returns the last one's value.
    pub(crate) fn take(&mut self, name: &str) -> Option<String> {
        let mut value = None;
        self.params.retain_mut(|p| {
            if p.name == name {
                value = Some(std::mem::take(&mut p.value));
                false
            } else {
                true
            }
        });
        value
    }

    /// [`take`](Self::take), parsed; `what` says what the value must be.
    pub(crate) fn take_parsed<T: std::str::FromStr>(
        &mut self,
        name: &str,
        what: &str,
    ) -> Result<Option<T>, StoreError> {
        self.take(name)
            .map(|v| {
                v.parse()
                    .map_err(|_| config_error(format!("{}://: {name} must be {what}", self.scheme)))
            })
            .transpose()
    }

    /// The parameters not taken, in order.
    #[cfg(any(test, feature = "mysql"))]
    pub(crate) fn params(&self) -> &[Param<'a>] {
        &self.params
    }

    /// `scheme://target`, with the parameters not taken as they were written, for a driver
    /// that reads the URL itself.
    #[cfg(any(test, feature = "postgres", feature = "mysql"))]
    pub(crate) fn to_driver_url(&self) -> String {
        let mut url = format!("{}://{}", self.scheme, self.target);
        for (i, p) in self.params.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(p.raw);
        }
        url
    }
}

/// `%XX` escapes decoded; a malformed escape or non-UTF-8 result is an error rather than
/// text taken literally, so a mistyped value is never used.
pub(crate) fn percent_decode(s: &str) -> Result<String, StoreError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let byte = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| config_error("store URL: bad %-escape"))?;
            out.push(byte);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| config_error("store URL: %-escapes are not UTF-8"))
}

/// A local path from the target: `/abs` stays absolute, anything else is relative to the
/// working directory.
pub(crate) fn local_path(target: &str) -> Result<std::path::PathBuf, StoreError> {
    if target.is_empty() {
        return Err(config_error("the URL names no path"));
    }
    Ok(std::path::PathBuf::from(target))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_split_once() {
        let url = StoreUrl::parse("redis://u:p%40ss@h:1/2?prefix=%3A1%3A&&x&a=b=c").unwrap();
        assert_eq!((url.scheme, url.target), ("redis", "u:p%40ss@h:1/2"));
        let params: Vec<_> = url
            .params()
            .iter()
            .map(|p| (p.name.as_str(), p.value.as_str(), p.raw))
            .collect();
        assert_eq!(
            params,
            [
                ("prefix", ":1:", "prefix=%3A1%3A"),
                ("x", "", "x"),
                ("a", "b=c", "a=b=c")
            ]
        );
        let mut url = StoreUrl::parse("sqlite://db?table=a&table=b&max=1").unwrap();
        assert_eq!(url.take("table").as_deref(), Some("b"), "the last one wins");
        assert_eq!(url.to_driver_url(), "sqlite://db?max=1");
        // `db=` of a cached+ URL is the rest, as written.
        let mut url =
            StoreUrl::parse("cached+redis://h?prefix=p&db=mysql://h/d?table=t&x=%41").unwrap();
        assert_eq!(url.take("db").as_deref(), Some("mysql://h/d?table=t&x=%41"));
        assert_eq!(url.to_driver_url(), "cached+redis://h?prefix=p");
        for bad in ["nonsense", "://x", "memory://?a=%zz", "memory://?a=%ff"] {
            assert!(
                matches!(StoreUrl::parse(bad), Err(StoreError::Config(_))),
                "{bad}"
            );
        }
    }
}
