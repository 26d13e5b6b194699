//! `request_loop` for the ceiling server's routes: N requests of one route through the ceiling's
//! router in-process, so tessera and its ceiling can be set side by side in instructions, a
//! figure this noisy machine cannot move:
//!
//! ```sh
//! cargo build --release --example ceiling_loop --example request_loop --features sqlite,postgres,redis
//! valgrind --tool=callgrind target/release/examples/ceiling_loop write 20000
//! valgrind --tool=callgrind target/release/examples/request_loop write 20000
//! ```
//! Divide each total by N. Routes: `plain` (the ceiling never reads its cookie), `read`,
//! `write`, `create`; `--store` as for
//! `ceiling_server` (`memory://` by default, `cookie://`, `sqlite://PATH`, `postgres://…`,
//! `redis://…`; for a server, the count is this process's side only); `--noop-layer` adds a
//! layer that does nothing, so what being a layer costs is not counted as tessera's own;
//! `--handle-layer` one that also puts a shared handle into each request's extensions, as any
//! session layer with an extractor must; `--encode-each` signs each text written, as
//! `ceiling_server --encode-each` does.
//! valgrind's CPU has no SHA extensions, so HMAC-SHA256 runs in software there: subtract
//! `sha2::sha256::compress256`'s inclusive count from both sides for what a CPU with them pays.

mod ceiling;
mod request_driver;

use tessera::signing::SecretKeys;
use tessera::SessionConfig;

#[derive(clap::Parser)]
struct Args {
    #[command(flatten)]
    repeat: request_driver::Repeat,
    /// Wrap the routes in a layer that does nothing, applied as a session layer is
    /// (`Router::layer`): what being a tower layer costs in axum, which every session layer
    /// pays and the ceiling alone does not.
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
}

fn main() -> Result<(), request_driver::Error> {
    let args = <Args as clap::Parser>::parse();
    let (route, count, store) = (args.repeat.route, args.repeat.count, args.repeat.store);
    let rt = request_driver::runtime()?;
    // `request_loop`'s key and settings, so both loops read and write the same bytes.
    let keys = SecretKeys::new("request-loop-secret");
    let config = SessionConfig::default();
    let app = if store == "cookie://" {
        ceiling::cookie_router(ceiling::CookieCeiling::new(&keys, config)?)
    } else {
        let raw = rt.block_on(async {
            // tessera makes the schema, then steps aside (as `ceiling_server` does).
            tessera::url::open(&store, &keys).await?.migrate().await?;
            ceiling::RawStore::open(&store).await
        });
        let raw = raw.map_err(|e| format!("--store {store}: {e}"))?;
        ceiling::store_router(raw, &keys, args.encode_each, &config)?
    };
    let app = ceiling::with_noop_layer(app, args.noop_layer);
    let app = ceiling::with_handle_layer(app, args.handle_layer);
    let (path, with_cookie) = route.request();
    let cookie = request_driver::mint_cookie(&rt, &app, "/create")?;
    let cookie = with_cookie.then_some(cookie.as_str());
    request_driver::drive(&rt, app, path, cookie, count)
}
