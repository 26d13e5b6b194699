//! The stores the ceiling measures, behind one enum (static dispatch: no boxed future per call,
//! which tessera's `dyn SessionStore` pays and the ceiling must not).

use super::memory::MemoryCeiling;
use super::postgres::PostgresCeiling;
use super::redis::RedisCeiling;
use super::sqlite::SqliteCeiling;

/// What a raw store call can fail with (the routes answer 503).
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// One store, driven by the statements tessera's store issues, and nothing else.
pub enum RawStore {
    Memory(MemoryCeiling),
    Sqlite(SqliteCeiling),
    Postgres(PostgresCeiling),
    Redis(RedisCeiling),
}

impl RawStore {
    /// Opens the store `url` names: `memory://`, `sqlite://PATH`, `postgres://…` (or
    /// `postgresql://…`), `redis://…`. The schema must already be there (the server makes it
    /// with tessera's own migration first).
    pub async fn open(url: &str) -> Result<RawStore, Error> {
        if url == "memory://" {
            return Ok(RawStore::Memory(MemoryCeiling::new()));
        }
        if let Some(path) = url.strip_prefix("sqlite://") {
            // Only the path: a `?table=` would name a table the statements do not use.
            if path.contains('?') {
                return Err("the ceiling takes no query string on sqlite:// URLs".into());
            }
            return Ok(RawStore::Sqlite(SqliteCeiling::open(path)?));
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(RawStore::Postgres(PostgresCeiling::connect(url).await?));
        }
        if url.starts_with("redis://") {
            return Ok(RawStore::Redis(RedisCeiling::connect(url).await?));
        }
        Err("the ceiling measures memory://, sqlite://, postgres:// and redis:// stores".into())
    }

    /// The live row's text, as tessera's `load` reads it.
    pub async fn load(&self, key: &str, now: f64) -> Result<Option<String>, Error> {
        match self {
            RawStore::Memory(s) => s.load(key, now),
            RawStore::Sqlite(s) => s.load(key, now),
            RawStore::Postgres(s) => s.load(key, now).await,
            RawStore::Redis(s) => s.load(key).await,
        }
    }

    /// Inserts a new session; `false` when the key is taken.
    pub async fn create(&self, key: &str, text: &str, expires_at: f64) -> Result<bool, Error> {
        match self {
            RawStore::Memory(s) => s.create(key, text, expires_at),
            RawStore::Sqlite(s) => s.create(key, text, expires_at),
            RawStore::Postgres(s) => s.create(key, text, expires_at).await,
            RawStore::Redis(s) => s.create(key, text, expires_at).await,
        }
    }

    /// Compare-and-swap against the text that was loaded; `false` when the row changed or
    /// went away meanwhile.
    pub async fn save(
        &self,
        key: &str,
        text: &str,
        expected: &str,
        expires_at: f64,
    ) -> Result<bool, Error> {
        match self {
            RawStore::Memory(s) => s.save(key, text, expected, expires_at),
            RawStore::Sqlite(s) => s.save(key, text, expected, expires_at),
            RawStore::Postgres(s) => s.save(key, text, expected, expires_at).await,
            RawStore::Redis(s) => s.save(key, text, expected, expires_at).await,
        }
    }
}
