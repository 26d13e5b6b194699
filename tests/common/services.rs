//! Finding the real servers the store tests talk to.
//!
//! Each server's address comes from an environment variable with the standard loopback
//! default. When a server (or a program a test needs) is absent the test says so loudly and
//! skips, except in CI ([`ci`]), where that is a failure.
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
    skip_or_fail(&format!(
        "{service} is not reachable at {hostport} (set {env_var} to its URL)"
    ));
    None
}

/// Whether this is a CI run: `CI` set to anything but empty, `0`, `false`, `no` or `off` (in
/// any case), as CI services set it (`true`, `1`, `True`).
pub fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| {
        !matches!(
            v.trim().to_ascii_lowercase().as_str(),
            "" | "0" | "false" | "no" | "off"
        )
    })
}

/// Says loudly that `missing` keeps a test from running, and returns so it can skip; in CI
/// ([`ci`]) it fails the test instead.
pub fn skip_or_fail(missing: &str) {
    if ci() {
        panic!("{missing}: in CI (CI is set) that is a failure, not a skip");
    }
    eprintln!("\n!!!!!!!! SKIPPED: {missing} !!!!!!!!\n");
}

/// `host:port` of a URL such as `postgres://user@127.0.0.1:5432/db` or `redis://127.0.0.1:6379`.
pub fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    let rest = rest.split(',').next().unwrap_or(rest);
    rest.to_owned()
}
