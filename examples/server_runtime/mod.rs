//! The runtime `bench_server` and `ceiling_server` serve on: tokio's multi-thread one, as
//! `#[tokio::main]` builds it, or a current-thread one (`--current-thread`, actix-web's model:
//! one per core). Under load the flavor decides how well a multiplexed Redis connection
//! batches its commands: see the Redis store's "Throughput" section.

use tokio::runtime::{Builder, Runtime};

/// A current-thread runtime when `current_thread`, else a multi-thread one; with I/O and time.
pub fn build(current_thread: bool) -> std::io::Result<Runtime> {
    let mut builder = if current_thread {
        Builder::new_current_thread()
    } else {
        Builder::new_multi_thread()
    };
    builder.enable_all().build()
}
