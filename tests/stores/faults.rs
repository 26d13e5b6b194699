//! Store outages, seen from the outside: an axum app with `SessionLayer` (store timeout
//! 500 ms) serves a steady stream of session reads and writes while the PostgreSQL, MySQL or
//! Redis store behind it is reached through a loopback proxy ([`common::proxy`]) that is cut,
//! blackholed, frozen, slowed and restored mid-run. For each server it shows that:
//!
//! - during an outage every request fails **fast** (under 2 s, even when the server hangs and
//!   only a timeout can end a call) with a **503 and no `Set-Cookie`**, and nothing else: no
//!   500, no 400, no hang, and no success while no byte can reach the server;
//! - **nothing acknowledged is lost**: every write that got a 200 (each sets its own key) is in
//!   the database afterwards, read straight from the server, not through the proxy, and every
//!   acknowledged new session exists with exactly its data;
//! - **a write that failed is never applied later**, for every request that ran entirely
//!   while the proxy refused or blackholed connections (no byte of it can reach the server;
//!   the proxy closes blackholed sockets without forwarding them): their keys are absent, and
//!   the number of stored records bounds the new sessions made while the link was down at 0.
//!   Requests that straddled a mode change, or that failed while the link was frozen or slow,
//!   may have been committed before their reply was lost, so they are allowed either way;
//! - reads never return another session's data, and no foreign key leaks into a session;
//! - after `restore()` the **same** store and app serve reads and writes again within a few
//!   seconds (the pools and connection managers heal by themselves), and from the first
//!   acknowledged write on, every request succeeds;
//! - with a small pool (PostgreSQL: `pool_max_size=2` in the URL; MySQL: `pool_max=2` in the
//!   URL; Redis multiplexes and has no pool) and a slow link, a burst of concurrent requests
//!   ends in successes and 503s, each within the timeout, never a hang, and every success is
//!   stored.
//!
//! With the server healthy but one session's row locked by another transaction (PostgreSQL,
//! MySQL), SQLite's write lock held by another connection, or a file-store session's lock
//! file held by another process, the write to it is a fast 503, the other sessions keep
//! working (PostgreSQL, MySQL and the file store: their writes; SQLite: reads), and the write
//! answered 503 is not applied once the lock is released.
//!
//! Each test uses its own table (or Redis key prefix, or SQLite file) and its own proxy, so
//! they run in parallel; each server is skipped loudly when absent (a failure in CI (any truthy `CI`)).
#![cfg(all(
    feature = "sqlite",
    feature = "postgres",
    feature = "mysql",
    feature = "redis"
))]

use crate::common;

use common::fixtures::{codec, now, unique, with_param};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use common::http::{app, send};
use common::proxy::{Cut, Mode, Proxy};
use common::services::{host_port, require};
use http::StatusCode;
use tessera::session::SessionKey;
use tessera::store::mysql::MysqlStore;
use tessera::store::postgres::PostgresStore;
use tessera::store::redis::RedisStore;
use tessera::store::SessionStore;
use tessera::SessionConfig;

const SECRET: &str = "tessera fault test secret";
/// The store timeout of the app under test.
const STORE_TIMEOUT: Duration = Duration::from_millis(500);
/// No request may take longer than this, outage or not.
const REQUEST_BOUND: Duration = Duration::from_secs(2);
/// A request still running after this is a hang (recorded, then reported as a failure).
const HANG: Duration = Duration::from_secs(10);
/// How long each outage lasts.
const OUTAGE: Duration = Duration::from_millis(1500);
/// How long the link works between outages.
const HEALTHY: Duration = Duration::from_millis(700);
/// The store must serve again this soon after `restore()`.
const RECOVERY_BOUND: Duration = Duration::from_secs(5);
/// How long a "the failed write was not applied later" check waits once the lock is gone. A
/// statement still queued on the lock (PostgreSQL, MariaDB) or still in SQLite's busy handler
/// (which polls at most every 100 ms) would land within milliseconds of the release; this is
/// the store timeout twice over, for a loaded machine.
const LATE_LANDING: Duration = Duration::from_secs(2);

fn config() -> SessionConfig {
    SessionConfig {
        store_timeout: STORE_TIMEOUT,
        ..SessionConfig::default()
    }
}

/// The session key in a `sessionid=…` cookie.
fn key_of(cookie: &str) -> SessionKey {
    SessionKey::parse(cookie.strip_prefix("sessionid=").unwrap()).unwrap()
}

// ---------------------------------------------------------------------------------------------
// The three servers: a store through the proxy, one straight to the server, and cleanup.
// ---------------------------------------------------------------------------------------------

/// Runs a blocking cleanup on its own thread and runtime when dropped (even after a panic).
struct Cleanup(Option<Box<dyn FnOnce() + Send>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if let Some(f) = self.0.take() {
            let _ = std::thread::spawn(f).join();
        }
    }
}

fn on_own_runtime<F: std::future::Future<Output = ()>>(f: F) {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f);
}

/// How to count every record the test's table or prefix holds, expired or not.
enum Counter {
    Postgres(tokio_postgres::Client, String),
    Mysql(mysql_async::Pool, String),
    Redis(redis::aio::MultiplexedConnection, String),
}

