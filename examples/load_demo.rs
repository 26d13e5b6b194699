//! A load run against a running demo server (`tessera serve`) that checks every answer.
//!
//! Many sessions are written at once: each session has several writers, each PATCHing its
//! own key with an increasing counter and reading it back. Since a writer's key is changed by
//! that writer alone, every read must show its last acknowledged write, and at the end every
//! key must hold it: any difference is a lost update. Churn tasks meanwhile create, write,
//! flush and replay sessions (a flushed cookie must read as an empty session). With
//! `--server-pid`, the server's resident memory is sampled, to show it stays flat. Hostile
//! clients can run beside: `--idle N` holds N connections open that never send a byte, and
//! `--max-bodies N` runs N tasks PATCHing maximal bodies (1 MiB of `[[],[],…]`, refused, and a
//! 1 MB string, stored in a new session each time).
//!
//! ```text
//! cargo run --release --example load_demo -- --addr 127.0.0.1:8000 --seconds 60
//! ```
//! `scripts/load_demo.sh` starts the server on a store and runs this against it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, COOKIE, SET_COOKIE};
use hyper::{Method, Request, StatusCode};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};

#[derive(Parser, Debug)]
struct Args {
    /// The demo server's address
    #[arg(long, default_value = "127.0.0.1:8000")]
    addr: String,
    /// How long the load runs
    #[arg(long, default_value_t = 30)]
    seconds: u64,
    /// Sessions written concurrently
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Writers per session, each with its own key
    #[arg(long, default_value_t = 4)]
    writers: usize,
    /// Tasks that create, write, flush and replay sessions in a loop
    #[arg(long, default_value_t = 16)]
    churn: usize,
    /// Read back after every Nth write
    #[arg(long, default_value_t = 4)]
    read_every: u64,
    /// The server's process id: its resident memory is sampled
    #[arg(long)]
    server_pid: Option<u32>,
    /// Seconds between progress lines
    #[arg(long, default_value_t = 10)]
    report_every: u64,
    /// Connections opened before the load and held, silent, until the end
    #[arg(long, default_value_t = 0)]
    idle: usize,
    /// Tasks sending maximal bodies in a loop (their answers are counted, not checked)
    #[arg(long, default_value_t = 0)]
    max_bodies: usize,
}

type HttpClient = Client<HttpConnector, Full<Bytes>>;

/// What the run saw: counts, failures by kind, and latencies.
#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    failures: Mutex<BTreeMap<String, u64>>,
    latencies_us: Mutex<Vec<u32>>,
}

impl Tally {
    fn fail(&self, what: String) {
        *self.failures.lock().unwrap().entry(what).or_default() += 1;
    }

    fn failure_count(&self) -> u64 {
        self.failures.lock().unwrap().values().sum()
    }
}

/// One HTTP exchange: status, the new `sessionid` cookie value if one was set, and the body.
struct Answer {
    status: StatusCode,
    set_session: Option<String>,
    body: Value,
}

struct Driver {
    client: HttpClient,
    base: String,
    tally: Tally,
}

impl Driver {
    async fn call(
        &self,
        method: Method,
        cookie: Option<&str>,
        body: Option<Value>,
        latencies: &mut Vec<u32>,
    ) -> Result<Answer, String> {
        let mut builder = Request::builder()
            .method(method)
            .uri(format!("{}/api/session", self.base));
        if let Some(key) = cookie {
            builder = builder.header(COOKIE, format!("sessionid={key}"));
        }
        let payload = match body {
            Some(v) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        let request = builder
            .body(Full::new(payload))
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| format!("transport: {e}"))?;
        let status = response.status();
        let set_session = response
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find_map(|v| v.strip_prefix("sessionid="))
            .map(|v| {
                v.split(';')
                    .next()
                    .unwrap_or("")
                    .trim_matches('"')
                    .to_owned()
            });
        let bytes = response
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        latencies.push(started.elapsed().as_micros().min(u32::MAX as u128) as u32);
        self.tally.requests.fetch_add(1, Ordering::Relaxed);
        let body = serde_json::from_slice(&bytes).map_err(|e| format!("non-JSON answer: {e}"))?;
        Ok(Answer {
            status,
            set_session,
            body,
        })
    }

    /// Runs `call` and files anything but a 200 as a failure named `what`.
    async fn ok(
        &self,
        what: &str,
        method: Method,
        cookie: Option<&str>,
        body: Option<Value>,
        latencies: &mut Vec<u32>,
    ) -> Option<Answer> {
        match self.call(method, cookie, body, latencies).await {
            Ok(a) if a.status == StatusCode::OK => Some(a),
            Ok(a) => {
                self.tally
                    .fail(format!("{what}: HTTP {}", a.status.as_u16()));
                None
            }
            Err(e) => {
                self.tally.fail(format!("{what}: {e}"));
                None
            }
        }
    }
}

