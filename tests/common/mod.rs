//! Shared test support.
#![allow(dead_code)]
pub mod http;
pub mod proxy;
pub mod serve;
pub mod services;
pub mod vectors;
