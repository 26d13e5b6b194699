//! A small axum app as a team adopting tessera would write it: its own JSON endpoint that has
//! nothing to do with sessions, and a session-backed counter holding a typed value.

use std::sync::Arc;

use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use tessera::store::memory::MemoryStore;
use tessera::{Session, SessionConfig, SessionError, SessionLayer};

/// An internally tagged enum with a float field: serde_json's `arbitrary_precision` feature,
/// if anything turned it on, makes this fail to parse.
#[derive(Debug, Deserialize, Serialize, PartialEq)]
#[serde(tag = "kind")]
pub enum Shape {
    /// A circle of radius `r`.
    Circle { r: f64 },
    /// A rectangle.
    Rect { w: f64, h: f64 },
}

/// A typed value kept in the session.
#[derive(Debug, Default, Deserialize, Serialize)]
pub struct Cart {
    /// Item names, in the order they were added.
    pub items: Vec<String>,
    /// The total, in cents.
    pub total_cents: u64,
}

async fn area(Json(shape): Json<Shape>) -> Json<f64> {
    Json(match shape {
        Shape::Circle { r } => std::f64::consts::PI * r * r,
        Shape::Rect { w, h } => w * h,
    })
}

async fn add_to_cart(session: Session, item: String) -> Result<Json<Cart>, SessionError> {
    let mut cart: Cart = session.get("cart").await?.unwrap_or_default();
    cart.items.push(item);
    cart.total_cents += 250;
    session.insert("cart", &cart).await?;
    Ok(Json(cart))
}

/// The app: `/area` (no session involved) and `/cart` (a session-held typed value).
pub fn app() -> Result<Router, tessera::session::ConfigError> {
    app_on(Arc::new(MemoryStore::new()))
}

/// [`app`] with its sessions in `store`.
pub fn app_on(
    store: Arc<dyn tessera::store::SessionStore>,
) -> Result<Router, tessera::session::ConfigError> {
    let layer = SessionLayer::new(store, SessionConfig::default())?;
    Ok(Router::new()
        .route("/area", post(area))
        .route("/cart", post(add_to_cart).get(|| async { "POST an item" }))
        .route("/", get(|| async { "ok" }))
        .layer(layer))
}
