//! The `tessera` binary and the demo site, run as a user runs them (one test binary).

mod common;

mod browser;
mod cli_ops;
mod cli_user_sessions;
mod commands;
mod demo_auth_http;
mod demo_http;
mod serve;
mod serve_limits;
mod user_add;
