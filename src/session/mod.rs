//! Django's `request.session`: the [`Session`] handle, its keys, expiry rules, settings and
//! the stored data format.

pub mod codec;
pub mod config;
pub(crate) mod decoded_cache;
mod error;
pub mod expiry;
pub mod handle;
pub mod key;
pub(crate) mod lifetime;
pub(crate) mod limits;
mod random;

pub use config::{ConfigError, SessionConfig};
pub use error::{error_status, ErrorResponder, SessionError};
pub use expiry::Expiry;
pub use handle::Session;
pub use key::SessionKey;
