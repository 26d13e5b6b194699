//! The Redis store's per-user index: one hash per user, `<prefix>tessera.user:<user id>`
//! (the store's own key prefix, e.g. `:1:django.contrib.sessions.cachetessera.user:42`),
//! whose fields are the user's session keys and whose values are `"<created_at> <last_seen>"`
//! (Unix seconds).
//!
//! A hash rather than a plain set: it is the set of keys, and holds each session's
//! `created_at` beside it in the same key, so one write keeps both and one `HGETALL` lists
//! them. The expiry shown is the session key's own (`PEXPIRETIME`), never a copy.
//!
//! # Ordering, and why it holds on a cluster
//!
//! The hash and a session live in different slots, so nothing spans both atomically; the order
//! of the single-key commands makes it safe instead:
//!
//! - A write (`create`, `save`) updates the hash *before* the session, so a live session is
//!   never missing from it; if the write then fails, the hash holds an extra key. The hash's
//!   expiry is raised to the session's when that is later, never lowered, so it outlives every
//!   session it holds.
//! - Entries are never removed because a save changed or dropped the user (that save may race
//!   with another that adds it back); a listing instead reads each session and prunes an entry
//!   whose session is gone, expired or another user's, with a compare-and-delete on the field,
//!   so an entry rewritten meanwhile stays.
//! - `delete` is `GETDEL` on the session, then `HDEL` of the user it held.
//! - A revoke deletes each session (only while it still holds the user: a compare-and-delete
//!   on its value), then its field. A request that loaded it and saves afterwards runs the
//!   compare-and-swap on a missing key, which answers [`SaveOutcome::Gone`](crate::store::SaveOutcome::Gone):
//!   its entry write may re-add the field, but never the session, and the next listing prunes
//!   the field.

use redis::Script;
use std::sync::LazyLock;

use super::{Call, RedisStore, LOAD};
use crate::session::key::SessionKey;
use crate::store::user_index::{newest_first, user_id_of};
use crate::store::{Record, StoreError, UserSession};

/// Sets a field, keeping its `created_at` when present, and raises the hash's expiry to the
/// session's (ms) when that is later: field, now (seconds), expiry.
static INDEX: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local old = redis.call('HGET', KEYS[1], ARGV[1])
         local created = ARGV[2]
         if old then created = string.match(old, '^(%S+)') or ARGV[2] end
         redis.call('HSET', KEYS[1], ARGV[1], created .. ' ' .. ARGV[2])
         local at = redis.call('PEXPIRETIME', KEYS[1])
         if at >= 0 and at < tonumber(ARGV[3]) or at == -1 then
           redis.call('PEXPIREAT', KEYS[1], ARGV[3])
         end
         return 1",
    )
});

/// Removes a field only if it still holds the value read: field, value.
static PRUNE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "if redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
           return redis.call('HDEL', KEYS[1], ARGV[1])
         end
         return 0",
    )
});

/// Deletes a key only if it still holds the value read: 1 deleted, 0 changed, -1 gone.
static DELETE_IF: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        "local v = redis.call('GET', KEYS[1])
         if not v then return -1 end
         if v == ARGV[1] then return redis.call('DEL', KEYS[1]) end
         return 0",
    )
});

/// The text redacted from errors of calls that carry no session key (none can match it).
const USER: &str = "\u{0}";

impl RedisStore {
    /// The user's index hash.
    fn user_key(&self, user_id: &str) -> String {
        format!("{}tessera.user:{user_id}", self.prefix)
    }

    /// The user a stored session value holds, if it is readable and holds one.
    pub(super) fn user_of(&self, stored: &[u8]) -> Option<String> {
        let text = std::str::from_utf8(stored).ok()?;
        user_id_of(self.codec.decode_record(text)?.as_ref())
    }

    /// Indexes `key` under the record's user, if it has one (before the session is written).
    pub(super) async fn index(
        &self,
        key: &SessionKey,
        record: Record<'_>,
    ) -> Result<(), StoreError> {
        let Some(user) = user_id_of(record.data) else {
            return Ok(());
        };
        let mut inv = INDEX.key(self.user_key(&user));
        inv.arg(key.as_str())
            .arg(record.now.to_string())
            .arg(super::expiry_ms(record.expires_at));
        self.run::<i64>(key.as_str(), Call::Script(inv))
            .await
            .map(drop)
    }

