//! Shared test support.
#![allow(dead_code)]
pub mod fixtures;
pub mod http;
pub mod proxy;
pub mod serve;
pub mod services;
pub mod vectors;
