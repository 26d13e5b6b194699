//! Shared test support.
#![allow(dead_code)]
pub mod fixtures;
pub mod http;
pub mod proxy;
pub mod services;
pub mod vectors;
