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

/// Creates, loads, saves and deletes a session in `store`, and returns what must never reach a
/// log: the key and each stored text the store handed back as its version.
pub async fn session_round_trip(store: &dyn tessera::store::SessionStore) -> Vec<String> {
    use super::fixtures::{int_dict, now, stored_session};
    use tessera::store::{Record, SaveOutcome, Version};
    let k = stored_session(store).await;
    let loaded = store.load(&k, now()).await.unwrap().expect("loads");
    let data = int_dict("n", 2);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: now(),
    };
    let saved = match store.save(&k, record, &loaded.version).await.unwrap() {
        SaveOutcome::Saved(version) => version,
        other => panic!("the save did not land: {other:?}"),
    };
    store.delete(&k).await.unwrap();
    let mut secrets = vec![k.as_str().to_owned()];
    for version in [loaded.version, saved] {
        if let Version::Text(text) = version {
            secrets.push(text.to_string());
        }
    }
    secrets
}

/// Runs `work` with every event of every crate captured at `TRACE`, the drivers' `log` output
/// included, and fails if any of the secrets it returns is in the log. Returns the log.
pub fn assert_secrets_stay_out_of_logs<F>(work: impl FnOnce() -> F) -> String
where
    F: std::future::Future<Output = Vec<String>>,
{
    // The drivers log through `log`: route it into the captured output.
    tracing_log::LogTracer::init().ok();
    let mut secrets = Vec::new();
    let logs = with_logs(|| async { secrets = work().await });
    assert!(!secrets.is_empty(), "nothing to look for");
    for secret in &secrets {
        assert!(
            !logs.contains(secret.as_str()),
            "a session key or session data reached the log"
        );
    }
    logs
}
