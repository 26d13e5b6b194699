//! Finding the real servers the store tests talk to.
//!
//! Each server's address comes from an environment variable with the standard loopback
//! default. When a server is absent the test says so loudly and skips, except under
//! `CI=true`, where an absent server is a failure.
#![allow(dead_code)]

use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

/// The URL for a service, if its server answers; otherwise skips (or fails under CI).
pub fn require(service: &str, env_var: &str, default_url: &str) -> Option<String> {
    let url = std::env::var(env_var).unwrap_or_else(|_| default_url.to_owned());
    let hostport = host_port(&url);
    let reachable = hostport
        .to_socket_addrs()
        .ok()
        .and_then(|mut addrs| addrs.next())
        .is_some_and(|addr| TcpStream::connect_timeout(&addr, Duration::from_secs(2)).is_ok());
    if reachable {
        return Some(url);
    }
    let msg = format!("{service} is not reachable at {hostport} (set {env_var} to its URL)");
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{msg}: under CI=true an absent server is a failure");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {msg} !!!!!!!!\n");
    None
}

/// `host:port` of a URL such as `postgres://user@127.0.0.1:5432/db` or `redis://127.0.0.1:6379`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let rest = rest.split(',').next().unwrap_or(rest);
    rest.to_owned()
}
