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
//! Like tessera's store, on tokio's multi-thread runtime it wakes an idle task of its own right
//! after a command is queued, so the scheduler runs redis-rs's driver after the requests that
//! are waiting and their commands reach Redis in one write (src/store/redis/batching.rs says
//! why). Without it the ceiling would send its commands nearly one per write under load and
//! bound nothing. On a current-thread runtime they batch by themselves, and nothing is woken.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;

use super::store::Error;

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
    /// Wakes the idle task; `None` off the multi-thread runtime. The task lives as long as the
    /// runtime, which is the ceiling's whole life.
    idle_task: Option<Arc<Notify>>,
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
        let idle_task =
            (Handle::current().runtime_flavor() == RuntimeFlavor::MultiThread).then(|| {
                let notify = Arc::new(Notify::new());
                let notified = Arc::clone(&notify);
                tokio::spawn(async move {
                    loop {
                        notified.notified().await;
                    }
                });
                notify
            });
        Ok(RedisCeiling {
            connection,
            idle_task,
        })
    }

    /// Runs `command`, waking the idle task after the poll that queued it.
    async fn send<T>(&self, command: impl Future<Output = T>) -> T {
        let mut command = pin!(command);
        let mut woken = self.idle_task.is_none();
        poll_fn(|cx| {
            let polled = command.as_mut().poll(cx);
            if polled.is_pending() && !woken {
                woken = true;
                if let Some(notify) = &self.idle_task {
                    notify.notify_one();
                }
            }
            polled
        })
        .await
    }

    pub async fn load(&self, key: &str) -> Result<Option<String>, Error> {
        let mut con = self.connection.clone();
        let stored: Option<Vec<u8>> = self
            .send(redis::cmd("GET").arg(redis_key(key)).query_async(&mut con))
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
        let reply: Value = self.send(set.query_async(&mut con)).await?;
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
        let outcome: i64 = self.send(invocation.invoke_async(&mut con)).await?;
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