impl Counter {
    async fn count(&mut self) -> u64 {
        match self {
            Counter::Postgres(client, table) => {
                let n: i64 = client
                    .query_one(&format!("SELECT count(*) FROM \"{table}\""), &[])
                    .await
                    .unwrap()
                    .get(0);
                n as u64
            }
            Counter::Mysql(pool, table) => {
                use mysql_async::prelude::Queryable;
                let mut conn = pool.get_conn().await.unwrap();
                let n: Option<u64> = conn
                    .query_first(format!("SELECT count(*) FROM `{table}`"))
                    .await
                    .unwrap();
                n.unwrap_or(0)
            }
            Counter::Redis(con, prefix) => {
                let keys = common::redis_keys::keys_under(con, prefix).await.unwrap();
                keys.len() as u64
            }
        }
    }
}

struct Target {
    name: &'static str,
    /// Through the proxy: what the app uses.
    via: Arc<dyn SessionStore>,
    /// Straight to the server: what the checks use.
    direct: Arc<dyn SessionStore>,
    counter: Counter,
    /// Whether the app's store has a connection pool the test made small.
    small_pool: bool,
    _cleanup: Cleanup,
}

fn postgres_url() -> Option<String> {
    require(
        "PostgreSQL",
        "TESSERA_TEST_POSTGRES_URL",
        "postgres://postgres@127.0.0.1:5432/test",
    )
}

fn mysql_url() -> Option<String> {
    require(
        "MySQL",
        "TESSERA_TEST_MYSQL_URL",
        "mysql://root@127.0.0.1:3306/test",
    )
}

fn redis_url() -> Option<String> {
    require("Redis", "TESSERA_TEST_REDIS_URL", "redis://127.0.0.1:6379")
}

/// A PostgreSQL store through `proxy` over a fresh table (`pool_max_size=2` when
/// `small_pool`).
async fn postgres(url: &str, proxy: &Proxy, small_pool: bool) -> Target {
    let table = unique("django_session_f");
    let cleanup = {
        let (url, table) = (url.to_owned(), table.clone());
        Cleanup(Some(Box::new(move || {
            on_own_runtime(async move {
                if let Ok((client, conn)) =
                    tokio_postgres::connect(&url, tokio_postgres::NoTls).await
                {
                    tokio::spawn(conn);
                    let _ = client
                        .batch_execute(&format!("DROP TABLE IF EXISTS \"{table}\""))
                        .await;
                }
            })
        })))
    };
    let direct = PostgresStore::builder(codec(SECRET))
        .table(&table)
        .connect(url)
        .await
        .unwrap();
    direct.create_table().await.unwrap();
    let mut via_url = proxy.url(url);
    if small_pool {
        via_url = with_param(&via_url, "pool_max_size=2");
    }
    let via = PostgresStore::builder(codec(SECRET))
        .table(&table)
        .connect(&via_url)
        .await
        .unwrap();
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    Target {
        name: "PostgreSQL",
        via: Arc::new(via),
        direct: Arc::new(direct),
        counter: Counter::Postgres(client, table),
        small_pool,
        _cleanup: cleanup,
    }
}

/// A MySQL store through `proxy` over a fresh table (`pool_min=1&pool_max=2` when
/// `small_pool`).
async fn mysql(url: &str, proxy: &Proxy, small_pool: bool) -> Target {
    use mysql_async::prelude::Queryable;
    let table = unique("django_session_f");
    let cleanup = {
        let (url, table) = (url.to_owned(), table.clone());
        Cleanup(Some(Box::new(move || {
            on_own_runtime(async move {
                if let Ok(mut conn) =
                    mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap()).await
                {
                    let _ = conn
                        .query_drop(format!("DROP TABLE IF EXISTS `{table}`"))
                        .await;
                    let _ = conn.disconnect().await;
                }
            })
        })))
    };
    let direct = MysqlStore::builder(codec(SECRET))
        .table(&table)
        .connect(url)
        .await
        .unwrap();
    direct.create_table().await.unwrap();
    // mysql_async otherwise switches a loopback TCP connection over to the server's Unix
    // socket (`prefer_socket` defaults to true), which would bypass the proxy.
    let mut via_url = with_param(&proxy.url(url), "prefer_socket=false");
    if small_pool {
        via_url = with_param(&via_url, "pool_min=1&pool_max=2");
    }
    let via = MysqlStore::builder(codec(SECRET))
        .table(&table)
        .connect(&via_url)
        .await
        .unwrap();
    let raw = mysql_async::Pool::new(mysql_async::Opts::from_url(url).unwrap());
    Target {
        name: "MySQL",
        via: Arc::new(via),
        direct: Arc::new(direct),
        counter: Counter::Mysql(raw, table),
        small_pool,
        _cleanup: cleanup,
    }
}

/// A Redis store through `proxy` under a fresh key prefix.
async fn redis_target(url: &str, proxy: &Proxy) -> Target {
    let prefix = unique("tessera:faults:");
    let cleanup = {
        let (url, prefix) = (url.to_owned(), prefix.clone());
        Cleanup(Some(Box::new(move || {
            on_own_runtime(async move {
                let Ok(client) = redis::Client::open(url.as_str()) else {
                    return;
                };
                if let Ok(mut con) = client.get_multiplexed_async_connection().await {
                    let keys = common::redis_keys::keys_under(&mut con, &prefix)
                        .await
                        .unwrap_or_default();
                    if !keys.is_empty() {
                        let _: Result<(), _> =
                            redis::cmd("DEL").arg(keys).query_async(&mut con).await;
                    }
                }
            })
        })))
    };
    let direct = RedisStore::builder(url, codec(SECRET))
        .prefix(prefix.clone())
        .connect()
        .await
        .unwrap();
    let via = RedisStore::builder(proxy.url(url), codec(SECRET))
        .prefix(prefix.clone())
        .connect()
        .await
        .unwrap();
    let con = redis::Client::open(url)
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Target {
        name: "Redis",
        via: Arc::new(via),
        direct: Arc::new(direct),
        counter: Counter::Redis(con, prefix),
        small_pool: false,
        _cleanup: cleanup,
    }
}

