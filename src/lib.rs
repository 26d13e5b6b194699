//! tessera: Django's cookies, signed cookies and sessions for tower/axum, byte for byte.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod cookie;
pub mod json;
pub mod signing;
