//! Redis's ceiling: tessera's commands under Django's cache key layout
//! (`:1:django.contrib.sessions.cache<key>`), over redis-rs's multiplexed `ConnectionManager`
//! set up as tessera's standalone store sets it up. Per route:
//!
//! - `/read`: `GET key` (tessera's load is one `GET`: Redis drops an expired key itself);
//! - `/write`: that `GET`, then the compare-and-swap script (`EVALSHA`, the text of tessera's
//!   `SAVE`: `GET`, compare, `SET … PXAT`);
//! - `/create`: `SET key value PXAT t NX`.
//!
//! A session without a user has no index entry in Redis, so nothing else is sent.
//!
//! Each command runs through the store's own `Batching` (the very file, included below), so
//! on tokio's multi-thread runtime the commands of concurrent requests reach Redis in one
//! write as the store's do. Without it the ceiling would send them nearly one per write under
//! load and bound nothing (src/store/redis/batching.rs says why).

use std::pin::pin;
use std::sync::LazyLock;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};

use super::store::Error;

/// The store's batching, compiled into the ceiling rather than made public API for it.
#[path = "../../src/store/redis/batching.rs"]
mod batching;

/// Django's cache key prefix for the cache session backend, with its default `KEY_PREFIX` and
/// `VERSION`.
const PREFIX: &str = ":1:django.contrib.sessions.cache";

/// tessera's response and connect timeouts.
const TIMEOUT: Duration = Duration::from_secs(1);

/// tessera's compare-and-swap, byte for byte: 1 written, 0 changed since loaded, -1 gone.
static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('GET', KEYS[1]) == ARGV[1] then
           redis.call('SET', KEYS[1], ARGV[2], 'PXAT', ARGV[3])
           return 1
         elseif redis.call('EXISTS', KEYS[1]) == 1 then
           return 0
         else
           return -1
         end",
    )
});

/// The ceiling's Redis store.
pub struct RedisCeiling {
    connection: ConnectionManager,
    /// Sends the commands of concurrent calls together, as the store does.
    batching: batching::Batching,
}

impl RedisCeiling {
    pub async fn connect(url: &str) -> Result<RedisCeiling, Error> {
        let client = redis::Client::open(url)?;
        let config = ConnectionManagerConfig::new()
            .set_response_timeout(Some(TIMEOUT))
            .set_connection_timeout(Some(TIMEOUT))
            .set_number_of_retries(1)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(250));
        let connection = ConnectionManager::new_with_config(client, config).await?;
        Ok(RedisCeiling {
            connection,
            batching: batching::Batching::start(),
        })
    }

    pub async fn load(&self, key: &str) -> Result<Option<String>, Error> {
        let mut con = self.connection.clone();
        let stored: Option<Vec<u8>> = self
            .batching
            .run(pin!(redis::cmd("GET")
                .arg(redis_key(key))
                .query_async(&mut con)))
            .await?;
        // A value that is not UTF-8 is not session text: no session, as for tessera.
        Ok(stored.and_then(|bytes| String::from_utf8(bytes).ok()))
    }

    pub async fn create(&self, key: &str, text: &str, expires_at: f64) -> Result<bool, Error> {
        let mut con = self.connection.clone();
        let mut set = redis::cmd("SET");
        set.arg(redis_key(key))
            .arg(text)
            .arg("PXAT")
            .arg(expiry_ms(expires_at))
            .arg("NX");
        let reply: Value = self.batching.run(pin!(set.query_async(&mut con))).await?;
        Ok(reply != Value::Nil)
    }

    pub async fn save(
        &self,
        key: &str,
        text: &str,
        expected: &str,
        expires_at: f64,
    ) -> Result<bool, Error> {
        let mut con = self.connection.clone();
        let mut invocation = SAVE.key(redis_key(key));
        invocation
            .arg(expected)
            .arg(text)
            .arg(expiry_ms(expires_at));
        let outcome: i64 = self
            .batching
            .run(pin!(invocation.invoke_async(&mut con)))
            .await?;
        Ok(outcome == 1)
    }
}

fn redis_key(key: &str) -> String {
    format!("{PREFIX}{key}")
}

/// Unix seconds as `PXAT` milliseconds.
fn expiry_ms(expires_at: f64) -> i64 {
    (expires_at * 1000.0).round() as i64
}