// ---------------------------------------------------------------------------------------------
// The workload and its ledger.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug, PartialEq, Eq)]
enum Op {
    /// Set `key` on the shared session.
    Write(String),
    /// Make a new session holding `key`.
    Create(String),
    /// Read the reader's session, which holds `r=known`.
    Read,
}

#[derive(Debug)]
struct Outcome {
    op: Op,
    /// `None`: still running after [`HANG`].
    status: Option<StatusCode>,
    session_cookie: Option<String>,
    any_set_cookie: bool,
    body: String,
    began: Instant,
    elapsed: Duration,
    start: (u64, Mode),
    end: (u64, Mode),
}

impl Outcome {
    /// The proxy mode the request ran in from start to end, if it stayed in one.
    fn single_phase(&self) -> Option<Mode> {
        (self.start.0 == self.end.0).then_some(self.start.1)
    }

    /// Ran entirely while the proxy refused or blackholed: no byte of it reached the server.
    fn surely_unsent(&self) -> bool {
        matches!(self.single_phase(), Some(Mode::Refuse | Mode::Blackhole))
    }
}

/// Sends one request and records it with the proxy phases around it.
async fn run(app: &Router, proxy: &Proxy, op: Op, uri: &str, cookie: Option<&str>) -> Outcome {
    let start = proxy.phase();
    let began = Instant::now();
    let reply = tokio::time::timeout(HANG, send(app, uri, cookie)).await;
    let elapsed = began.elapsed();
    let end = proxy.phase();
    match reply {
        Ok(r) => Outcome {
            op,
            status: Some(r.status),
            session_cookie: r.session_cookie(),
            any_set_cookie: !r.set_cookies().is_empty(),
            body: r.body,
            began,
            elapsed,
            start,
            end,
        },
        Err(_) => Outcome {
            op,
            status: None,
            session_cookie: None,
            any_set_cookie: false,
            body: String::new(),
            began,
            elapsed,
            start,
            end,
        },
    }
}

#[derive(Clone, Copy)]
enum Role {
    Writer(usize),
    Creator,
    Reader,
}

