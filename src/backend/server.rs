//! Server-side sessions: records in a [`SessionStore`] behind a random key.
//!
//! A save is a compare-and-swap against the version that was loaded. When another request
//! saved first, the record is reloaded and this request's changes are re-applied on top, a
//! bounded number of times; when the record was deleted meanwhile (a logout), the save is
//! [`SessionError::Interrupted`] and the record is never brought back. `cycle_key` retires the
//! old record the same way, by a compare-and-swap, so no write under the old key is dropped.
//! Every store call runs under the settings' `store_timeout`.

use std::future::Future;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Change, Context, Pending, Saved, SessionBackend, SessionId};
use crate::json::Map;
use crate::session::limits::check_writable;
use crate::session::{SessionConfig, SessionError, SessionKey};
use crate::store::{
    ImmediateStore, Loaded, Record, SaveOrReload, SaveOutcome, SessionStore, StoreError, Version,
};

/// Sessions kept in a store.
#[derive(Clone, Debug)]
pub struct StoreBackend {
    store: Arc<dyn SessionStore>,
}

impl StoreBackend {
    /// Sessions in `store`.
    pub fn new(store: Arc<dyn SessionStore>) -> Self {
        StoreBackend { store }
    }

    /// The store underneath.
    pub fn store(&self) -> &Arc<dyn SessionStore> {
        &self.store
    }

    /// The store as a trait object: a method called on the `Arc` itself would go through the
    /// `Arc<S>` impl, which boxes a second future around the store's own.
    fn dyn_store(&self) -> &dyn SessionStore {
        &*self.store
    }

    /// Inserts `data` under a fresh key, drawing again on the (astronomically rare) collision.
    async fn create(&self, data: &Map, cx: Context<'_>) -> Result<Saved, SessionError> {
        let record = writable(data, cx)?;
        for _ in 0..KEY_DRAWS {
            let key = fresh_key()?;
            let inserted = self
                .timed(cx.config, self.dyn_store().create(&key, record))
                .await;
            if let Some(created) = created(key, inserted) {
                return created;
            }
        }
        Err(too_many_collisions())
    }

    /// [`create`](Self::create) in a store that never waits.
    fn create_now(
        store: &dyn ImmediateStore,
        data: &Map,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        let record = writable(data, cx)?;
        for _ in 0..KEY_DRAWS {
            let key = fresh_key()?;
            let inserted = store.create_now(&key, record);
            if let Some(created) = created(key, inserted) {
                return created;
            }
        }
        Err(too_many_collisions())
    }

    /// [`save`](Self::save) in a store that never waits: the same compare-and-swap, replayed
    /// on a lost race, without a future.
    fn save_immediately(
        store: &dyn ImmediateStore,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        let (Some(key), Some(version)) = (pending.id.and_then(SessionId::as_key), pending.version)
        else {
            return Self::create_now(store, pending.data, cx);
        };
        let mut version = version.clone();
        for _ in 0..=cx.config.max_save_retries {
            let record = writable(pending.data, cx)?;
            match store.save_now(key, record, &version)? {
                SaveOutcome::Saved(version) => {
                    return Ok(Saved {
                        id: SessionId::key(key.clone()),
                        version,
                    })
                }
                SaveOutcome::Gone => return Err(SessionError::Interrupted),
                SaveOutcome::Conflict => match store.load_now(key, cx.now)? {
                    Some(fresh) => version = replay(pending.data, pending.changes, fresh),
                    None => return Err(SessionError::Interrupted),
                },
            }
        }
        Err(too_many_writers())
    }
}

/// `data` as a record to write at `cx.now`, once the limits allow it; it expires as the
/// session's settings say.
fn writable<'a>(data: &'a Map, cx: Context<'_>) -> Result<Record<'a>, SessionError> {
    Ok(Record {
        data,
        expires_at: check_writable(data, cx.config, cx.now)?,
        now: cx.now,
    })
}

/// How many fresh keys a create draws before it gives up.
const KEY_DRAWS: usize = 8;

fn fresh_key() -> Result<SessionKey, SessionError> {
    SessionKey::generate().map_err(|e| SessionError::KeyGeneration(e.to_string()))
}

/// What one insert under `key` came to: the session created, a failure, or `None` for a key
/// already taken (draw another).
fn created(
    key: SessionKey,
    inserted: Result<Version, StoreError>,
) -> Option<Result<Saved, SessionError>> {
    match inserted {
        Ok(version) => Some(Ok(Saved {
            id: SessionId::key(key),
            version,
        })),
        Err(StoreError::DuplicateKey) => None,
        Err(e) => Some(Err(e.into())),
    }
}