/// Creates a session holding `{"created": 1}` and a login (Django's `_auth_user_id`, which
/// the memory store never evicts for an anonymous session) and returns its key.
async fn create(driver: &Driver, latencies: &mut Vec<u32>) -> Option<String> {
    let answer = driver
        .ok(
            "create",
            Method::PATCH,
            None,
            Some(json!({"created": 1, "_auth_user_id": "1"})),
            latencies,
        )
        .await?;
    if answer.set_session.is_none() {
        driver.tally.fail("create: no session cookie".into());
    }
    answer.set_session
}

/// PATCHes `{name: n}` for n = 1, 2, … until `stop`; returns the last acknowledged n.
async fn writer(
    driver: Arc<Driver>,
    key: String,
    name: String,
    read_every: u64,
    stop: Arc<AtomicBool>,
) -> u64 {
    let mut latencies = Vec::new();
    let mut acked = 0;
    let mut n = 0;
    while !stop.load(Ordering::Relaxed) {
        n += 1;
        let change = json!({ name.as_str(): n });
        let Some(answer) = driver
            .ok(
                "write",
                Method::PATCH,
                Some(&key),
                Some(change),
                &mut latencies,
            )
            .await
        else {
            continue;
        };
        if answer.body["data"][name.as_str()] != json!(n) {
            driver.tally.fail("write: answer lacks the write".into());
        }
        acked = n;
        if n % read_every == 0 {
            if let Some(read) = driver
                .ok("read", Method::GET, Some(&key), None, &mut latencies)
                .await
            {
                if read.body["data"][name.as_str()] != json!(acked) {
                    driver
                        .tally
                        .fail("read: an acknowledged write is missing".into());
                }
            }
        }
    }
    driver.tally.latencies_us.lock().unwrap().extend(latencies);
    acked
}

/// Creates, writes, flushes and replays sessions until `stop`.
async fn churn(driver: Arc<Driver>, stop: Arc<AtomicBool>) {
    let mut latencies = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let Some(key) = create(&driver, &mut latencies).await else {
            continue;
        };
        let change = Some(json!({"step": 2}));
        if driver
            .ok(
                "churn write",
                Method::PATCH,
                Some(&key),
                change,
                &mut latencies,
            )
            .await
            .is_none()
        {
            continue;
        }
        let Some(flushed) = driver
            .ok("flush", Method::DELETE, Some(&key), None, &mut latencies)
            .await
        else {
            continue;
        };
        if flushed.set_session.as_deref() != Some("") {
            driver
                .tally
                .fail("flush: the cookie was not deleted".into());
        }
        if let Some(replay) = driver
            .ok("replay", Method::GET, Some(&key), None, &mut latencies)
            .await
        {
            if replay.body["data"] != json!({}) {
                driver
                    .tally
                    .fail("replay: a flushed session still loads".into());
            }
        }
    }
    driver.tally.latencies_us.lock().unwrap().extend(latencies);
}

/// Resident set size of a process, in KiB, from /proc.
/// PATCHes maximal bodies until `stop`: 1 MiB of empty lists (past the value budget: a 400
/// or 413) and a 1 MB string (stored, in a new anonymous session each time). Counts answers
/// by status.
async fn max_bodies(
    driver: Arc<Driver>,
    stop: Arc<AtomicBool>,
    answers: Arc<Mutex<BTreeMap<u16, u64>>>,
) {
    let lists = format!("{{\"l\": [{}]}}", vec!["[]"; 349_000].join(","));
    let string = format!("{{\"s\": \"{}\"}}", "x".repeat(1_000_000));
    let bodies = [Bytes::from(lists), Bytes::from(string)];
    let mut turn = 0;
    while !stop.load(Ordering::Relaxed) {
        turn += 1;
        let request = Request::builder()
            .method(Method::PATCH)
            .uri(format!("{}/api/session", driver.base))
            .header(CONTENT_TYPE, "application/json")
            .body(Full::new(bodies[turn % 2].clone()));
        let Ok(request) = request else { return };
        let status = match driver.client.request(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                let _ = response.into_body().collect().await;
                status
            }
            Err(_) => 0,
        };
        *answers.lock().unwrap().entry(status).or_default() += 1;
    }
}

fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let args = Args::parse();
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(args.sessions * args.writers + args.churn)
        .build(connector);
    let driver = Arc::new(Driver {
        client,
        base: format!("http://{}", args.addr),
        tally: Tally::default(),
    });

    let mut setup = Vec::new();
    let mut keys = Vec::with_capacity(args.sessions);
    for _ in 0..args.sessions {
        match create(&driver, &mut setup).await {
            Some(key) => keys.push(key),
            None => {
                eprintln!("cannot create a session: {:?}", driver.tally.failures);
                std::process::exit(1);
            }
        }
    }

    let mut idle = Vec::with_capacity(args.idle);
    for i in 0..args.idle {
        match tokio::net::TcpStream::connect(&args.addr).await {
            Ok(stream) => idle.push(stream),
            Err(e) => {
                eprintln!("idle connection {i}: {e}");
                break;
            }
        }
    }
    if args.idle > 0 {
        println!("holding {} idle connections", idle.len());
    }

    let stop = Arc::new(AtomicBool::new(false));
    let body_answers = Arc::new(Mutex::new(BTreeMap::new()));
    let hostile: Vec<_> = (0..args.max_bodies)
        .map(|_| {
            tokio::spawn(max_bodies(
                driver.clone(),
                stop.clone(),
                body_answers.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    let mut writers = Vec::new();
    for key in &keys {
        for w in 0..args.writers {
            let task = writer(
                driver.clone(),
                key.clone(),
                format!("w{w}"),
                args.read_every,
                stop.clone(),
            );
            writers.push((key.clone(), format!("w{w}"), tokio::spawn(task)));
        }
    }
    let churners: Vec<_> = (0..args.churn)
        .map(|_| tokio::spawn(churn(driver.clone(), stop.clone())))
        .collect();

    let mut rss_samples = Vec::new();
    let deadline = started + Duration::from_secs(args.seconds);
    let mut last_count = 0;
    let mut last_at = started;
    println!("   time      req/s  failures   server RSS");
    while Instant::now() < deadline {
        let next = (last_at + Duration::from_secs(args.report_every)).min(deadline);
        tokio::time::sleep_until(next.into()).await;
        let now = Instant::now();
        let count = driver.tally.requests.load(Ordering::Relaxed);
        let rate = (count - last_count) as f64 / (now - last_at).as_secs_f64();
        let rss = args.server_pid.and_then(rss_kib);
        if let Some(kib) = rss {
            rss_samples.push(kib);
        }
        println!(
            "{:>6.0} s {:>10.0} {:>9} {:>10}",
            (now - started).as_secs_f64(),
            rate,
            driver.tally.failure_count(),
            rss.map_or("-".into(), |k| format!("{:.1} MiB", k as f64 / 1024.0)),
        );
        last_count = count;
        last_at = now;
    }
    stop.store(true, Ordering::Relaxed);

    let mut final_acks = Vec::new();
    for (key, name, task) in writers {
        final_acks.push((key, name, task.await.unwrap_or(0)));
    }
    for task in churners.into_iter().chain(hostile) {
        let _ = task.await;
    }
    // How many of the idle connections the server has closed by now.
    let closed = idle
        .iter()
        .filter(|s| {
            let mut buf = [0u8; 1];
            match s.try_read(&mut buf) {
                Ok(n) => n == 0,
                Err(e) => e.kind() != std::io::ErrorKind::WouldBlock,
            }
        })
        .count();
    let elapsed = started.elapsed().as_secs_f64();
    let total = driver.tally.requests.load(Ordering::Relaxed);

    // Every key must hold its writer's last acknowledged value.
    let mut lost = 0u64;
    let mut writes = 0u64;
    let mut check = Vec::new();
    let mut by_key: BTreeMap<&str, Vec<(&str, u64)>> = BTreeMap::new();
    for (key, name, acked) in &final_acks {
        by_key.entry(key).or_default().push((name, *acked));
        writes += acked;
    }
    for (key, expected) in by_key {
        let Some(answer) = driver
            .ok("final read", Method::GET, Some(key), None, &mut check)
            .await
        else {
            lost += expected.len() as u64;
            continue;
        };
        for (name, acked) in expected {
            if answer.body["data"][name] != json!(acked) {
                lost += 1;
                eprintln!(
                    "lost update: {name} is {} but {acked} was acknowledged",
                    answer.body["data"][name]
                );
            }
        }
    }

    let mut latencies = std::mem::take(&mut *driver.tally.latencies_us.lock().unwrap());
    latencies.sort_unstable();
    println!();
    println!(
        "{total} requests in {elapsed:.1} s = {:.0} req/s; {} sessions x {} writers, {} churn tasks",
        total as f64 / elapsed,
        args.sessions,
        args.writers,
        args.churn
    );
    println!(
        "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  max {:.2}",
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.90),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0),
    );
    println!("acknowledged counter writes: {writes}; lost updates: {lost}");
    if args.idle > 0 {
        println!(
            "idle connections: {} held, {closed} closed by the server",
            idle.len()
        );
    }
    if args.max_bodies > 0 {
        println!(
            "maximal-body answers by status: {:?}",
            body_answers.lock().unwrap()
        );
    }
    if let (Some(first), Some(last), Some(max)) = (
        rss_samples.first(),
        rss_samples.last(),
        rss_samples.iter().max(),
    ) {
        println!(
            "server RSS MiB: first sample {:.1}, last {:.1}, max {:.1}",
            *first as f64 / 1024.0,
            *last as f64 / 1024.0,
            *max as f64 / 1024.0
        );
    }
    let failures = driver.tally.failures.lock().unwrap().clone();
    if failures.is_empty() {
        println!("failures: none");
    } else {
        println!("failures:");
        for (what, n) in &failures {
            println!("  {n:>8}  {what}");
        }
    }
    if lost > 0 || !failures.is_empty() {
        std::process::exit(1);
    }
}
