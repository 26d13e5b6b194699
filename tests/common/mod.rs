//! Shared test support.
#![allow(dead_code)]
pub mod http;
pub mod services;
pub mod vectors;