fn too_many_collisions() -> SessionError {
    SessionError::KeyGeneration("eight key collisions in a row".to_owned())
}

fn too_many_writers() -> SessionError {
    SessionError::Store(StoreError::Unavailable(
        "too many concurrent writers on one session".to_owned(),
    ))
}

/// Someone saved first: `data` becomes their record with this request's `changes` replayed on
/// top; the record's version is what the next compare-and-swap expects.
fn replay(data: &mut Map, changes: &[Change], fresh: Loaded) -> Version {
    *data = Arc::unwrap_or_clone(fresh.data);
    for change in changes {
        change.apply(data);
    }
    fresh.version
}

/// What a retired record holds: a dict no session has, so a compare-and-swap against any
/// version a request loaded before it fails.
fn tombstone() -> Map {
    let mut data = Map::new();
    data.insert(TOMBSTONE_KEY.into(), crate::json::Value::Bool(true));
    data
}

/// The one key of [`tombstone`]'s dict.
const TOMBSTONE_KEY: &str = "_tessera_cycled";

impl StoreBackend {
    /// Retires `old` once its session has moved to `moved` (`cycle_key`).
    ///
    /// Deleting `old` outright would drop a write another request saved under it after this
    /// one loaded it. Instead a compare-and-swap against the version this request loaded
    /// replaces the record with an already expired [`tombstone`]: from then on no request can
    /// load it, and every save under the old key finds it changed or gone and is refused, not
    /// acknowledged. When the swap loses to such a write, that write is carried over: the old
    /// record is reloaded, this request's changes replayed on top, the result saved to the new
    /// record, and the swap tried again. A logout that removed `old` meanwhile wins: the new
    /// record is removed too.
    async fn retire(
        &self,
        old: &SessionKey,
        mut expected: Version,
        mut moved: Saved,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        let new = moved.id.as_key().cloned().ok_or_else(|| {
            SessionError::Store(StoreError::Unavailable("cycle_key made no key".to_owned()))
        })?;
        let tombstone = tombstone();
        for _ in 0..=cx.config.max_save_retries {
            let record = Record {
                data: &tombstone,
                expires_at: cx.now - 1.0,
                now: cx.now,
            };
            match self
                .timed(cx.config, self.dyn_store().save(old, record, &expected))
                .await?
            {
                SaveOutcome::Saved(_) => {
                    // Nothing can load or save the tombstone: removing it is housekeeping, and
                    // `clear_expired` removes it if this fails.
                    if let Err(e) = self.timed(cx.config, self.dyn_store().delete(old)).await {
                        tracing::warn!(target: "tessera::session", error = %e, "removing a cycled session's old record failed");
                    }
                    return Ok(moved);
                }
                SaveOutcome::Gone => return self.abandon(&new, cx).await,
                SaveOutcome::Conflict => {
                    let Some(fresh) = self
                        .timed(cx.config, self.dyn_store().load(old, cx.now))
                        .await?
                    else {
                        return self.abandon(&new, cx).await;
                    };
                    expected = replay(pending.data, pending.changes, fresh);
                    let record = writable(pending.data, cx)?;
                    match self
                        .timed(
                            cx.config,
                            self.dyn_store().save(&new, record, &moved.version),
                        )
                        .await?
                    {
                        SaveOutcome::Saved(version) => moved.version = version,
                        // Only this request knows the new key.
                        _ => {
                            return Err(SessionError::Store(StoreError::Unavailable(
                                "the new session changed during cycle_key".to_owned(),
                            )))
                        }
                    }
                }
            }
        }
        Err(too_many_writers())
    }

    /// The old session was logged out during `cycle_key`: the logout wins.
    async fn abandon(&self, new: &SessionKey, cx: Context<'_>) -> Result<Saved, SessionError> {
        self.timed(cx.config, self.dyn_store().delete(new)).await?;
        Err(SessionError::Interrupted)
    }

    /// Runs a store call under the configured timeout (unless the store never waits).
    async fn timed<T>(
        &self,
        config: &SessionConfig,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        if self.store.answers_at_once() {
            return call.await;
        }
        // The call lives in a slot of this frame, so a timed-out call is dropped here, where
        // the store can be told why (see `store::dropping_timed_out`).
        let mut slot = std::pin::pin!(Some(call));
        let outcome = tokio::time::timeout(
            config.store_timeout,
            std::future::poll_fn(|cx| match slot.as_mut().as_pin_mut() {
                Some(call) => call.poll(cx),
                None => std::task::Poll::Pending,
            }),
        )
        .await;
        match outcome {
            Ok(r) => r,
            Err(_) => {
                crate::store::dropping_timed_out(|| slot.set(None));
                Err(StoreError::Timeout(config.store_timeout))
            }
        }
    }
}