/// One client: requests until `stop`, 30 ms apart.
async fn client(
    app: Router,
    proxy: Arc<Proxy>,
    stop: Arc<AtomicBool>,
    role: Role,
    cookie: String,
) -> Vec<Outcome> {
    let mut log = Vec::new();
    let mut seq = 0usize;
    while !stop.load(Ordering::SeqCst) {
        seq += 1;
        let outcome = match role {
            Role::Writer(id) => {
                let k = format!("w{id}_{seq}");
                let uri = format!("/set?{k}=1");
                run(&app, &proxy, Op::Write(k), &uri, Some(&cookie)).await
            }
            Role::Creator => {
                let k = format!("c{seq}");
                let uri = format!("/set?{k}=1");
                run(&app, &proxy, Op::Create(k), &uri, None).await
            }
            Role::Reader => run(&app, &proxy, Op::Read, "/get?k=r", Some(&cookie)).await,
        };
        log.push(outcome);
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    log
}

/// A restore, and the moment the first write after it was acknowledged.
struct Recovery {
    what: &'static str,
    restored: Instant,
    recovered: Instant,
}

impl Recovery {
    fn took(&self) -> Duration {
        self.recovered - self.restored
    }
}

/// Restores the link and writes through the app until a write is acknowledged. The probe
/// writes join the ledger.
async fn restore_and_recover(
    app: &Router,
    proxy: &Proxy,
    cookie: &str,
    ledger: &mut Vec<Outcome>,
    what: &'static str,
) -> Recovery {
    let restored = Instant::now();
    proxy.restore();
    for n in 0.. {
        let k = format!("probe_{}_{n}", what.replace(' ', "_"));
        let uri = format!("/set?{k}=1");
        let o = run(app, proxy, Op::Write(k), &uri, Some(cookie)).await;
        let ok = o.status == Some(StatusCode::OK);
        ledger.push(o);
        if ok {
            return Recovery {
                what,
                restored,
                recovered: Instant::now(),
            };
        }
        assert!(
            restored.elapsed() < Duration::from_secs(15),
            "no acknowledged write within 15 s after restoring the link ({what})"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    unreachable!()
}

/// The outage scenario against one server; panics listing every broken promise.
async fn outages(mut t: Target, proxy: Arc<Proxy>) {
    let started = Instant::now();
    let app = app(t.via.clone(), config());
    let shared = send(&app, "/set?seed=1", None).await;
    assert_eq!(shared.status, StatusCode::OK, "{}: {}", t.name, shared.body);
    let shared = shared.session_cookie().unwrap();
    let reader = send(&app, "/set?r=known", None)
        .await
        .session_cookie()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let mut clients = Vec::new();
    for role in [
        Role::Writer(0),
        Role::Writer(1),
        Role::Writer(2),
        Role::Creator,
        Role::Reader,
    ] {
        let cookie = match role {
            Role::Reader => reader.clone(),
            _ => shared.clone(),
        };
        clients.push(tokio::spawn(client(
            app.clone(),
            proxy.clone(),
            stop.clone(),
            role,
            cookie,
        )));
    }

    let mut ledger = Vec::new();
    let mut recoveries = Vec::new();
    tokio::time::sleep(HEALTHY).await;
    for what in ["refuse", "blackhole", "freeze"] {
        match what {
            "refuse" => proxy.cut(Cut::Refuse).await,
            "blackhole" => proxy.cut(Cut::Blackhole).await,
            _ => proxy.freeze(),
        }
        tokio::time::sleep(OUTAGE).await;
        recoveries.push(restore_and_recover(&app, &proxy, &shared, &mut ledger, what).await);
        tokio::time::sleep(HEALTHY).await;
    }
    stop.store(true, Ordering::SeqCst);
    for c in clients {
        ledger.extend(c.await.unwrap());
    }
    // Anything still in flight somewhere has had time to land.
    tokio::time::sleep(LATE_LANDING).await;

    let mut problems = Vec::new();
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for o in &ledger {
        let phase = match o.single_phase() {
            Some(m) => format!("{m:?}"),
            None => "straddling".to_owned(),
        };
        let status = o
            .status
            .map_or("hung".to_owned(), |s| s.as_u16().to_string());
        *counts.entry(format!("{phase} {status}")).or_default() += 1;
        match o.status {
            None => problems.push(format!("{:?} hung for {:?}", o.op, o.elapsed)),
            Some(StatusCode::OK) => {}
            Some(StatusCode::SERVICE_UNAVAILABLE) => {
                if o.any_set_cookie {
                    problems.push(format!("{:?}: a 503 with Set-Cookie", o.op));
                }
            }
            Some(s) => problems.push(format!("{:?}: status {s} ({})", o.op, o.body.trim())),
        }
        if o.elapsed > REQUEST_BOUND {
            problems.push(format!(
                "{:?} took {:?} ({status}, {phase})",
                o.op, o.elapsed
            ));
        }
        if o.single_phase().is_some_and(Mode::is_down) && o.status == Some(StatusCode::OK) {
            problems.push(format!("{:?} succeeded with the link down", o.op));
        }
        // With the link up, everything succeeds, except between a restore and the first
        // acknowledged write after it.
        let recovering = recoveries
            .iter()
            .any(|r| o.began >= r.restored && o.began < r.recovered);
        if o.single_phase() == Some(Mode::Forward)
            && !recovering
            && o.status != Some(StatusCode::OK)
        {
            problems.push(format!(
                "{:?} failed with the link up and recovered: {status} {}",
                o.op,
                o.body.trim()
            ));
        }
        if o.op == Op::Read && o.status == Some(StatusCode::OK) && o.body != "known" {
            problems.push(format!("a read returned {:?}, not its own session", o.body));
        }
    }

    // The shared session, read straight from the server.
    let stored = t
        .direct
        .load(&key_of(&shared), now())
        .await
        .unwrap()
        .expect("the shared session exists")
        .data;
    // Nothing from another session leaked in (a connection handed back with someone else's
    // reply still pending would show here).
    for k in stored.keys() {
        if !(k == "seed" || k.starts_with('w') || k.starts_with("probe_")) {
            problems.push(format!("the shared session holds a foreign key {k:?}"));
        }
    }
    let (mut acked, mut unsent, mut landed_anyway) = (0, 0, 0);
    for o in &ledger {
        let Op::Write(k) = &o.op else { continue };
        match o.status {
            Some(StatusCode::OK) => {
                acked += 1;
                if !stored.contains_key(k) {
                    problems.push(format!("acknowledged write {k} was lost"));
                }
            }
            _ if o.surely_unsent() => {
                unsent += 1;
                if stored.contains_key(k) {
                    problems.push(format!(
                        "write {k} failed while the link was down, yet was applied"
                    ));
                }
            }
            _ => landed_anyway += usize::from(stored.contains_key(k)),
        }
    }
    // Every acknowledged new session exists with its data; none made while the link was
    // down does (counted: their keys were never sent to the client).
    let (mut created, mut maybe_created) = (0u64, 0u64);
    for o in &ledger {
        let Op::Create(k) = &o.op else { continue };
        if o.status == Some(StatusCode::OK) {
            created += 1;
            let cookie = o.session_cookie.as_deref().expect("a new session's cookie");
            match t.direct.load(&key_of(cookie), now()).await.unwrap() {
                Some(l) if l.data.contains_key(k) && l.data.len() == 1 => {}
                other => problems.push(format!("acknowledged session {k} is {other:?}")),
            }
        } else if !o.surely_unsent() {
            maybe_created += 1;
        }
    }
    let records = t.counter.count().await;
    let least = 2 + created;
    if records < least || records > least + maybe_created {
        problems.push(format!(
            "{records} records stored; expected {least} (2 + {created} acknowledged new sessions) \
             plus at most {maybe_created} whose failure was ambiguous"
        ));
    }
    for r in &recoveries {
        if r.took() > RECOVERY_BOUND {
            problems.push(format!("recovery after {} took {:?}", r.what, r.took()));
        }
    }
    let recoveries: Vec<_> = recoveries.iter().map(|r| (r.what, r.took())).collect();
    // The same app still works for a brand-new session and the old ones.
    let fresh = send(&app, "/set?after=1", None).await;
    if fresh.status != StatusCode::OK {
        problems.push(format!("a new session after recovery: {}", fresh.status));
    }
    let read = send(&app, "/get?k=r", Some(&reader)).await;
    if read.body != "known" {
        problems.push(format!(
            "the reader's session after recovery: {:?}",
            read.body
        ));
    }
    let mut slowest = std::collections::BTreeMap::<String, Duration>::new();
    for o in &ledger {
        let phase = o
            .single_phase()
            .map_or("straddling".to_owned(), |m| format!("{m:?}"));
        let e = slowest.entry(phase).or_default();
        *e = (*e).max(o.elapsed);
    }
    eprintln!(
        "{}: {} requests in {:.1?} ({counts:?}); {acked} acknowledged writes all present, \
         {unsent} writes failed with the link down and none applied, {landed_anyway} \
         ambiguous failed writes landed anyway; {created} new sessions; slowest request \
         per phase {slowest:?}; recovery {recoveries:?}; proxy accepted {} connections",
        t.name,
        ledger.len(),
        started.elapsed(),
        proxy.accepted()
    );
    for down in [Mode::Refuse, Mode::Blackhole, Mode::Frozen] {
        let failed = ledger
            .iter()
            .filter(|o| o.single_phase() == Some(down))
            .count();
        if failed == 0 {
            problems.push(format!("no request ran entirely in {down:?} mode"));
        }
    }
    assert!(
        problems.is_empty(),
        "{}: {} broken promises:\n{}",
        t.name,
        problems.len(),
        problems.join("\n")
    );
}

/// A burst of concurrent requests over a slow link: each ends within the bound, in a 200 or
/// a 503, and every 200 is stored; afterwards everything works again.
async fn slow_link(mut t: Target, proxy: Arc<Proxy>) {
    const SESSIONS: usize = 20;
    let app = app(t.via.clone(), config());
    let mut cookies = Vec::new();
    for i in 0..SESSIONS {
        let r = send(&app, &format!("/set?base={i}"), None).await;
        assert_eq!(r.status, StatusCode::OK, "{}: {}", t.name, r.body);
        cookies.push(r.session_cookie().unwrap());
    }
    proxy.delay(60);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (i, cookie) in cookies.iter().enumerate() {
        // One write on each existing session (load + save) and one new session (create).
        for (op, cookie) in [
            (Op::Write(format!("slow{i}")), Some(cookie.clone())),
            (Op::Create(format!("fresh{i}")), None),
        ] {
            let (app, proxy) = (app.clone(), proxy.clone());
            tasks.push(tokio::spawn(async move {
                let k = match &op {
                    Op::Write(k) | Op::Create(k) => k.clone(),
                    Op::Read => unreachable!(),
                };
                let uri = format!("/set?{k}=1");
                let o = run(&app, &proxy, op, &uri, cookie.as_deref()).await;
                (cookie, o)
            }));
        }
    }
    let mut outcomes = Vec::new();
    for task in tasks {
        outcomes.push(task.await.unwrap());
    }
    let burst = started.elapsed();
    proxy.restore();
    tokio::time::sleep(LATE_LANDING).await;

    let mut problems = Vec::new();
    let (mut ok, mut unavailable) = (0, 0);
    for (cookie, o) in &outcomes {
        match o.status {
            Some(StatusCode::OK) => {
                ok += 1;
                let (key, k) = match (&o.op, cookie) {
                    (Op::Write(k), Some(c)) => (key_of(c), k),
                    (Op::Create(k), None) => (key_of(o.session_cookie.as_deref().unwrap()), k),
                    _ => unreachable!(),
                };
                let stored = t.direct.load(&key, now()).await.unwrap();
                if !stored.is_some_and(|l| l.data.contains_key(k)) {
                    problems.push(format!("acknowledged {k} was lost"));
                }
            }
            Some(StatusCode::SERVICE_UNAVAILABLE) => {
                unavailable += 1;
                if o.any_set_cookie {
                    problems.push(format!("{:?}: a 503 with Set-Cookie", o.op));
                }
            }
            Some(s) => problems.push(format!("{:?}: status {s}", o.op)),
            None => problems.push(format!("{:?} hung", o.op)),
        }
        if o.elapsed > REQUEST_BOUND {
            problems.push(format!("{:?} took {:?}", o.op, o.elapsed));
        }
    }
    if t.small_pool && unavailable == 0 {
        problems.push("a 2-connection pool over a slow link served the whole burst".to_owned());
    }
    // Healed: every session reads and writes again.
    let healed = Instant::now();
    let mut pending: Vec<usize> = (0..SESSIONS).collect();
    while !pending.is_empty() && healed.elapsed() < Duration::from_secs(10) {
        let mut still = Vec::new();
        for i in pending {
            let r = send(&app, &format!("/set?after{i}=1"), Some(&cookies[i])).await;
            if r.status != StatusCode::OK {
                still.push(i);
            }
        }
        pending = still;
        if !pending.is_empty() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    if !pending.is_empty() {
        problems.push(format!(
            "{} sessions still failing 10 s after restore",
            pending.len()
        ));
    }
    let records = t.counter.count().await;
    let slowest = outcomes
        .iter()
        .map(|(_, o)| o.elapsed)
        .max()
        .unwrap_or_default();
    eprintln!(
        "{} slow link: {} concurrent requests in {burst:.1?}: {ok} × 200, {unavailable} × 503, \
         slowest {slowest:?}; healed in {:.1?}; {records} records",
        t.name,
        outcomes.len(),
        healed.elapsed()
    );
    assert!(
        problems.is_empty(),
        "{}: {} broken promises:\n{}",
        t.name,
        problems.len(),
        problems.join("\n")
    );
}

// ---------------------------------------------------------------------------------------------
// The tests.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outages_fail_fast_lose_nothing_and_heal() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = postgres_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = postgres(&url, &proxy, false).await;
    outages(t, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_outages_fail_fast_lose_nothing_and_heal() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = mysql_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = mysql(&url, &proxy, false).await;
    outages(t, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outages_fail_fast_lose_nothing_and_heal() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = redis_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = redis_target(&url, &proxy).await;
    outages(t, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_small_pool_on_a_slow_link_never_hangs() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = postgres_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = postgres(&url, &proxy, true).await;
    slow_link(t, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_small_pool_on_a_slow_link_never_hangs() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = mysql_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = mysql(&url, &proxy, true).await;
    slow_link(t, proxy).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_on_a_slow_link_never_hangs() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = redis_url() else { return };
    let proxy = Arc::new(Proxy::start(&host_port(&url)).await);
    let t = redis_target(&url, &proxy).await;
    slow_link(t, proxy).await;
}

/// The proxy itself: forwards, refuses, blackholes, freezes and restores as promised.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_proxy_does_what_it_says() {
    let _turn = crate::common::exclusive().await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    // An echo server.
    let echo = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let echo_addr = echo.local_addr().unwrap();
    let served = Arc::new(AtomicUsize::new(0));
    let counter = served.clone();
    let server = tokio::spawn(async move {
        loop {
            let (mut s, _) = echo.accept().await.unwrap();
            counter.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let proxy = Proxy::start(&echo_addr.to_string()).await;
    assert_eq!(
        proxy.url(&format!("redis://{echo_addr}/0")),
        format!("redis://{}/0", proxy.addr())
    );
    async fn roundtrip(addr: std::net::SocketAddr, within: Duration) -> Result<Duration, String> {
        let began = Instant::now();
        let attempt = async {
            let mut s = tokio::net::TcpStream::connect(addr)
                .await
                .map_err(|e| e.to_string())?;
            s.write_all(b"ping").await.map_err(|e| e.to_string())?;
            let mut buf = [0u8; 4];
            s.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
            if &buf != b"ping" {
                return Err("garbled".to_owned());
            }
            Ok(began.elapsed())
        };
        match tokio::time::timeout(within, attempt).await {
            Ok(r) => r,
            Err(_) => Err("timed out".to_owned()),
        }
    }
    let addr = proxy.addr();
    roundtrip(addr, Duration::from_secs(2)).await.unwrap();

    // An open connection, then a cut: it is closed, and new ones are reset.
    let mut open = tokio::net::TcpStream::connect(addr).await.unwrap();
    open.write_all(b"x").await.unwrap();
    let mut one = [0u8; 1];
    open.read_exact(&mut one).await.unwrap();
    proxy.cut(Cut::Refuse).await;
    let mut rest = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(2), open.read_to_end(&mut rest)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "cut closes open links"
    );
    assert!(roundtrip(addr, Duration::from_secs(2)).await.is_err());

    // Blackhole: accepted, never answered, never forwarded even after restore.
    proxy.cut(Cut::Blackhole).await;
    let before = served.load(Ordering::SeqCst);
    let err = roundtrip(addr, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err, "timed out");
    let mut held = tokio::net::TcpStream::connect(addr).await.unwrap();
    held.write_all(b"lost").await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    proxy.restore();
    let mut buf = Vec::new();
    let r = tokio::time::timeout(Duration::from_secs(2), held.read_to_end(&mut buf)).await;
    assert!(
        matches!(r, Ok(Ok(0)) | Ok(Err(_))),
        "a held socket is closed on restore"
    );
    assert_eq!(
        served.load(Ordering::SeqCst),
        before,
        "nothing reached the server"
    );
    roundtrip(addr, Duration::from_secs(2)).await.unwrap();

    // Freeze: an open link stalls, then resumes and delivers what was in flight.
    let mut open = tokio::net::TcpStream::connect(addr).await.unwrap();
    open.write_all(b"a").await.unwrap();
    open.read_exact(&mut one).await.unwrap();
    proxy.freeze();
    open.write_all(b"b").await.unwrap();
    assert!(
        tokio::time::timeout(Duration::from_millis(300), open.read_exact(&mut one))
            .await
            .is_err(),
        "frozen"
    );
    proxy.restore();
    tokio::time::timeout(Duration::from_secs(2), open.read_exact(&mut one))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&one, b"b");

    // Delay: each chunk waits, both ways.
    proxy.delay(150);
    let took = roundtrip(addr, Duration::from_secs(3)).await.unwrap();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    proxy.restore();
    let took = roundtrip(addr, Duration::from_secs(2)).await.unwrap();
    assert!(took < Duration::from_millis(300), "{took:?}");

    // Epochs count the changes.
    let (epoch, mode) = proxy.phase();
    assert_eq!(mode, Mode::Forward);
    assert_eq!(epoch, 9, "two per cut, one per other change");
    drop(proxy);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err()
            || roundtrip(addr, Duration::from_millis(300)).await.is_err(),
        "a dropped proxy stops"
    );
    server.abort();
}

// ---------------------------------------------------------------------------------------------
// A locked row: the server is healthy, one session's row is locked by another transaction.
// ---------------------------------------------------------------------------------------------

/// Something that holds a row lock on one session until released.
enum RowLock {
    Postgres(tokio_postgres::Client),
    Mysql(mysql_async::Conn),
}

impl RowLock {
    async fn take(url: &str, table: &str, key: &SessionKey, postgres: bool) -> RowLock {
        if postgres {
            let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls)
                .await
                .unwrap();
            tokio::spawn(conn);
            client.batch_execute("BEGIN").await.unwrap();
            let rows = client
                .query(
                    &format!("SELECT 1 FROM \"{table}\" WHERE session_key = $1 FOR UPDATE"),
                    &[&key.as_str()],
                )
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            RowLock::Postgres(client)
        } else {
            use mysql_async::prelude::Queryable;
            let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(url).unwrap())
                .await
                .unwrap();
            conn.query_drop("START TRANSACTION").await.unwrap();
            let rows: Vec<u8> = conn
                .exec(
                    format!("SELECT 1 FROM `{table}` WHERE session_key = ? FOR UPDATE"),
                    (key.as_str(),),
                )
                .await
                .unwrap();
            assert_eq!(rows.len(), 1);
            RowLock::Mysql(conn)
        }
    }

    async fn release(self) {
        match self {
            RowLock::Postgres(c) => c.batch_execute("ROLLBACK").await.unwrap(),
            RowLock::Mysql(mut c) => {
                use mysql_async::prelude::Queryable;
                c.query_drop("ROLLBACK").await.unwrap();
                c.disconnect().await.unwrap();
            }
        }
    }
}

/// What happened while one session's row was locked by someone else's transaction.
struct LockedRow {
    name: &'static str,
    /// The write to the locked session: status and time.
    blocked: (StatusCode, Duration),
    /// Ten sequential writes to another session while the row was locked.
    others: Vec<(StatusCode, Duration)>,
    /// Whether the locked session's 503'd write was applied once the lock was released.
    applied_late: bool,
}

/// Locks one session's row in another transaction, writes to it and then ten times to
/// another session through the app, releases the lock, and looks at what landed.
async fn locked_row(t: Target, url: &str, postgres: bool) -> LockedRow {
    let table = match &t.counter {
        Counter::Postgres(_, table) | Counter::Mysql(_, table) => table.clone(),
        Counter::Redis(..) => unreachable!("Redis has no row locks"),
    };
    let app = app(t.via.clone(), config());
    let a = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
    let b = send(&app, "/set?b=1", None).await.session_cookie().unwrap();
    let lock = RowLock::take(url, &table, &key_of(&a), postgres).await;
    let blocked = timed_send(&app, "/set?blocked=1", &a).await;
    let mut others = Vec::new();
    for i in 0..10 {
        others.push(timed_send(&app, &format!("/set?free{i}=1"), &b).await);
    }
    lock.release().await;
    tokio::time::sleep(LATE_LANDING).await;
    let a_now = t
        .direct
        .load(&key_of(&a), now())
        .await
        .unwrap()
        .unwrap()
        .data;
    let report = LockedRow {
        name: t.name,
        blocked,
        others,
        applied_late: a_now.contains_key("blocked"),
    };
    eprintln!(
        "{} locked row: the locked session's write {:?}; another session meanwhile {:?}; the \
         503'd write {} applied after the lock was released",
        report.name,
        report.blocked,
        report.others,
        if report.applied_late {
            "WAS"
        } else {
            "was not"
        }
    );
    assert_eq!(
        report.blocked.0,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        t.name
    );
    assert!(report.blocked.1 < REQUEST_BOUND, "{}", t.name);
    report
}

impl LockedRow {
    fn assert_others_unaffected(&self) {
        let failed: Vec<_> = self
            .others
            .iter()
            .enumerate()
            .filter(|(_, (s, _))| *s != StatusCode::OK)
            .collect();
        assert!(
            failed.is_empty(),
            "{}: another session's writes failed while one row was locked: {failed:?}",
            self.name
        );
    }

    fn assert_not_applied_late(&self) {
        assert!(
            !self.applied_late,
            "{}: a write answered 503 was applied once the lock was released",
            self.name
        );
    }
}

async fn timed_send(app: &Router, uri: &str, cookie: &str) -> (StatusCode, Duration) {
    let began = Instant::now();
    let r = send(app, uri, Some(cookie)).await;
    (r.status, began.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_locked_row_stalls_no_other_session() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = postgres_url() else { return };
    let proxy = Proxy::start(&host_port(&url)).await;
    let t = postgres(&url, &proxy, false).await;
    locked_row(t, &url, true).await.assert_others_unaffected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_write_that_timed_out_on_a_lock_is_not_applied_later() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = postgres_url() else { return };
    let proxy = Proxy::start(&host_port(&url)).await;
    let t = postgres(&url, &proxy, false).await;
    locked_row(t, &url, true).await.assert_not_applied_late();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_locked_row_stalls_no_other_session() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = mysql_url() else { return };
    let proxy = Proxy::start(&host_port(&url)).await;
    let t = mysql(&url, &proxy, false).await;
    locked_row(t, &url, false).await.assert_others_unaffected();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mysql_a_write_that_timed_out_on_a_lock_is_not_applied_later() {
    let _turn = crate::common::exclusive().await;
    let Some(url) = mysql_url() else { return };
    let proxy = Proxy::start(&host_port(&url)).await;
    let t = mysql(&url, &proxy, false).await;
    locked_row(t, &url, false).await.assert_not_applied_late();
}

/// What happened while another SQLite connection held the database's write lock.
struct SqliteLocked {
    /// The write: status and time.
    blocked: (StatusCode, Duration),
    /// Reads of another session meanwhile.
    reads: Vec<(StatusCode, Duration, String)>,
    /// Whether the 503'd write was applied once the lock was released.
    applied_late: bool,
}

/// Another connection (Django's, say) holds SQLite's write lock for 1.5 s (less than the
/// store's 5 s busy timeout): a write through the app fails with a quick 503, reads go on.
async fn sqlite_write_lock() -> SqliteLocked {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("faults-sqlite-"));
    std::fs::create_dir_all(&dir).unwrap();
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(dir.clone());
    let path = dir.join("db.sqlite3");
    let store = tessera::store::sqlite::SqliteStore::open(&path, codec(SECRET)).unwrap();
    let store: Arc<dyn SessionStore> = Arc::new(store);
    let app = app(store.clone(), config());
    let a = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
    let b = send(&app, "/set?b=known", None)
        .await
        .session_cookie()
        .unwrap();

    // The lock is held until the test has made its write and its reads: every read that
    // answers did so while the lock was held, whatever the machine's speed.
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let path = path.clone();
        std::thread::spawn(move || {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("BEGIN IMMEDIATE").unwrap();
            locked_tx.send(()).unwrap();
            release_rx.recv().unwrap();
            conn.execute_batch("ROLLBACK").unwrap();
        })
    };
    locked_rx.recv().unwrap();
    let blocked = timed_send(&app, "/set?blocked=1", &a).await;
    let mut reads = Vec::new();
    for _ in 0..5 {
        let began = Instant::now();
        let r = send(&app, "/get?k=b", Some(&b)).await;
        reads.push((r.status, began.elapsed(), r.body));
    }
    release_tx.send(()).unwrap();
    tokio::task::spawn_blocking(move || blocker.join().unwrap())
        .await
        .unwrap();
    tokio::time::sleep(LATE_LANDING).await;
    let a_now = store.load(&key_of(&a), now()).await.unwrap().unwrap().data;
    let report = SqliteLocked {
        blocked,
        reads,
        applied_late: a_now.contains_key("blocked"),
    };
    eprintln!(
        "SQLite write lock held elsewhere: the write {:?}; reads meanwhile {:?}; the 503'd \
         write {} applied after the lock was released",
        report.blocked,
        report.reads,
        if report.applied_late {
            "WAS"
        } else {
            "was not"
        }
    );
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_write_lock_held_elsewhere_fails_writes_fast_and_not_reads() {
    let _turn = crate::common::exclusive().await;
    let r = sqlite_write_lock().await;
    assert_eq!(r.blocked.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.blocked.1 < REQUEST_BOUND, "{:?}", r.blocked);
    for (status, took, body) in &r.reads {
        assert_eq!(*status, StatusCode::OK);
        assert_eq!(body, "known");
        assert!(*took < REQUEST_BOUND, "{took:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_write_that_timed_out_on_the_lock_is_not_applied_later() {
    let _turn = crate::common::exclusive().await;
    let r = sqlite_write_lock().await;
    assert!(
        !r.applied_late,
        "a write answered 503 was applied once the lock was released"
    );
}

/// The file store: another process holds a session's lock file for 1.5 s (less than the
/// store's 5 s lock timeout). The save is a quick 503; returns whether it landed later.
async fn file_lock_held_elsewhere() -> bool {
    let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(unique("faults-file-"));
    struct Gone(std::path::PathBuf);
    impl Drop for Gone {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _gone = Gone(dir.clone());
    let store: Arc<dyn SessionStore> =
        Arc::new(tessera::store::file::FileStore::new(&dir, codec(SECRET)).unwrap());
    let app = app(store.clone(), config());
    let a = send(&app, "/set?a=1", None).await.session_cookie().unwrap();
    let b = send(&app, "/set?b=1", None).await.session_cookie().unwrap();
    let lock = dir.join(format!("{}.lock", a.replace('=', "")));
    std::fs::write(&lock, b"").unwrap();
    let blocked = timed_send(&app, "/set?blocked=1", &a).await;
    let other = timed_send(&app, "/set?free=1", &b).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    std::fs::remove_file(&lock).unwrap();
    tokio::time::sleep(LATE_LANDING).await;
    let a_now = store.load(&key_of(&a), now()).await.unwrap().unwrap().data;
    eprintln!(
        "file store lock held elsewhere: the write {blocked:?}; another session {other:?}; the \
         503'd write {} applied after the lock was released",
        if a_now.contains_key("blocked") {
            "WAS"
        } else {
            "was not"
        }
    );
    assert_eq!(blocked.0, StatusCode::SERVICE_UNAVAILABLE);
    assert!(blocked.1 < REQUEST_BOUND, "{blocked:?}");
    assert_eq!(other.0, StatusCode::OK, "another session is not held up");
    a_now.contains_key("blocked")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_a_held_lock_fails_that_session_fast_and_no_other() {
    let _turn = crate::common::exclusive().await;
    file_lock_held_elsewhere().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_store_a_write_that_timed_out_on_a_lock_is_not_applied_later() {
    let _turn = crate::common::exclusive().await;
    assert!(
        !file_lock_held_elsewhere().await,
        "a write answered 503 was applied once the lock was released"
    );
}
