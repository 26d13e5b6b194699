//! Shared test support: the library's helpers, plus running the `tessera` binary.
#![allow(dead_code)]
#[path = "../../../../tests/common/fixtures.rs"]
pub mod fixtures;
pub mod http;
pub mod serve;
#[path = "../../../../tests/common/services.rs"]
pub mod services;
#[path = "../../../../tests/common/vectors.rs"]
pub mod vectors;
