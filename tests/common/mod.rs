//! Shared test support.
#![allow(dead_code)]
pub mod http;
pub mod vectors;
