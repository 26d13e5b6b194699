//! The Redis store against real servers: the shared one (`TESSERA_TEST_REDIS_URL`, default
//! `redis://127.0.0.1:6379`), plus private `redis-server` processes this file starts on free
//! loopback ports for a 3-master Cluster, a Sentinel setup and a restart.
#![cfg(feature = "redis")]

use crate::common;

use common::fixtures::{codec, int_dict, key, now, with_param};
use std::fs;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::http::{fifty_concurrent_writers_lose_nothing, logout_race_never_resurrects};
use common::services::require;
use redis::aio::ConnectionLike;
use tessera::conformance::{self, Corruptor};
use tessera::session::codec::SessionCodec;
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::redis::{RedisStore, DEFAULT_PREFIX};
use tessera::store::{Record, SaveOutcome, SessionStore, StoreError, Version};
use tessera::url::open;

const SECRET: &str = "tessera redis test secret";

fn shared_url() -> Option<String> {
    require("Redis", "TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

async fn raw(url: &str) -> redis::aio::MultiplexedConnection {
    redis::Client::open(url.split('?').next().unwrap())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap()
}

async fn query<T: redis::FromRedisValue>(con: &mut impl ConnectionLike, cmd: &mut redis::Cmd) -> T {
    cmd.query_async(con).await.unwrap()
}

/// Writes, under `prefix + key`, session text signed with another secret (live for an hour).
fn corruptor<C>(con: C, prefix: &str) -> Corruptor
where
    C: ConnectionLike + Clone + Send + Sync + 'static,
{
    let prefix = prefix.to_owned();
    Arc::new(move |k: SessionKey| {
        let mut con = con.clone();
        let name = format!("{prefix}{}", k.as_str());
        Box::pin(async move {
            let other = SessionCodec::new(&SecretKeys::new("some other secret")).unwrap();
            let bad = other.encode(&int_dict("evil", 1));
            let _: () = redis::cmd("SET")
                .arg(name)
                .arg(bad)
                .arg("PX")
                .arg(3_600_000)
                .query_async(&mut con)
                .await
                .unwrap();
        })
    })
}

/// The whole shared suite, plus [`expired_records_are_gone`], which spells out what the suite's
/// clear-expired check means for a self-expiring store.
async fn redis_conformance(store: Arc<dyn SessionStore>, corrupt: Corruptor) {
    expired_records_are_gone(&*store).await;
    conformance::run(store, Some(corrupt)).await;
}

/// The suite's clear-expired check as it applies to a self-expiring store: expired records
/// are gone (without any cleanup), a live one is kept, and `clear_expired` reports 0.
async fn expired_records_are_gone(store: &dyn SessionStore) {
    let data = int_dict("x", 1);
    let t = now();
    let expired: Vec<SessionKey> = (0..7).map(|_| key()).collect();
    let live = key();
    for k in &expired {
        store
            .create(
                k,
                Record {
                    data: &data,
                    expires_at: t - 10.0,
                    now: tessera::time::now(),
                },
            )
            .await
            .unwrap();
    }
    store
        .create(
            &live,
            Record {
                data: &data,
                expires_at: t + 3600.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    for k in &expired {
        assert!(
            !store.exists(k).await.unwrap(),
            "expired record gone without cleanup"
        );
        assert!(store.load(k, t).await.unwrap().is_none());
    }
    assert_eq!(
        store.clear_expired(t, 2).await.unwrap(),
        0,
        "nothing left to clear"
    );
    assert!(
        store.load(&live, t).await.unwrap().is_some(),
        "live record kept"
    );
    store.delete(&live).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// The shared server

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_shared_server() {
    let Some(url) = shared_url() else { return };
    let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
    let corrupt = corruptor(raw(&url).await, DEFAULT_PREFIX);
    redis_conformance(Arc::new(store), corrupt).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fifty_writers_and_logout_race() {
    let Some(url) = shared_url() else { return };
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    fifty_concurrent_writers_lose_nothing(store.clone()).await;
    logout_race_never_resurrects(store.clone()).await;
    common::http::cycle_race_loses_no_acknowledged_write(store.clone()).await;
    common::http::revoke_under_load_resurrects_nothing(store).await;
}

/// Values Django rewrites (or a forger, or a restore) under a session tessera has cached are
/// read anew; the value keeps its TTL, as a cache `set` over it would set one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_values_changed_outside_are_read_anew() {
    let Some(url) = shared_url() else { return };
    let prefix = common::fixtures::unique("tessera-test-changed:");
    let store: Arc<dyn SessionStore> = Arc::new(
        RedisStore::connect(
            &with_param(&url, &format!("prefix={prefix}")),
            codec(SECRET),
        )
        .await
        .unwrap(),
    );
    let swap = |key: String, text: String| {
        let (url, name) = (url.clone(), format!("{prefix}{key}"));
        async move {
            let mut con = raw(&url).await;
            let old: String = redis::cmd("GET")
                .arg(&name)
                .query_async(&mut con)
                .await
                .expect("the value");
            let () = redis::cmd("SET")
                .arg(&name)
                .arg(&text)
                .arg("KEEPTTL")
                .query_async(&mut con)
                .await
                .expect("set");
            old
        }
    };
    common::http::records_changed_outside_are_read_anew(store, SECRET, swap).await;
    let mut con = raw(&url).await;
    for name in common::redis_keys::keys_under(&mut con, &prefix)
        .await
        .unwrap()
    {
        let _: i64 = redis::cmd("DEL")
            .arg(name)
            .query_async(&mut con)
            .await
            .unwrap();
    }
}

/// Expiries past the year 9999 and data past the budget: 400, the same as every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_writes_past_the_limits_are_refused() {
    let Some(url) = shared_url() else { return };
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    common::http::writes_past_the_limits_are_refused(store).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_named_as_djangos_cache_backend_names_them() {
    let Some(url) = shared_url() else { return };
    let mut con = raw(&url).await;
    let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
    let k = key();
    let data = int_dict("n", 7);
    store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    // Django's `make_key` with its defaults (KEY_PREFIX "", VERSION 1), then the backend's
    // prefix: what Django's RedisCache names the entry (it wrote bare
    // `django.contrib.sessions.cache<key>` before, so the two sides never met).
    let name = format!(":1:django.contrib.sessions.cache{}", k.as_str());
    assert_eq!(store.redis_key(&k), name);
    let stored: Option<String> = query(&mut con, redis::cmd("GET").arg(&name)).await;
    let stored = stored.expect("the record is under :1:django.contrib.sessions.cache<key>");
    let decoded = codec(SECRET).decode(&stored);
    assert!(
        !decoded.corrupt && decoded.data == data,
        "the value is Django's signed text"
    );
    assert!(
        stored.starts_with("eyJ") || stored.starts_with('.'),
        "{stored}"
    );
    store.delete(&k).await.unwrap();

    // A custom prefix from the URL (percent-encoded), and one from the builder.
    let store = RedisStore::connect(&with_param(&url, "prefix=myapp%3Asess%3A"), codec(SECRET))
        .await
        .unwrap();
    store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    let exists: i64 = query(
        &mut con,
        redis::cmd("EXISTS").arg(format!("myapp:sess:{}", k.as_str())),
    )
    .await;
    assert_eq!(exists, 1, "prefix from the URL");
    assert_eq!(
        query::<i64>(&mut con, redis::cmd("EXISTS").arg(&name)).await,
        0
    );
    store.delete(&k).await.unwrap();
    let store = RedisStore::builder(&url, codec(SECRET))
        .prefix("other.")
        .connect()
        .await
        .unwrap();
    assert_eq!(store.redis_key(&k), format!("other.{}", k.as_str()));

    // Django's CACHES KEY_PREFIX and VERSION, from the URL and from the builder.
    let store = RedisStore::connect(
        &with_param(&url, "key_prefix=site&version=3"),
        codec(SECRET),
    )
    .await
    .unwrap();
    assert_eq!(
        store.redis_key(&k),
        format!("site:3:django.contrib.sessions.cache{}", k.as_str())
    );
    let store = RedisStore::builder(&url, codec(SECRET))
        .key_prefix("a")
        .version(2)
        .for_cached_db()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        store.redis_key(&k),
        format!("a:2:django.contrib.sessions.cached_db{}", k.as_str())
    );
}

/// Sessions always sit under a prefix of their own: an empty one, from the builder or the URL,
/// is refused before any connection is made (so no server is needed).
/// What the server is asked for each of this store's keys between two markers, read off
/// `MONITOR` (the shared server's other clients are filtered out by the unique prefix).
struct Monitor {
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::net::TcpStream>>,
}

impl Monitor {
    async fn start(url: &str) -> Monitor {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
        let addr = url
            .split("://")
            .nth(1)
            .and_then(|rest| rest.split(['/', '?']).next())
            // `user:password@host:port`: the address is after the credentials.
            .and_then(|authority| authority.rsplit('@').next())
            .unwrap()
            .to_owned();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(b"MONITOR\r\n").await.unwrap();
        let mut lines = tokio::io::BufReader::new(stream).lines();
        assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("+OK"));
        Monitor { lines }
    }

    /// The commands naming `needle` until the `ECHO` of `marker` (sent on `con`).
    async fn until(
        &mut self,
        con: &mut redis::aio::MultiplexedConnection,
        marker: &str,
        needle: &str,
    ) -> Vec<String> {
        let _: String = query(con, redis::cmd("ECHO").arg(marker)).await;
        let mut seen = Vec::new();
        let deadline = Duration::from_secs(10);
        loop {
            let line = tokio::time::timeout(deadline, self.lines.next_line())
                .await
                .expect("MONITOR shows the marker")
                .unwrap()
                .expect("MONITOR stays open");
            if line.contains(marker) {
                return seen;
            }
            if line.contains(needle) {
                // `+1700000000.123456 [0 127.0.0.1:5000] "GET" "…"`: from the command on.
                seen.push(
                    line.split_once("] ")
                        .map_or(line.clone(), |(_, c)| c.to_owned()),
                );
            }
        }
    }
}

/// A request's load is one `GET`, as Django's cache backend's is: Redis has already dropped
/// what expired. Only a caller whose `now` is ahead of the clock needs the expiry too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_load_at_the_present_is_one_get() {
    let Some(url) = shared_url() else { return };
    let prefix = common::fixtures::unique("tessera-test-one-get:");
    let store = RedisStore::connect(
        &with_param(&url, &format!("prefix={prefix}")),
        codec(SECRET),
    )
    .await
    .unwrap();
    let k = key();
    let data = int_dict("n", 7);
    let record = live_for_a_minute(&data);
    let t = record.now;
    store.create(&k, record).await.unwrap();
    let mut con = raw(&url).await;
    let mut monitor = Monitor::start(&url).await;
    let _ = monitor
        .until(&mut con, &common::fixtures::unique("start-"), &prefix)
        .await;

    let loaded = store.load(&k, now()).await.unwrap().expect("live");
    assert_eq!(*loaded.data, data);
    let present = monitor
        .until(&mut con, &common::fixtures::unique("present-"), &prefix)
        .await;
    assert_eq!(present, [format!("\"GET\" \"{prefix}{}\"", k.as_str())]);

    // Ahead of the clock: the expiry is read too, and honoured.
    assert!(store.load(&k, t + 30.0).await.unwrap().is_some());
    assert!(store.load(&k, t + 60.0).await.unwrap().is_none());
    let ahead = monitor
        .until(&mut con, &common::fixtures::unique("ahead-"), &prefix)
        .await;
    assert!(
        ahead.iter().any(|c| c.contains("PEXPIRETIME")),
        "a `now` ahead of the clock reads the expiry: {ahead:?}"
    );
    store.delete(&k).await.unwrap();
}

#[tokio::test]
async fn an_empty_key_prefix_is_refused() {
    let url = "redis://127.0.0.1:1";
    let from_builder = RedisStore::builder(url, codec(SECRET))
        .prefix("")
        .connect()
        .await;
    let from_url = RedisStore::connect(&format!("{url}/0?prefix="), codec(SECRET)).await;
    for (how, result) in [("builder", from_builder), ("URL", from_url)] {
        match result {
            Err(StoreError::Config(why)) => assert!(why.contains("prefix"), "{how}: {why}"),
            other => panic!("{how}: an empty prefix was not refused: {other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ttl_follows_expires_at() {
    let Some(url) = shared_url() else { return };
    let mut con = raw(&url).await;
    let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
    let k = key();
    let name = store.redis_key(&k);
    let data = int_dict("n", 1);
    let expires_at = now() + 1000.25;
    let v = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    let pttl: i64 = query(&mut con, redis::cmd("PTTL").arg(&name)).await;
    assert!((990_000..=1_000_251).contains(&pttl), "PTTL {pttl}");
    let at: i64 = query(&mut con, redis::cmd("PEXPIRETIME").arg(&name)).await;
    assert_eq!(
        at,
        (expires_at * 1000.0).round() as i64,
        "PXAT is expires_at in ms"
    );

    // A save moves the expiry.
    let expires_at = now() + 2000.0;
    let saved = store
        .save(
            &k,
            Record {
                data: &data,
                expires_at,
                now: tessera::time::now(),
            },
            &v,
        )
        .await
        .unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    let pttl: i64 = query(&mut con, redis::cmd("PTTL").arg(&name)).await;
    // (+1: `expires_at` is rounded to the ms.)
    assert!(
        (1_990_000..=2_000_001).contains(&pttl),
        "PTTL after save {pttl}"
    );
    let at: i64 = query(&mut con, redis::cmd("PEXPIRETIME").arg(&name)).await;
    assert_eq!(at, (expires_at * 1000.0).round() as i64);

    // `load` honours the caller's clock, not only Redis's.
    assert!(store.load(&k, expires_at - 1.0).await.unwrap().is_some());
    assert!(store.load(&k, expires_at).await.unwrap().is_none());
    assert!(
        store.exists(&k).await.unwrap(),
        "still in Redis until the server's clock says so"
    );
    assert_eq!(store.clear_expired(expires_at + 1.0, 100).await.unwrap(), 0);
    store.delete(&k).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiry_in_the_past_removes_the_record() {
    let Some(url) = shared_url() else { return };
    let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
    let k = key();
    let data = int_dict("n", 1);
    let v = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() - 1.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    assert!(
        !store.exists(&k).await.unwrap(),
        "gone at once, as Django's cache deletes it"
    );
    assert!(store.load(&k, now()).await.unwrap().is_none());
    let saved = store
        .save(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
            &v,
        )
        .await
        .unwrap();
    assert_eq!(saved, SaveOutcome::Gone, "never resurrected");

    // Saving a live record with a past expiry deletes it too.
    let v = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    let saved = store
        .save(
            &k,
            Record {
                data: &data,
                expires_at: 0.0,
                now: tessera::time::now(),
            },
            &v,
        )
        .await
        .unwrap();
    assert!(matches!(saved, SaveOutcome::Saved(_)));
    assert!(!store.exists(&k).await.unwrap());
}

/// A value tessera cannot read (Django's cache backend pickles) is no session, and a request
/// that writes with its key gets a new key: the pickle stays as Django wrote it (tessera used to
/// load it as `{}` and overwrite it, destroying Django's session).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_values_are_no_session_and_are_never_overwritten() {
    let Some(url) = shared_url() else { return };
    let mut con = raw(&url).await;
    let store = Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    let k = key();
    let name = store.redis_key(&k);
    // A pickle (what Django's cache backend writes): not UTF-8, not signed.
    let pickle: &[u8] = b"\x80\x05\x95\x0b\x00\x00\x00\x00\x00\x00\x00}\x94\x8c\x01a\x94K\x01s.";
    let _: () = query(
        &mut con,
        redis::cmd("SET")
            .arg(&name)
            .arg(pickle)
            .arg("PX")
            .arg(60_000),
    )
    .await;
    assert!(store.load(&k, now()).await.unwrap().is_none());
    let app = common::http::app(store.clone(), tessera::SessionConfig::default());
    let cookie = format!("sessionid={}", k.as_str());
    let r = common::http::send(&app, "/set?a=1", Some(&cookie)).await;
    assert_eq!(r.status, http::StatusCode::OK);
    let new = r.session_cookie().expect("a new session");
    assert_ne!(new, cookie, "the write went to a new key");
    let kept: Vec<u8> = query(&mut con, redis::cmd("GET").arg(&name)).await;
    assert_eq!(kept, pickle, "Django's pickle is untouched");

    // A version from another store never matches.
    store.delete(&k).await.unwrap();
    let data = int_dict("n", 2);
    let record = || Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record()).await.unwrap();
    let stale = store
        .save(&k, record(), &Version::Counter(1))
        .await
        .unwrap();
    assert_eq!(stale, SaveOutcome::Conflict);

    // A key of the wrong type is an error that does not name the key.
    store.delete(&k).await.unwrap();
    let _: () = query(&mut con, redis::cmd("HSET").arg(&name).arg("f").arg("v")).await;
    match store.load(&k, now()).await {
        Err(StoreError::Unavailable(msg)) => {
            assert!(!msg.contains(k.as_str()), "the key leaked: {msg}");
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    store.delete(&k).await.unwrap();
}

#[tokio::test]
async fn bad_urls_and_unreachable_servers_fail_cleanly() {
    for url in [
        "redis//x",
        "redis://h:1/x",
        "redis://h?nope=1",
        "rediss://h?tls_ca=/nonexistent/ca.pem",
    ] {
        let e = RedisStore::connect(url, codec(SECRET)).await.unwrap_err();
        assert!(matches!(e, StoreError::Config(_)), "{url}: {e:?}");
    }
    let Some(port) = free_ports(1).first().copied() else {
        return;
    };
    let started = Instant::now();
    let e = RedisStore::connect(&format!("redis://:hunter2@127.0.0.1:{port}"), codec(SECRET))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::Unavailable(_)), "{e:?}");
    assert!(!e.to_string().contains("hunter2"), "{e}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Private servers

/// Whether `redis-server` and `redis-cli` can be run; skips loudly, or fails in CI (any truthy CI).
pub(crate) fn have_redis_binaries() -> bool {
    let ok = ["redis-server", "redis-cli"].iter().all(|b| {
        Command::new(b)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if !ok {
        common::services::skip_or_fail(
            "redis-server/redis-cli are not on PATH (needed for the private-server tests)",
        );
    }
    ok
}

/// `n` loopback ports, each free together with its cluster bus port (+10000), and not
/// handed out before in this process.
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    static NEXT: AtomicU16 = AtomicU16::new(0);
    if NEXT.load(Ordering::Relaxed) == 0 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let start = 16379 + ((nanos ^ std::process::id()) % 4000) as u16;
        let _ = NEXT.compare_exchange(0, start, Ordering::Relaxed, Ordering::Relaxed);
    }
    let mut ports = Vec::new();
    while ports.len() < n {
        let p = NEXT.fetch_add(1, Ordering::Relaxed);
        assert!(p < 25000, "no free ports");
        let free = |p: u16| TcpListener::bind(("127.0.0.1", p)).is_ok();
        if free(p) && free(p + 10000) {
            ports.push(p);
        }
    }
    ports
}

/// Redis processes started by a test, killed (and their files removed) when it ends, even
/// on panic.
pub(crate) struct Servers {
    pub(crate) dir: PathBuf,
    children: Vec<(u16, Child)>,
}

impl Servers {
    pub(crate) fn new(name: &str) -> Servers {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-redis-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        Servers {
            dir,
            children: Vec::new(),
        }
    }

    /// Starts `redis-server [config] --port P <extra>` in the foreground, and waits until it
    /// answers PING.
    fn start(&mut self, port: u16, config: Option<PathBuf>, extra: &[&str]) {
        let port_arg = port.to_string();
        let args = [&["--port", port_arg.as_str()], extra].concat();
        self.spawn(port, config, &args, || {
            cli(port, &["PING"]).trim() == "PONG"
        });
    }

    /// Starts `redis-server [config] <args>` in the foreground, known by `port`, and waits
    /// until `ready`.
    pub(crate) fn spawn(
        &mut self,
        port: u16,
        config: Option<PathBuf>,
        args: &[&str],
        ready: impl FnMut() -> bool,
    ) {
        let log = fs::File::create(self.dir.join(format!("{port}.log"))).unwrap();
        let mut cmd = Command::new("redis-server");
        if let Some(config) = config {
            cmd.arg(config);
        }
        cmd.args(["--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log);
        let child = cmd.spawn().expect("redis-server starts");
        self.children.push((port, child));
        wait_until(
            Duration::from_secs(10),
            &format!("redis on {port} answers"),
            ready,
        );
    }

    /// Freezes (`STOP`) or thaws (`CONT`) the server on `port`: a hung server.
    fn signal(&self, port: u16, signal: &str) {
        let (_, child) = self.children.iter().find(|(p, _)| *p == port).unwrap();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn kill(&mut self, port: u16) {
        self.children.retain_mut(|(p, child)| {
            if *p == port {
                let _ = child.kill();
                let _ = child.wait();
                false
            } else {
                true
            }
        });
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// `redis-cli -p port args…`, its stdout (empty on failure).
fn cli(port: u16, args: &[&str]) -> String {
    Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

pub(crate) fn wait_until(limit: Duration, what: &str, mut ok: impl FnMut() -> bool) {
    let started = Instant::now();
    while !ok() {
        assert!(started.elapsed() < limit, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnects_by_itself_after_a_restart() {
    if !have_redis_binaries() {
        return;
    }
    let port = free_ports(1)[0];
    let mut servers = Servers::new("restart");
    servers.start(port, None, &[]);
    let url = format!("redis://127.0.0.1:{port}");
    let store = RedisStore::builder(&url, codec(SECRET))
        .response_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let k = key();
    let data = int_dict("n", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    assert!(store.load(&k, now()).await.unwrap().is_some());

    // A hung server: a timeout after the response timeout, then business as usual.
    servers.signal(port, "STOP");
    let started = Instant::now();
    let e = store.load(&k, now()).await.unwrap_err();
    let took = started.elapsed();
    servers.signal(port, "CONT");
    assert!(matches!(e, StoreError::Timeout(_)), "{e:?}");
    // The response timeout (0.5 s), with room for a loaded machine: a hang never ends.
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(store.load(&k, now()).await.unwrap().is_some());

    servers.kill(port);
    for _ in 0..3 {
        let started = Instant::now();
        let e = store.load(&k, now()).await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(e, StoreError::Unavailable(_) | StoreError::Timeout(_)),
            "{e:?}"
        );
        assert!(!e.to_string().contains(k.as_str()), "the key leaked: {e}");
        assert!(
            took < Duration::from_secs(2),
            "an outage must fail fast, took {took:?}"
        );
    }

    servers.start(port, None, &[]);
    let restarted = Instant::now();
    let mut failures = 0;
    loop {
        // The restarted server is empty (no persistence): create and load afresh.
        let k = key();
        match store.create(&k, record).await {
            Ok(_) => {
                assert!(store.load(&k, now()).await.unwrap().is_some());
                break;
            }
            Err(e) => {
                failures += 1;
                assert!(
                    restarted.elapsed() < Duration::from_secs(5),
                    "still failing {:?} after the restart: {e}",
                    restarted.elapsed()
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    eprintln!(
        "reconnected {:?} after the restart, {failures} failed call(s)",
        restarted.elapsed()
    );
    assert_eq!(
        failures, 0,
        "the first call after the restart should already succeed"
    );

    // A quick restart with no traffic while it is down: the dead connection is noticed and
    // replaced within the same call.
    servers.kill(port);
    servers.start(port, None, &[]);
    let k = key();
    store
        .create(&k, record)
        .await
        .expect("the first call after a quiet restart");
    assert!(store.load(&k, now()).await.unwrap().is_some());
}

/// Three masters on free loopback ports, clustered; their servers (stopped on drop) and
/// addresses.
fn three_master_cluster() -> (Servers, Vec<String>) {
    let ports = free_ports(3);
    let mut servers = Servers::new("cluster");
    for &p in &ports {
        let conf = servers.dir.join(format!("nodes-{p}.conf"));
        let conf = conf.to_str().unwrap().to_owned();
        servers.start(
            p,
            None,
            &["--cluster-enabled", "yes", "--cluster-config-file", &conf],
        );
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for &p in &ports {
        wait_until(Duration::from_secs(10), "cluster_state:ok", || {
            cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }
    (servers, nodes)
}

/// No session key or session data in any log at `TRACE` through the cluster client either.
#[test]
fn no_session_key_or_data_reaches_the_logs_on_a_cluster() {
    if !have_redis_binaries() {
        return;
    }
    let (_servers, nodes) = three_master_cluster();
    let url = format!("redis+cluster://{}", nodes.join(","));
    common::logs::assert_secrets_stay_out_of_logs(|| async {
        let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
        common::logs::session_round_trip(&store).await
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_three_master_cluster() {
    if !have_redis_binaries() {
        return;
    }
    let (_servers, nodes) = three_master_cluster();
    let ports: Vec<u16> = nodes
        .iter()
        .map(|n| n.rsplit(':').next().unwrap().parse().unwrap())
        .collect();
    let url = format!("redis+cluster://{}", nodes.join(","));
    let store = Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    let raw = redis::cluster::ClusterClient::new(nodes.iter().map(|n| format!("redis://{n}")))
        .unwrap()
        .get_async_connection()
        .await
        .unwrap();
    redis_conformance(store.clone(), corruptor(raw, DEFAULT_PREFIX)).await;
    fifty_concurrent_writers_lose_nothing(store.clone()).await;

    // The sessions really are spread over the three masters.
    let keys: Vec<SessionKey> = (0..30).map(|_| key()).collect();
    for k in &keys {
        store
            .create(
                k,
                Record {
                    data: &int_dict("n", 1),
                    expires_at: now() + 60.0,
                    now: tessera::time::now(),
                },
            )
            .await
            .unwrap();
    }
    for &p in &ports {
        let n: usize = cli(p, &["DBSIZE"]).trim().parse().unwrap();
        assert!(n > 0, "master {p} holds no session");
    }
    for k in &keys {
        assert!(store.load(k, now()).await.unwrap().is_some());
        store.delete(k).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_sentinel_and_a_failover() {
    if !have_redis_binaries() {
        return;
    }
    let [master, replica, sentinel] = <[u16; 3]>::try_from(free_ports(3)).unwrap();
    let mut servers = Servers::new("sentinel");
    servers.start(master, None, &[]);
    servers.start(
        replica,
        None,
        &["--replicaof", "127.0.0.1", &master.to_string()],
    );
    wait_until(Duration::from_secs(10), "the replica is in sync", || {
        cli(replica, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let conf = servers.dir.join("sentinel.conf");
    fs::write(
        &conf,
        format!(
            "sentinel monitor mymaster 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds mymaster 2000\n\
             sentinel failover-timeout mymaster 10000\n"
        ),
    )
    .unwrap();
    servers.start(sentinel, Some(conf), &["--sentinel"]);
    wait_until(
        Duration::from_secs(10),
        "the sentinel sees the replica",
        || cli(sentinel, &["SENTINEL", "REPLICAS", "mymaster"]).contains(&replica.to_string()),
    );

    let url = format!("redis+sentinel://127.0.0.1:{sentinel}/mymaster");
    let store = Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    let raw_master = raw(&format!("redis://127.0.0.1:{master}")).await;
    redis_conformance(store.clone(), corruptor(raw_master, DEFAULT_PREFIX)).await;

    // The master dies and the sentinel promotes the replica: the store notices the dead
    // connection, asks the sentinel again and follows the new master.
    let k = key();
    let data = int_dict("before", 1);
    store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .unwrap();
    wait_until(
        Duration::from_secs(5),
        "the write reached the replica",
        || cli(replica, &["EXISTS", &store.redis_key(&k)]).trim() == "1",
    );
    servers.kill(master);
    assert!(cli(sentinel, &["SENTINEL", "FAILOVER", "mymaster"]).contains("OK"));
    wait_until(
        Duration::from_secs(15),
        "the sentinel names the new master",
        || {
            // `SENTINEL MASTER` (what clients are told) switches at the end of the failover.
            cli(sentinel, &["SENTINEL", "MASTER", "mymaster"])
                .contains(&format!("port\n{replica}\n"))
                && cli(replica, &["ROLE"]).starts_with("master")
        },
    );
    let k2 = key();
    store
        .create(
            &k2,
            Record {
                data: &data,
                expires_at: now() + 60.0,
                now: tessera::time::now(),
            },
        )
        .await
        .expect("the first call after the failover goes to the new master");
    assert_eq!(
        cli(replica, &["EXISTS", &store.redis_key(&k2)]).trim(),
        "1",
        "written to the promoted replica"
    );
    let loaded = store
        .load(&k, now())
        .await
        .unwrap()
        .expect("replicated before the failover");
    assert_eq!(*loaded.data, data);
    store.delete(&k).await.unwrap();
    store.delete(&k2).await.unwrap();
}

/// `store::url::open` takes every parameter the docs list for `redis://` (the same parser
/// serves `redis+sentinel://` and `redis+cluster://`, checked in the unit tests), and refuses
/// an unknown one by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn url_parameters_are_taken_or_refused_by_name() {
    let Some(url) = shared_url() else { return };
    let keys = SecretKeys::new(SECRET);
    let prefix = format!("tessera:url-params:{}:", key().as_str());
    let params = format!(
        "prefix={}&response_timeout_ms=500&connect_timeout_ms=700",
        prefix.replace(':', "%3A")
    );
    let sessions = open(&with_param(&url, &params), &keys).await.unwrap();
    let store = sessions.store().unwrap();
    let shown = format!("{store:?}");
    assert!(shown.contains(&format!("prefix: {prefix:?}")), "{shown}");
    assert!(shown.contains("response_timeout: 500ms"), "{shown}");
    let k = key();
    let data = int_dict("a", 1);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    let mut con = raw(&url).await;
    let stored: Option<String> = query(
        &mut con,
        redis::cmd("GET").arg(format!("{prefix}{}", k.as_str())),
    )
    .await;
    assert!(stored.is_some(), "the session is under the URL's prefix");
    store.delete(&k).await.unwrap();
    let Err(StoreError::Config(msg)) = open(&with_param(&url, "db=1"), &keys).await else {
        panic!("db= is no Redis parameter");
    };
    assert_eq!(
        msg,
        "unknown parameter \"db\" for redis:// (known: prefix, key_prefix, version, response_timeout_ms, connect_timeout_ms)"
    );
}

/// No session key or session data in any log, at `TRACE`, for every crate (redis-rs too).
#[test]
fn no_session_key_or_data_reaches_the_logs() {
    let Some(url) = shared_url() else { return };
    common::logs::assert_secrets_stay_out_of_logs(|| async {
        let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
        common::logs::session_round_trip(&store).await
    });
}

/// The cache of a `cached+redis://` store names its entries as Django's `cached_db` backend
/// does (`:1:django.contrib.sessions.cached_db<key>`: it used the cache backend's names, so
/// Django read its own stale cache and its next save dropped tessera's keys).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cached_db_cache_is_named_as_djangos_cached_db_names_it() {
    let Some(url) = shared_url() else { return };
    let dir = std::env::temp_dir().join(format!("tessera-cached-names-{}", key().as_str()));
    let db = format!("file://{}", dir.display());
    let cached = with_param(&format!("cached+{url}"), &format!("db={db}"));
    let Ok(tessera::url::Sessions::Store(store)) = open(&cached, &SecretKeys::new(SECRET)).await
    else {
        panic!("cached+redis opens");
    };
    let k = common::fixtures::stored_session(&*store).await;
    let mut con = raw(&url).await;
    let name = format!(":1:django.contrib.sessions.cached_db{}", k.as_str());
    let exists: i64 = query(&mut con, redis::cmd("EXISTS").arg(&name)).await;
    assert_eq!(exists, 1, "the cache entry is {name}");
    store.delete(&k).await.unwrap();
    fs::remove_dir_all(&dir).ok();
}

/// The per-user index is a hash named after the store's prefix, whose expiry covers its
/// longest session; sessions written without it (raw `SET`, as Django's cache backend does)
/// are listed once `reindex_users` has scanned the prefix.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_index_is_a_hash_under_the_prefix_and_reindex_backfills() {
    let Some(url) = shared_url() else { return };
    let prefix = format!(":1:tessera.test.{}.", key().as_str());
    let store = RedisStore::builder(&url, codec(SECRET))
        .prefix(&prefix)
        .connect()
        .await
        .unwrap();
    let mut con = raw(&url).await;
    let mut data = int_dict("a", 1);
    data.insert(
        "_auth_user_id".into(),
        tessera::json::Value::Str("42".into()),
    );
    let (short, long) = (key(), key());
    for (k, ttl) in [(&long, 7200.0), (&short, 60.0)] {
        let record = Record {
            data: &data,
            expires_at: now() + ttl,
            now: now(),
        };
        store.create(k, record).await.unwrap();
    }
    let hash = format!("{prefix}tessera.user:42");
    let fields: Vec<String> = query(&mut con, redis::cmd("HKEYS").arg(&hash)).await;
    assert_eq!(fields.len(), 2, "{fields:?}");
    let ttl: i64 = query(&mut con, redis::cmd("TTL").arg(&hash)).await;
    assert!(ttl > 7000, "the hash outlives its longest session: {ttl}");
    assert_eq!(store.revoke_user_sessions("42", None).await.unwrap(), 2);

    let shared_con = con.clone();
    let (writer_codec, writer_prefix) = (codec(SECRET), prefix.clone());
    let write: conformance::UnindexedWriter = Arc::new(move |k, data, expires_at| {
        let (mut con, text) = (shared_con.clone(), writer_codec.encode(&data));
        let name = format!("{writer_prefix}{}", k.as_str());
        Box::pin(async move {
            let ms = (expires_at * 1000.0) as i64;
            let _: () = redis::cmd("SET")
                .arg(name)
                .arg(text)
                .arg("PXAT")
                .arg(ms)
                .query_async(&mut con)
                .await
                .unwrap();
        })
    });
    conformance::reindex_backfills(Arc::new(store), write).await;
}

/// Under tokio's multi-thread runtime, the commands of calls made together reach Redis
/// together (the store's "Throughput" section): creates started at once go out in a few
/// writes, not one write each. The runtime has one worker, as on the benchmark's core, and
/// every write to Redis is made on it, so its count of write calls is this test's alone.
#[test]
fn concurrent_calls_reach_redis_together() {
    const CALLS: u64 = 32;
    if !have_redis_binaries() {
        return;
    }
    let port = free_ports(1)[0];
    let mut servers = Servers::new("batching");
    servers.start(port, None, &[]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = format!("redis://127.0.0.1:{port}");
    let store = Arc::new(
        runtime
            .block_on(RedisStore::connect(&url, codec(SECRET)))
            .unwrap(),
    );
    runtime.block_on(store.exists(&key())).unwrap();
    // Spawned from a task on the worker, as a server's connections are woken on it. Fewer
    // calls than the worker's turns between two looks at its sockets (61), so that no answer
    // comes back before every command is queued; the best of five rounds.
    let writes = runtime.block_on(async {
        let store = store.clone();
        tokio::spawn(async move {
            let mut fewest = u64::MAX;
            for _ in 0..5 {
                let before = write_calls_of_this_thread();
                let calls: Vec<_> = (0..CALLS)
                    .map(|_| {
                        let store = store.clone();
                        tokio::spawn(async move {
                            let data = int_dict("n", 1);
                            store.create(&key(), live_for_a_minute(&data)).await
                        })
                    })
                    .collect();
                for call in calls {
                    call.await.unwrap().unwrap();
                }
                fewest = fewest.min(write_calls_of_this_thread() - before);
            }
            fewest
        })
        .await
        .unwrap()
    });
    assert!(
        writes <= CALLS / 2,
        "{CALLS} concurrent creates took {writes} write calls: their commands went out one by one"
    );
}

/// A record of `data` that expires a minute from now.
fn live_for_a_minute(data: &tessera::json::Map) -> Record<'_> {
    let t = now();
    Record {
        data,
        expires_at: t + 60.0,
        now: t,
    }
}

/// The write system calls this thread has made (`syscw` in `/proc/thread-self/io`).
fn write_calls_of_this_thread() -> u64 {
    fs::read_to_string("/proc/thread-self/io")
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("syscw:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("/proc/thread-self/io has syscw")
}
