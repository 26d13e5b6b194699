//! The filler of the big sessions: a cart of product entries shaped as `benches/common`'s
//! `big_session` items, `"item000": {"sku": "SKU-00000", "qty": 0, "title": "Product title
//! number 0 with some descriptive text"}`. The peers in `bench/harness/peers/` build the same
//! cart, so every big-session scenario moves the same JSON.

use std::sync::LazyLock;

use tessera::json::{Map, Value};

/// 40 items: the session `{"n":1,"cart":{…}}` is 3,966 bytes of JSON.
pub static CART_4K: LazyLock<Value> = LazyLock::new(|| cart(40));
/// 640 items: the session is 63,906 bytes of JSON.
pub static CART_64K: LazyLock<Value> = LazyLock::new(|| cart(640));

/// `items` product entries, built once per process (the statics above), not per request.
fn cart(items: usize) -> Value {
    let mut cart = Map::with_capacity(items);
    for i in 0..items {
        let mut item = Map::with_capacity(3);
        item.insert("sku".to_owned(), Value::from(format!("SKU-{i:05}")));
        item.insert("qty".to_owned(), Value::Int((i % 7) as i64));
        item.insert(
            "title".to_owned(),
            Value::from(format!(
                "Product title number {i} with some descriptive text"
            )),
        );
        cart.insert(format!("item{i:03}"), Value::Dict(item));
    }
    Value::Dict(cart)
}
