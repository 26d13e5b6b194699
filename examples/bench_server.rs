//! The HTTP benchmark server: an axum app with tessera's session layer and the bench routes, run
//! beside the peers by `../shared/bench-peers/run.py` (see docs/performance.md).
//!
//! ```sh
//! TESSERA_SECRET_KEY=… cargo run --release --example bench_server -- --addr 127.0.0.1:8080 --store memory://
//! ```
//!
//! The routes (`/plain`, `/read`, `/write`, `/create`, and `/create4k`, `/create64k` for the
//! big-session scenarios) are in `examples/routes/mod.rs`.
//! Production settings, production store code; no per-request logging.
//!
//! For the scale runs, `--prefill N` first creates N sessions holding `n = 1` (64 at a time,
//! through the store's own `create`), `--prefill-expired` makes them already expired (the
//! rows `clearsessions` deletes), and `--cookies FILE` writes up to 100,000 of their cookies,
//! one `sessionid=…` per line, for the load generator. `--prefill-only` exits after that.
//!
//! It serves on tokio's multi-thread runtime, or with `--current-thread` on a current-thread
//! one (`server_runtime` says why that matters).

use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

mod routes;
mod server_runtime;

use tessera::json::{Map, Value};
use tessera::session::SessionKey;
use tessera::signing::SecretKeys;
use tessera::store::{Record, SessionStore};
use tessera::{SessionConfig, SessionLayer};

/// The bench server's options.
#[derive(clap::Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// Any store URL the library accepts.
    #[arg(long, default_value = "memory://")]
    store: String,
    /// Create this many sessions (`n = 1`) before serving.
    #[arg(long)]
    prefill: Option<usize>,
    /// Make the prefilled sessions already expired.
    #[arg(long, requires = "prefill")]
    prefill_expired: bool,
    /// Write up to 100,000 of the prefilled sessions' cookies to this file.
    #[arg(long, requires = "prefill")]
    cookies: Option<std::path::PathBuf>,
    /// Exit once the prefill is done.
    #[arg(long, requires = "prefill")]
    prefill_only: bool,
    /// Serve on a current-thread runtime instead of the multi-thread one.
    #[arg(long)]
    current_thread: bool,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Creates `count` sessions holding `n = 1`, 64 at a time; returns up to 100,000 keys.
async fn prefill(
    store: Arc<dyn SessionStore>,
    count: usize,
    expires_at: f64,
) -> Result<Vec<SessionKey>, BoxError> {
    const IN_FLIGHT: usize = 64;
    const KEEP: usize = 100_000;
    let started = Instant::now();
    let mut data = Map::new();
    data.insert("n".to_owned(), Value::from(1));
    let data = Arc::new(data);
    let mut tasks = tokio::task::JoinSet::new();
    let mut kept = Vec::new();
    let mut keep = |done: Result<Result<SessionKey, BoxError>, tokio::task::JoinError>| {
        let key = done??;
        if kept.len() < KEEP {
            kept.push(key);
        }
        Ok::<_, BoxError>(())
    };
    for i in 0..count {
        if tasks.len() >= IN_FLIGHT {
            if let Some(done) = tasks.join_next().await {
                keep(done)?;
            }
        }
        let (store, data) = (store.clone(), data.clone());
        tasks.spawn(async move {
            let key = SessionKey::generate()?;
            let record = Record {
                data: &data,
                expires_at,
                now: tessera::time::now(),
            };
            store.create(&key, record).await?;
            Ok::<_, BoxError>(key)
        });
        if (i + 1) % 100_000 == 0 {
            let secs = started.elapsed().as_secs_f64();
            eprintln!("prefill: {} sessions, {secs:.1} s", i + 1);
        }
    }
    while let Some(done) = tasks.join_next().await {
        keep(done)?;
    }
    let secs = started.elapsed().as_secs_f64();
    eprintln!("prefill: {count} sessions in {secs:.1} s");
    Ok(kept)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = <Args as clap::Parser>::parse();
    server_runtime::build(args.current_thread)?.block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let secret = std::env::var("TESSERA_SECRET_KEY").map_err(|_| "set TESSERA_SECRET_KEY")?;
    let sessions = tessera::url::open(&args.store, &SecretKeys::new(secret)).await?;
    sessions.migrate().await?;
    if let Some(count) = args.prefill {
        let store = sessions
            .store()
            .ok_or("--prefill needs a server-side store")?;
        let now = tessera::signing::now();
        let expires_at = if args.prefill_expired {
            now - 60.0
        } else {
            now + 14.0 * 86_400.0
        };
        let keys = prefill(store.clone(), count, expires_at)
            .await
            .map_err(|e| e.to_string())?;
        if let Some(path) = &args.cookies {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            for key in &keys {
                writeln!(out, "sessionid={}", key.as_str())?;
            }
            out.flush()?;
        }
        if args.prefill_only {
            return Ok(());
        }
    }
    // Plain HTTP on loopback: Secure stays off, as in the peers.
    let layer = SessionLayer::from_sessions(&sessions, SessionConfig::from_env()?)?;
    let app = routes::router().layer(layer);
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
