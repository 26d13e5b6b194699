//! The keys under a prefix in a Redis that may hold many others.

use std::collections::HashSet;

/// Every key that starts with `prefix`, by `SCAN` in batches. `KEYS` walks the whole keyspace
/// in one call: on a server holding millions of keys (a developer's, or one a benchmark just
/// filled) that call outlasts the client's response timeout, and the test fails for it.
pub async fn keys_under(
    con: &mut impl redis::aio::ConnectionLike,
    prefix: &str,
) -> redis::RedisResult<Vec<String>> {
    let pattern = format!("{prefix}*");
    // SCAN may return a key twice.
    let mut keys = HashSet::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(&pattern)
            .arg("COUNT")
            .arg(10_000)
            .query_async(con)
            .await?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys.into_iter().collect());
        }
        cursor = next;
    }
}
