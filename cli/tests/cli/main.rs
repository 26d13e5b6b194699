//! The `tessera` binary and the demo site, run as a user runs them (one test binary).

mod common;

mod commands;
mod cli_ops;
mod serve;
mod demo_http;
mod browser;
