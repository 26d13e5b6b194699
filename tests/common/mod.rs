//! Shared test support.
#![allow(dead_code)]
pub mod fixtures;
pub mod http;
pub mod logs;
pub mod probe;
pub mod proxy;
#[cfg(feature = "redis")]
pub mod redis_keys;
pub mod services;
#[cfg(any(feature = "redis-tls", feature = "mysql-tls"))]
pub mod tls;
pub mod vectors;

/// Tests that time what they measure, and tests that start servers of their own (a burst of
/// CPU on a 2-core machine), take turns: one at a time, in any test binary that uses this.
pub async fn exclusive() -> tokio::sync::MutexGuard<'static, ()> {
    static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    TURN.lock().await
}
