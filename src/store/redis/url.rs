//! The Redis URLs [`RedisStore::connect`](super::RedisStore::connect) takes, parsed into a
//! topology (its nodes, credentials and database) and the store's query parameters.

use std::time::Duration;

use crate::store::tls::{RedisTls, TLS_CA};
use crate::store::url::{percent_decode, StoreUrl};
use crate::store::StoreError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub(super) host: String,
    pub(super) port: u16,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Auth {
    pub(super) user: Option<String>,
    pub(super) pass: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Topology {
    Standalone {
        node: Node,
        auth: Auth,
        db: i64,
    },
    Cluster {
        nodes: Vec<Node>,
        auth: Auth,
    },
    Sentinel {
        sentinels: Vec<Node>,
        master: String,
        auth: Auth,
        db: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ParsedUrl {
    pub(super) topology: Topology,
    /// `rediss`: TLS to every node.
    pub(super) tls: Option<RedisTls>,
    pub(super) prefix: Option<String>,
    /// Django's `CACHES[…]["KEY_PREFIX"]` and `["VERSION"]`.
    pub(super) key_prefix: Option<String>,
    pub(super) version: Option<i64>,
    pub(super) response_timeout: Option<Duration>,
    pub(super) connect_timeout: Option<Duration>,
}

fn config_err(msg: impl Into<String>) -> StoreError {
    StoreError::Config(format!("redis URL: {}", msg.into()))
}

/// The query parameters a Redis URL takes.
const URL_PARAMS: [&str; 5] = [
    "prefix",
    "key_prefix",
    "version",
    "response_timeout_ms",
    "connect_timeout_ms",
];
/// The query parameters a TLS (`rediss`) URL takes.
const TLS_URL_PARAMS: [&str; 6] = [
    "prefix",
    "key_prefix",
    "version",
    "response_timeout_ms",
    "connect_timeout_ms",
    TLS_CA,
];

/// Parses the three URL forms of [the store's docs](super). Messages never echo the URL (it
/// may hold a password).
pub(super) fn parse_url(mut url: StoreUrl<'_>) -> Result<ParsedUrl, StoreError> {
    // `rediss`, `rediss+cluster`, `rediss+sentinel`: the same topologies over TLS.
    let (scheme, tls) = match url.scheme.strip_prefix("rediss") {
        Some(topology) => (format!("redis{topology}"), true),
        None => (url.scheme.to_owned(), false),
    };
    let (authority, path) = url.target.split_once('/').unwrap_or((url.target, ""));
    let (auth, hosts) = match authority.rsplit_once('@') {
        Some((userinfo, hosts)) => {
            let (user, pass) = match userinfo.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (userinfo, None),
            };
            let auth = Auth {
                user: Some(percent_decode(user)?).filter(|u| !u.is_empty()),
                pass: pass.map(percent_decode).transpose()?,
            };
            (auth, hosts)
        }
        None => (Auth::default(), authority),
    };
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let parse_db = |s: &str| {
        s.parse::<i64>()
            .ok()
            .filter(|d| *d >= 0)
            .ok_or_else(|| config_err("the database must be a non-negative number"))
    };
    let topology = match scheme.as_str() {
        "redis" => {
            let nodes = parse_hosts(hosts, 6379)?;
            let [node] = <[Node; 1]>::try_from(nodes)
                .map_err(|_| config_err("redis:// takes one host (use redis+cluster://)"))?;
            let db = match segments.as_slice() {
                [] => 0,
                [db] => parse_db(db)?,
                _ => return Err(config_err("expected redis://host:port[/db]")),
            };
            Topology::Standalone { node, auth, db }
        }
        "redis+cluster" => {
            if !segments.is_empty() {
                return Err(config_err("a cluster has only database 0: no path allowed"));
            }
            Topology::Cluster {
                nodes: parse_hosts(hosts, 6379)?,
                auth,
            }
        }
        "redis+sentinel" => {
            let (master, db) = match segments.as_slice() {
                [m] => (percent_decode(m)?, 0),
                [m, db] => (percent_decode(m)?, parse_db(db)?),
                _ => {
                    return Err(config_err(
                        "expected redis+sentinel://host:port,…/master_name[/db]",
                    ))
                }
            };
            Topology::Sentinel {
                sentinels: parse_hosts(hosts, 26379)?,
                master,
                auth,
                db,
            }
        }
        _ => {
            return Err(config_err(
                "the scheme must be redis, redis+cluster or redis+sentinel \
                 (rediss… with TLS)",
            ))
        }
    };
    let tls = if tls {
        url.only(&TLS_URL_PARAMS)?;
        Some(RedisTls::from_url(&mut url)?)
    } else {
        url.only(&URL_PARAMS)?;
        None
    };
    let mut ms = |name: &str| match url.take(name) {
        None => Ok(None),
        Some(value) => value
            .parse::<u64>()
            .ok()
            .filter(|ms| *ms > 0)
            .map(|ms| Some(Duration::from_millis(ms)))
            .ok_or_else(|| config_err(format!("{name} must be a positive number of ms"))),
    };
    let response_timeout = ms("response_timeout_ms")?;
    let connect_timeout = ms("connect_timeout_ms")?;
    let version = match url.take("version") {
        None => None,
        Some(v) => Some(
            v.parse::<i64>()
                .map_err(|_| config_err("version must be an integer, as Django's VERSION"))?,
        ),
    };
    Ok(ParsedUrl {
        topology,
        tls,
        prefix: url.take("prefix"),
        key_prefix: url.take("key_prefix"),
        version,
        response_timeout,
        connect_timeout,
    })
}

/// `host[:port],host[:port],…`, hosts possibly `[ipv6]`.
fn parse_hosts(hosts: &str, default_port: u16) -> Result<Vec<Node>, StoreError> {
    let nodes = hosts
        .split(',')
        .map(|h| {
            let (host, port) = if let Some(rest) = h.strip_prefix('[') {
                let (host, after) = rest
                    .split_once(']')
                    .ok_or_else(|| config_err("unclosed [ in an IPv6 host"))?;
                (host, after.strip_prefix(':'))
            } else {
                match h.rsplit_once(':') {
                    Some((host, port)) => (host, Some(port)),
                    None => (h, None),
                }
            };
            if host.is_empty() {
                return Err(config_err("empty host"));
            }
            let port = match port {
                Some(p) => p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(|| config_err("bad port"))?,
                None => default_port,
            };
            Ok(Node {
                host: host.to_owned(),
                port,
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if nodes.is_empty() {
        return Err(config_err("no host"));
    }
    Ok(nodes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(url: &str) -> Result<ParsedUrl, StoreError> {
        parse_url(StoreUrl::parse(url)?)
    }

    fn node(host: &str, port: u16) -> Node {
        Node {
            host: host.into(),
            port,
        }
    }

    #[test]
    fn standalone_urls() {
        let p = parse("redis://127.0.0.1:6380/3?prefix=%3A1%3Ax.").unwrap();
        assert_eq!(
            p.topology,
            Topology::Standalone {
                node: node("127.0.0.1", 6380),
                auth: Auth::default(),
                db: 3
            }
        );
        assert_eq!(p.prefix.as_deref(), Some(":1:x."));
        let p = parse("redis://u:p%40ss@localhost").unwrap();
        assert_eq!(
            p.topology,
            Topology::Standalone {
                node: node("localhost", 6379),
                auth: Auth {
                    user: Some("u".into()),
                    pass: Some("p@ss".into())
                },
                db: 0
            }
        );
        let p = parse("redis://:secret@[::1]:7000/?response_timeout_ms=250").unwrap();
        assert_eq!(
            p.topology,
            Topology::Standalone {
                node: node("::1", 7000),
                auth: Auth {
                    user: None,
                    pass: Some("secret".into())
                },
                db: 0
            }
        );
        assert_eq!(p.response_timeout, Some(Duration::from_millis(250)));
    }

    #[test]
    fn cluster_and_sentinel_urls() {
        let p = parse("redis+cluster://a:1,b:2,c").unwrap();
        assert_eq!(
            p.topology,
            Topology::Cluster {
                nodes: vec![node("a", 1), node("b", 2), node("c", 6379)],
                auth: Auth::default()
            }
        );
        let p = parse("redis+sentinel://s1:26379,s2/mymaster/2").unwrap();
        assert_eq!(
            p.topology,
            Topology::Sentinel {
                sentinels: vec![node("s1", 26379), node("s2", 26379)],
                master: "mymaster".into(),
                auth: Auth::default(),
                db: 2
            }
        );
    }

    #[test]
    fn every_topology_takes_the_three_parameters() {
        for url in [
            "redis://h",
            "redis+sentinel://s1,s2/m",
            "redis+cluster://a:1,b:2",
        ] {
            let p = parse(&format!(
                "{url}?prefix=a%20b&response_timeout_ms=20&connect_timeout_ms=30"
            ))
            .unwrap();
            assert_eq!(p.prefix.as_deref(), Some("a b"));
            assert_eq!(p.response_timeout, Some(Duration::from_millis(20)));
            assert_eq!(p.connect_timeout, Some(Duration::from_millis(30)));
            let Err(StoreError::Config(msg)) = parse(&format!("{url}?prefix=p&db=1")) else {
                panic!("{url}: db= is not a Redis parameter");
            };
            let scheme = url.split_once("://").unwrap().0;
            assert_eq!(
                msg,
                format!(
                    "unknown parameter \"db\" for {scheme}:// \
                     (known: prefix, key_prefix, version, response_timeout_ms, connect_timeout_ms)"
                )
            );
        }
    }

    #[test]
    fn bad_urls_are_config_errors_without_secrets() {
        for bad in [
            "127.0.0.1:6379",
            "http://x",
            "rediss://x?tls_ca=/nonexistent/ca.pem",
            "redis://x?tls_ca=/etc/ssl/certs/ca-certificates.crt",
            "redis+tls://x",
            "redis://a,b",
            "redis://h:0",
            "redis://h:99999",
            "redis://h/x",
            "redis://h/1/2",
            "redis+cluster://h/1",
            "redis+sentinel://h",
            "redis://:hunter2@h?nope=1",
            "redis://h?prefix=%zz",
            "redis://h?connect_timeout_ms=0",
        ] {
            match parse(bad) {
                Err(StoreError::Config(msg)) => assert!(!msg.contains("hunter2"), "{msg}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    /// `rediss…`: the same three topologies over TLS, with `tls_ca=` read at once; a build
    /// without the `redis-tls` feature names it.
    #[test]
    fn rediss_urls_are_the_same_topologies_over_tls() {
        let urls = [
            "redis://u:p@h:1/2?prefix=x",
            "redis+cluster://a:1,b:2?connect_timeout_ms=5",
            "redis+sentinel://s1,s2/m/1",
        ];
        for url in urls {
            let tls_url = url.replacen("redis", "rediss", 1);
            #[cfg(feature = "redis-tls")]
            {
                let (plain, tls) = (parse(url).unwrap(), parse(&tls_url).unwrap());
                assert_eq!(plain.tls, None);
                assert_eq!(tls.tls.as_ref().map(|t| t.ca_pem.clone()), Some(None));
                assert_eq!((tls.topology, tls.prefix), (plain.topology, plain.prefix));
                let ca = crate::store::tls::test_ca_file("rediss-url");
                let sep = if tls_url.contains('?') { '&' } else { '?' };
                let with_ca = format!("{tls_url}{sep}tls_ca={}", ca.path.display());
                let tls = parse(&with_ca).unwrap().tls.unwrap();
                assert_eq!(tls.ca_pem.as_deref(), Some(ca.pem.as_bytes()), "{with_ca}");
            }
            #[cfg(not(feature = "redis-tls"))]
            {
                let Err(StoreError::Config(msg)) = parse(&tls_url) else {
                    panic!("{tls_url} parsed without the redis-tls feature");
                };
                assert!(msg.contains("\"redis-tls\" cargo feature"), "{msg}");
                assert!(!msg.contains(":p@"), "{msg}");
            }
        }
    }
}
