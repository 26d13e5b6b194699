//! Capturing what reaches the logs, to check what an operator sees and what must never appear.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex};

/// A tracing writer that keeps everything written.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `work` on a one-thread runtime with a subscriber that captures every event of every
/// crate at `TRACE`, and returns the log text.
pub fn with_logs<F: std::future::Future<Output = ()>>(work: impl FnOnce() -> F) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    tracing::subscriber::with_default(subscriber, || rt.block_on(work()));
    let logs = captured.0.lock().unwrap().clone();
    String::from_utf8(logs).unwrap()
}