    /// Removes `key` from the user's hash.
    pub(super) async fn unindex(&self, user: &str, key: &SessionKey) -> Result<(), StoreError> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(self.user_key(user)).arg(key.as_str());
        self.run::<i64>(key.as_str(), Call::Cmd(cmd))
            .await
            .map(drop)
    }

    /// The hash's entries: session key and its raw value.
    async fn entries(&self, user_id: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(self.user_key(user_id));
        let entries: std::collections::HashMap<String, String> =
            self.run(USER, Call::Cmd(cmd)).await?;
        Ok(entries.into_iter().collect())
    }

    /// The session's value if it is live at `now` and still holds `user_id`.
    async fn live_of(
        &self,
        key: &SessionKey,
        user_id: &str,
        now: f64,
    ) -> Result<Option<(Vec<u8>, f64)>, StoreError> {
        let inv = LOAD.key(self.redis_key(key));
        let reply: Option<(Vec<u8>, i64)> = self.run(key.as_str(), Call::Script(inv)).await?;
        Ok(reply
            .filter(|(stored, expires_ms)| {
                let live = *expires_ms < 0 || *expires_ms as f64 > (now * 1000.0).round();
                live && self.user_of(stored).as_deref() == Some(user_id)
            })
            .map(|(stored, expires_ms)| (stored, expires_ms as f64 / 1000.0)))
    }

    /// Removes a field if it is unchanged since it was read.
    async fn prune(&self, user_id: &str, key: &SessionKey, value: &str) -> Result<(), StoreError> {
        let mut inv = PRUNE.key(self.user_key(user_id));
        inv.arg(key.as_str()).arg(value);
        self.run::<i64>(key.as_str(), Call::Script(inv))
            .await
            .map(drop)
    }

    pub(super) async fn list_user(
        &self,
        user_id: &str,
        now: f64,
    ) -> Result<Vec<UserSession>, StoreError> {
        let mut sessions = Vec::new();
        for (field, value) in self.entries(user_id).await? {
            let Some(key) = SessionKey::parse(&field) else {
                continue;
            };
            let Some((_, expires_at)) = self.live_of(&key, user_id, now).await? else {
                self.prune(user_id, &key, &value).await?;
                continue;
            };
            let mut times = value.split(' ').map(|t| t.parse::<f64>().ok());
            let (created_at, last_seen) = match (times.next().flatten(), times.next().flatten()) {
                (Some(c), Some(s)) => (c, s),
                _ => (now, now),
            };
            let expires_at = if expires_at < 0.0 {
                f64::INFINITY
            } else {
                expires_at
            };
            sessions.push(UserSession {
                key,
                created_at,
                last_seen,
                expires_at,
            });
        }
        newest_first(&mut sessions);
        Ok(sessions)
    }

    pub(super) async fn revoke_user(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for (field, _) in self.entries(user_id).await? {
            let Some(key) = SessionKey::parse(&field) else {
                continue;
            };
            if Some(&key) == keep {
                continue;
            }
            // Delete it while it holds this user; a concurrent save changes the value, so read
            // again (a save of the same user keeps it this user's).
            for _ in 0..16 {
                let mut get = redis::cmd("GET");
                get.arg(self.redis_key(&key));
                let Some(stored): Option<Vec<u8>> = self.run(key.as_str(), Call::Cmd(get)).await?
                else {
                    break;
                };
                if self.user_of(&stored).as_deref() != Some(user_id) {
                    break;
                }
                let mut inv = DELETE_IF.key(self.redis_key(&key));
                inv.arg(stored);
                match self.run::<i64>(key.as_str(), Call::Script(inv)).await? {
                    0 => continue,
                    1 => removed += 1,
                    _ => {}
                }
                break;
            }
            self.unindex(user_id, &key).await?;
        }
        Ok(removed)
    }

    /// Backfill: `SCAN`s the store's prefix (a standalone server or a Sentinel's master; a
    /// cluster would need a scan of every master, which this store does not do yet).
    pub(super) async fn reindex(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        if self.backend.kind() == "cluster" {
            return Err(StoreError::Config(
                "redis store: reindex_users does not scan a cluster yet; run it against each \
                 master as a standalone store"
                    .to_owned(),
            ));
        }
        let pattern = format!("{}*", glob_escape(&self.prefix));
        let mut cursor = 0u64;
        let mut indexed = 0;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(batch.max(1));
            let (next, names): (u64, Vec<String>) = self.run(USER, Call::Cmd(scan)).await?;
            for name in names {
                let Some(key) = name
                    .strip_prefix(self.prefix.as_str())
                    .and_then(SessionKey::parse)
                else {
                    continue;
                };
                let inv = LOAD.key(self.redis_key(&key));
                let reply: Option<(Vec<u8>, i64)> =
                    self.run(key.as_str(), Call::Script(inv)).await?;
                let Some((stored, expires_ms)) = reply else {
                    continue;
                };
                if expires_ms >= 0 && expires_ms as f64 <= (now * 1000.0).round() {
                    continue;
                }
                let Some(user) = self.user_of(&stored) else {
                    continue;
                };
                let mut inv = INDEX.key(self.user_key(&user));
                let expiry = if expires_ms < 0 {
                    super::MAX_EXPIRY_MS
                } else {
                    expires_ms
                };
                inv.arg(key.as_str()).arg(now.to_string()).arg(expiry);
                self.run::<i64>(key.as_str(), Call::Script(inv)).await?;
                indexed += 1;
            }
            if next == 0 {
                return Ok(indexed);
            }
            cursor = next;
        }
    }
}

/// `prefix` with the glob characters of `SCAN MATCH` escaped.
fn glob_escape(prefix: &str) -> String {
    let mut out = String::with_capacity(prefix.len());
    for c in prefix.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}
