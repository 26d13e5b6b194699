//! The ceiling server: each store's own limit on the bench routes, measured beside
//! `bench_server` in the same harness run (`bench/harness/run.py`, `ceiling/<store>/<route>`).
//!
//! ```sh
//! TESSERA_SECRET_KEY=… cargo run --release --example ceiling_server \
//!   --features sqlite,postgres,redis -- --addr 127.0.0.1:8080 --store sqlite:///tmp/c.sqlite3
//! ```
//!
//! It serves `/plain`, `/read`, `/write` and `/create` as `bench_server` does (same runtime, same
//! axum serving, so `/plain` costs the same), but with no session layer: each route runs the
//! statements tessera's store issues for it, straight on the driver, with `session_data` texts
//! signed once at startup. What is left is the HTTP cost of `/plain` plus the store's own cost;
//! tessera ÷ ceiling is then the share of the possible that tessera reaches, and the rest is
//! tessera's own overhead (session layer, signing, JSON, scheduling).
//!
//! The stores: `memory://` (a sharded map of texts, see `ceiling/memory.rs`), `cookie://` (the
//! signed cookie's format through tessera's codec, with no session layer: `ceiling/cookie.rs`),
//! `sqlite://PATH` (statements inline on the request's worker thread: the
//! physical floor, see `ceiling/sqlite.rs`), `postgres://…` (a pool of tessera's default size,
//! prepared statements), `redis://…` (the `ConnectionManager` tessera uses). The schema is
//! created on start, if missing, by tessera's own migration, exactly as `bench_server` does.
//! `TESSERA_SECRET_KEY` signs the stored texts; the `TESSERA_SESSION_*` variables set the
//! cookie as they do for `bench_server`. `--noop-layer` wraps the routes in a layer that does
//! nothing: the harness serves the ceiling's `/plain` so, as the floor of any session layer.
//! `--handle-layer` wraps them in the least a layer that hands its handler a session does (a
//! shared handle per request in the request's extensions), the floor of an extractor-based
//! session layer's `/plain` (for paired runs: `scripts/paired_ratio.py`). `--encode-each` signs
//! each text written at the request's time, as any store of Django's format must, instead of
//! once at startup: the store's ceiling plus the least encoding a write needs
//! (`ceiling-enc/<store>/<route>` in the harness). `--current-thread` serves on a
//! current-thread runtime, as `bench_server --current-thread` does.

mod ceiling;
mod server_runtime;

use tessera::signing::SecretKeys;
use tessera::SessionConfig;

/// The ceiling server's options (`bench_server`'s shape).
#[derive(clap::Parser)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    addr: String,
    /// `memory://`, `cookie://`, `sqlite://PATH`, `postgres://…` or `redis://…`.
    #[arg(long)]
    store: String,
    /// Wrap the routes in a layer that does nothing, applied as a session layer is
    /// (`Router::layer`). On `/plain` this is the floor of every session layer: what being a
    /// tower layer costs in axum.
    #[arg(long)]
    noop_layer: bool,
    /// Wrap the routes in the least a session layer that hands its handler a session does:
    /// a shared handle per request in its extensions, looked at after the handler
    /// (`examples/ceiling/handle_layer.rs`). On `/plain`, the floor of an extractor-based
    /// session layer.
    #[arg(long, conflicts_with = "noop_layer")]
    handle_layer: bool,
    /// Sign each written text at the request's time, as any store of Django's format must,
    /// instead of once at startup: the store's ceiling plus the least encoding a write needs.
    /// The signed cookie's ceiling always does.
    #[arg(long)]
    encode_each: bool,
    /// Serve on a current-thread runtime instead of the multi-thread one.
    #[arg(long)]
    current_thread: bool,
}

fn main() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let args = <Args as clap::Parser>::parse();
    server_runtime::build(args.current_thread)?.block_on(serve(args))
}

async fn serve(args: Args) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let secret = std::env::var("TESSERA_SECRET_KEY").map_err(|_| "set TESSERA_SECRET_KEY")?;
    let keys = SecretKeys::new(secret);
    let config = SessionConfig::from_env()?;
    let app = if args.store == "cookie://" {
        ceiling::cookie_router(ceiling::CookieCeiling::new(&keys, config)?)
    } else {
        // tessera makes the schema (Django's table and its side table), then steps aside.
        tessera::url::open(&args.store, &keys)
            .await?
            .migrate()
            .await?;
        let store = ceiling::RawStore::open(&args.store).await?;
        ceiling::store_router(store, &keys, args.encode_each, &config)?
    };
    let app = ceiling::with_noop_layer(app, args.noop_layer);
    let app = ceiling::with_handle_layer(app, args.handle_layer);
    let listener = tokio::net::TcpListener::bind(&args.addr).await?;
    axum::serve(listener, app).await?;
    Ok(())
}
