//! Django's `request.session`: the [`Session`] handle, its keys, expiry rules, settings and
//! the stored data format.

pub mod codec;
pub mod config;
pub mod expiry;
pub mod handle;
pub mod key;
pub(crate) mod lifetime;
mod random;

pub use config::{ConfigError, SessionConfig};
pub use expiry::Expiry;
pub use handle::{error_status, Session, SessionError};
pub use key::SessionKey;