/// The [`SessionBackend`] calls, as plain methods: the session layer calls these directly, so
/// their futures run inline in the request's (the trait, through `async_trait`, boxes each).
impl StoreBackend {
    /// [`SessionBackend::recognise`], on the cookie value's bytes: a key is checked against
    /// its alphabet, so it needs no UTF-8 check first.
    pub(crate) fn recognise(&self, cookie: &[u8]) -> Option<SessionId> {
        SessionKey::parse_bytes(cookie).map(SessionId::key)
    }

    /// [`SessionBackend::load`].
    pub(crate) async fn load(
        &self,
        id: &SessionId,
        cx: Context<'_>,
    ) -> Result<Option<Loaded>, StoreError> {
        let Some(key) = id.as_key() else {
            return Ok(None);
        };
        if let Some(store) = self.store.immediate() {
            return store.load_now(key, cx.now);
        }
        self.timed(cx.config, self.dyn_store().load(key, cx.now))
            .await
    }

    /// [`SessionBackend::save`].
    pub(crate) async fn save(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Saved, SessionError> {
        if let Some(store) = self.store.immediate() {
            return Self::save_immediately(store, pending, cx);
        }
        let (Some(key), Some(version)) = (pending.id.and_then(SessionId::as_key), pending.version)
        else {
            return self.create(pending.data, cx).await;
        };
        let mut version = version.clone();
        for _ in 0..=cx.config.max_save_retries {
            let record = writable(pending.data, cx)?;
            match self
                .timed(
                    cx.config,
                    self.dyn_store().save_or_reload(key, record, &version),
                )
                .await?
            {
                SaveOrReload::Saved(version) => {
                    return Ok(Saved {
                        id: SessionId::key(key.clone()),
                        version,
                    })
                }
                SaveOrReload::Gone => return Err(SessionError::Interrupted),
                SaveOrReload::Changed(fresh) => {
                    version = replay(pending.data, pending.changes, fresh);
                    tokio::task::yield_now().await;
                }
            }
        }
        Err(too_many_writers())
    }

    /// The save, made at once when the store never waits (the memory store); `None` when it
    /// has to be awaited ([`save`](Self::save)).
    pub(crate) fn save_now(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Option<Result<Saved, SessionError>> {
        let store = self.store.immediate()?;
        Some(Self::save_immediately(store, pending, cx))
    }

    /// [`SessionBackend::delete`].
    pub(crate) async fn delete(&self, id: &SessionId, cx: Context<'_>) -> Result<(), StoreError> {
        match id.as_key() {
            Some(key) => self.timed(cx.config, self.dyn_store().delete(key)).await,
            None => Ok(()),
        }
    }

    /// [`SessionBackend::cycle`].
    pub(crate) async fn cycle(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Option<Saved>, SessionError> {
        let moved = self.create(pending.data, cx).await?;
        match (pending.id.and_then(SessionId::as_key), pending.version) {
            (Some(old), Some(version)) => {
                let expected = version.clone();
                self.retire(old, expected, moved, pending, cx)
                    .await
                    .map(Some)
            }
            // Never stored: there is nothing to retire.
            _ => Ok(Some(moved)),
        }
    }
}

#[async_trait]
impl SessionBackend for StoreBackend {
    fn recognise(&self, cookie: &str) -> Option<SessionId> {
        StoreBackend::recognise(self, cookie.as_bytes())
    }

    async fn load(&self, id: &SessionId, cx: Context<'_>) -> Result<Option<Loaded>, StoreError> {
        StoreBackend::load(self, id, cx).await
    }

    async fn save(&self, pending: Pending<'_>, cx: Context<'_>) -> Result<Saved, SessionError> {
        StoreBackend::save(self, pending, cx).await
    }

    async fn delete(&self, id: &SessionId, cx: Context<'_>) -> Result<(), StoreError> {
        StoreBackend::delete(self, id, cx).await
    }

    async fn cycle(
        &self,
        pending: Pending<'_>,
        cx: Context<'_>,
    ) -> Result<Option<Saved>, SessionError> {
        StoreBackend::cycle(self, pending, cx).await
    }

    fn revocable(&self) -> bool {
        true
    }
}
