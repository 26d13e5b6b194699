//! The library's vectors, middleware and HTTP tests (one test binary).

#[path = "../common/mod.rs"]
mod common;

#[global_allocator]
static ALLOCATOR: held_bytes::Counting = held_bytes::Counting;

mod auth_http;
mod conformance_auth_login;
mod conformance_auth_password_and_hash;
mod conformance_cookie;
mod conformance_copy;
mod conformance_csrf;
mod conformance_messages;
mod conformance_middleware;
mod conformance_session_encoding;
mod conformance_session_expiry;
mod conformance_session_signed_cookies;
mod conformance_signed_cookies;
mod conformance_signing;
mod cookies_http;
mod csrf_http;
mod fuzz_regressions;
mod held_bytes;
mod layering;
mod messages_http;
mod operator;
mod security;
mod session_http;
