//! The `tessera` command and the demo site it serves, as a library so the binary stays a
//! few lines and the tests can mount the demo router in-process.
//!
//! Apps depend on the `tessera` library crate, never on this one: this crate brings clap,
//! indicatif, tracing-subscriber and a full axum and tokio.
#![forbid(unsafe_code)]

pub mod cli;
pub mod demo;
