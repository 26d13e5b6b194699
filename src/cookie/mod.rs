//! Cookies (placeholder: being written).
