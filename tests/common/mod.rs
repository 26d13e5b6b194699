//! Shared test support.
#![allow(dead_code)]
pub mod fixtures;
pub mod http;
pub mod proxy;
pub mod services;
#[cfg(any(feature = "redis-tls", feature = "mysql-tls"))]
pub mod tls;
pub mod vectors;
