//! Django's file session backend (`django.contrib.sessions.backends.file`), file for file.
//!
//! # Layout
//!
//! One file per session at `<dir>/<cookie_name><key>` (`cookie_name` is Django's
//! `SESSION_COOKIE_NAME`, `sessionid` by default), holding the
//! [`SessionCodec`] text: exactly what Django writes, so Django and tessera can share the
//! directory. Keys are validated [`SessionKey`]s (`[a-z0-9]{8,40}`), so a file name can never
//! leave the directory; the joined path is checked anyway. Files are created `0600`, as
//! Django's `mkstemp` makes them.
//!
//! # Expiry
//!
//! Django's file backend keeps no expiry date: on load it takes `_session_expiry` from the
//! session dict if that is set, and otherwise the file's mtime plus `SESSION_COOKIE_AGE`.
//! tessera writes every file with its mtime set to `expires_at − cookie_age`, so:
//!
//! - Django reading a tessera file without a custom expiry computes `mtime + SESSION_COOKIE_AGE`
//!   = the exact expiry tessera was given (when both use the same cookie age);
//! - tessera reads the expiry back from the mtime, so a custom `_session_expiry` of any kind
//!   (a date, or a number of seconds that Django's file backend itself would not enforce) is
//!   honoured exactly as the session layer computed it.
//!
//! On load, a non-empty `_session_expiry` *string* wins over the mtime, as in Django, so
//! files Django wrote with `set_expiry(datetime)` or `set_expiry(timedelta)` expire on time
//! (for tessera's own files the two agree). A naive date string is read as UTC. A session is
//! live while its expiry is strictly after "now" (Django's file backend drops it once less
//! than a whole second is left; the sub-second difference is deliberate, to match the other
//! stores). Setting an mtime in the past is harmless, but note that `tmpfiles` cleaners that
//! look only at the mtime should not be pointed at the session directory (Django's default
//! directory is the system temp dir, so choose a dedicated one).
//!
//! # Writes and the compare-and-swap guarantee
//!
//! - Every write goes to a temporary file in the same directory
//!   (`<cookie_name><key>_out_<random>`, the name pattern Django's own writer uses), optionally
//!   fsynced, whose mtime is then set, and which is renamed over the session file, so a reader
//!   sees either the old file or the new one, never a partial one.
//! - [`create`](SessionStore::create) publishes the temporary file with `link(2)`, which fails
//!   if the name exists: insert-only and atomic, with no empty placeholder ever visible. On a
//!   filesystem without hard links it falls back to Django's way (an `O_EXCL` placeholder,
//!   then a rename over it, under the key lock described below).
//! - [`save`](SessionStore::save), [`delete`](SessionStore::delete) and the removals of
//!   [`clear_expired`](SessionStore::clear_expired) run under a per-key lock: an in-process
//!   striped mutex, plus (by default) a lock file `<cookie_name><key>.lock` created with
//!   `O_EXCL`. Under it, `save` re-reads the file, compares it byte for byte with the version
//!   that was loaded, and only then renames the new file in. So between all tessera processes
//!   sharing the directory, a save never overwrites a change it did not see and never
//!   resurrects a deleted session.
//! - Loads take no lock (the rename makes them consistent).
//! - Django itself writes without any lock (last writer wins), so a Django process racing a
//!   tessera process on the same session can still overwrite, exactly as two Django processes
//!   can. A lock file left behind by a crashed process is broken once it is older than
//!   [`FileStoreBuilder::stale_lock_after`] (10 s by default; a lock is held for one small
//!   read and write). Breaking a stale lock is the one unguarded step: two processes breaking
//!   the same stale lock at the same instant can both proceed.
//!
//! Lock files and temporary files have names that are not valid session keys, so both Django's
//! `clearsessions` and tessera's [`clear_expired`](SessionStore::clear_expired) skip them as
//! sessions; tessera's also removes the ones a crash left behind (temporary files unchanged for
//! an hour, lock files past the stale age). `clear_expired` reads the directory in batches of
//! `batch_size` session files, one blocking task each, and removes an expired file only under
//! its key lock after re-reading it, so a session saved meanwhile survives.
//!
//! # Each user's sessions
//!
//! A session holding `_auth_user_id` also has a marker file
//! `<dir>/users/<sha256(user id) in hex>/<key>`, written and removed with the session under
//! its key lock, so [`user_sessions`](SessionStore::user_sessions) and
//! [`revoke_user_sessions`](SessionStore::revoke_user_sessions) read one folder instead of
//! every session. See the [user sessions guide](crate::guide::user_sessions).
//!
//! All file I/O runs on Tokio's blocking pool (`spawn_blocking`), never on a runtime thread.
//!
//! # Abandoned calls
//!
//! A blocking task cannot be stopped from outside, so each one carries a flag that is set
//! when its caller goes away (the middleware's `store_timeout` fired, or the request was
//! cancelled, and the caller was answered with an error). A task that starts after that does
//! nothing; one waiting for another process's lock file gives up at its next retry (so it
//! also frees its lock stripe early); and `create`, `save`, `delete` and the removals of
//! `clear_expired` look at the flag once more under the key lock, right before the rename,
//! link or removal that makes them visible. So a write answered with a timeout because a lock
//! was held is not applied once the lock is released. One window remains: a caller that gives
//! up during that final rename or removal (a single system call) still gets it applied.
//!
//! ```no_run
//! # fn demo(codec: tessera::session::codec::SessionCodec) -> Result<(), tessera::store::StoreError> {
//! use tessera::store::file::FileStore;
//! let store = FileStore::builder("/var/lib/myapp/sessions", codec)
//!     .cookie_name("sessionid")
//!     .fsync(true)
//!     .build()?;
//! # let _ = store; Ok(()) }
//! ```

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;

mod users;

use super::user_index::user_id_of;
use super::{Loaded, Record, SaveOutcome, SessionStore, StoreError, UserSession, Version};
use crate::json::{Map, Value};
use crate::py::datetime::PyDateTime;
use crate::session::codec::SessionCodec;
use crate::session::expiry::{DEFAULT_COOKIE_AGE, SESSION_EXPIRY_KEY};
use crate::session::key::SessionKey;

/// In-process lock stripes: two keys share a stripe with probability 1/64, which only makes
/// one wait for the other's (short) write.
const STRIPES: usize = 64;
/// Infix of temporary files, as in Django (`mkstemp(prefix=<file name> + "_out_")`).
const TEMP_INFIX: &str = "_out_";
/// Suffix of lock files.
const LOCK_SUFFIX: &str = ".lock";

/// Configures a [`FileStore`]; [`build`](FileStoreBuilder::build) checks the settings.
#[derive(Debug, Clone)]
pub struct FileStoreBuilder {
    dir: PathBuf,
    codec: SessionCodec,
    cookie_name: String,
    cookie_age: Duration,
    fsync: bool,
    lock_files: bool,
    lock_timeout: Duration,
    stale_lock_after: Duration,
}

impl FileStoreBuilder {
    /// The file name prefix, Django's `SESSION_COOKIE_NAME` (default `sessionid`). It must
    /// match Django's setting for the two to see each other's files.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// Django's `SESSION_COOKIE_AGE` (default two weeks), which turns expiry dates into mtimes
    /// and back. It must match Django's setting for Django to read the same expiry; whole
    /// seconds, as Django's setting is an `int`.
    pub fn cookie_age(mut self, age: Duration) -> Self {
        self.cookie_age = age;
        self
    }

    /// Whether to fsync each new file before the rename and the directory after it, so an
    /// acknowledged write survives a power loss (default `false`, as Django: it never fsyncs).
    pub fn fsync(mut self, on: bool) -> Self {
        self.fsync = on;
        self
    }

    /// Whether saves and deletes also take a lock file, making compare-and-swap atomic across
    /// processes (default `true`). Turn off only when a single process uses the directory.
    pub fn lock_files(mut self, on: bool) -> Self {
        self.lock_files = on;
        self
    }

    /// How long to wait for another process's lock file before failing with
    /// [`StoreError::Timeout`] (default 5 s).
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }

    /// Age after which a lock file is presumed left by a crashed process and removed
    /// (default 10 s).
    pub fn stale_lock_after(mut self, age: Duration) -> Self {
        self.stale_lock_after = age;
        self
    }

    /// Creates the directory if needed and returns the store.
    pub fn build(self) -> Result<FileStore, StoreError> {
        let bad_name = self.cookie_name.is_empty()
            || self.cookie_name.len() > 200
            || self
                .cookie_name
                .chars()
                .any(|c| matches!(c, '/' | '\\' | '\0') || c.is_control());
        if bad_name {
            return Err(StoreError::Config(
                "file store: the cookie name must be 1 to 200 characters without path separators"
                    .to_owned(),
            ));
        }
        let Some(cookie_age) = crate::time::whole_seconds(self.cookie_age) else {
            return Err(StoreError::Config(
                "file store: the cookie age must be whole seconds (Django's setting is an int)"
                    .to_owned(),
            ));
        };
        create_dir_owner_only(&self.dir).map_err(|e| {
            StoreError::Config(format!("file store: cannot create the directory: {e}"))
        })?;
        if !self.dir.is_dir() {
            return Err(StoreError::Config(
                "file store: the session path is not a directory".to_owned(),
            ));
        }
        Ok(FileStore {
            inner: Arc::new(Inner {
                dir: self.dir,
                codec: self.codec,
                cookie_name: self.cookie_name,
                cookie_age,
                fsync: self.fsync,
                lock_files: self.lock_files,
                lock_timeout: self.lock_timeout,
                stale_lock_after: self.stale_lock_after,
                stripes: (0..STRIPES).map(|_| Mutex::new(())).collect(),
            }),
        })
    }
}

/// Sessions as files in one directory, shareable with Django's file backend. Cheap to clone.
#[derive(Debug, Clone)]
pub struct FileStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    dir: PathBuf,
    codec: SessionCodec,
    cookie_name: String,
    cookie_age: i64,
    fsync: bool,
    lock_files: bool,
    lock_timeout: Duration,
    stale_lock_after: Duration,
    stripes: Box<[Mutex<()>]>,
}

impl FileStore {
    /// A store in `dir` (created if missing) with Django's defaults: files named
    /// `sessionid<key>`, a two-week cookie age, lock files on, no fsync.
    pub fn new(dir: impl Into<PathBuf>, codec: SessionCodec) -> Result<Self, StoreError> {
        Self::builder(dir, codec).build()
    }

    /// A builder for non-default settings.
    pub fn builder(dir: impl Into<PathBuf>, codec: SessionCodec) -> FileStoreBuilder {
        FileStoreBuilder {
            dir: dir.into(),
            codec,
            cookie_name: "sessionid".to_owned(),
            cookie_age: Duration::from_secs(DEFAULT_COOKIE_AGE.unsigned_abs()),
            fsync: false,
            lock_files: true,
            lock_timeout: Duration::from_secs(5),
            stale_lock_after: Duration::from_secs(10),
        }
    }

    /// The directory holding the session files.
    pub fn dir(&self) -> &Path {
        &self.inner.dir
    }

    /// The file holding `key`'s session (it may not exist): `<dir>/<cookie_name><key>`.
    pub fn path_of(&self, key: &SessionKey) -> Result<PathBuf, StoreError> {
        self.inner.path_of(key)
    }

    fn write_of(&self, record: Record<'_>) -> Encoded {
        Encoded {
            text: self.inner.codec.encode(record.data),
            expires_at: record.expires_at,
            now: record.now,
            user: user_id_of(record.data),
        }
    }

    /// Runs `f` on the blocking pool, with a flag that is raised if this future is dropped
    /// before `f` is done (the caller timed out or was cancelled); `f` is not started at all
    /// once the flag is up.
    async fn blocking<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Inner, &Abandoned) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = self.inner.clone();
        let abandoned = Abandoned::default();
        let _raise_when_dropped = RaiseOnDrop(abandoned.clone());
        tokio::task::spawn_blocking(move || {
            abandoned.check()?;
            f(&inner, &abandoned)
        })
        .await
        .map_err(|_| StoreError::Unavailable("file store task failed".to_owned()))?
    }
}

/// Raised once the caller of a blocking task has gone: the task's result would reach nobody,
/// and a write must then not be applied.
#[derive(Debug, Clone, Default)]
struct Abandoned(Arc<AtomicBool>);

impl Abandoned {
    /// An error if the caller has gone (nobody sees it; it only ends the task).
    fn check(&self) -> Result<(), StoreError> {
        if self.0.load(Ordering::Acquire) {
            Err(StoreError::Unavailable(
                "file store: the caller gave up".to_owned(),
            ))
        } else {
            Ok(())
        }
    }
}

/// Raises the flag when the future awaiting the blocking task is dropped. (After the task
/// finished, raising it changes nothing.)
struct RaiseOnDrop(Abandoned);

impl Drop for RaiseOnDrop {
    fn drop(&mut self) {
        self.0 .0.store(true, Ordering::Release);
    }
}

fn io_err(e: io::Error) -> StoreError {
    // `io::Error`s from `std::fs` carry the OS message only, never the path (and so no key).
    StoreError::Unavailable(format!("session file: {e}"))
}

/// Unix seconds of a file time (negative before 1970).
fn unix_seconds(t: SystemTime) -> f64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_secs_f64(),
        Err(e) => -e.duration().as_secs_f64(),
    }
}

/// The file time for Unix seconds, if representable.
fn system_time(seconds: f64) -> Option<SystemTime> {
    if seconds >= 0.0 {
        UNIX_EPOCH.checked_add(Duration::try_from_secs_f64(seconds).ok()?)
    } else {
        UNIX_EPOCH.checked_sub(Duration::try_from_secs_f64(-seconds).ok()?)
    }
}

/// When a file's session expires: a non-empty `_session_expiry` string if it parses (Django's
/// `_expiry_date`), otherwise the mtime plus the cookie age.
fn expiry_of(data: &Map, mtime: f64, cookie_age: i64) -> f64 {
    if let Some(Value::Str(s)) = data.get(SESSION_EXPIRY_KEY) {
        if !s.is_empty() {
            if let Ok(at) = PyDateTime::fromisoformat(s) {
                let utc = at.to_utc().unwrap_or_else(|| at.naive_local().and_utc());
                return utc.timestamp() as f64 + f64::from(utc.timestamp_subsec_micros()) / 1e6;
            }
        }
    }
    mtime + cookie_age as f64
}

/// Random lowercase hex for temporary file names.
fn random_suffix() -> String {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        // Uniqueness, not secrecy, is what matters here; `create_new` catches collisions.
        let n = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        b = (n as u64 ^ u64::from(std::process::id())).to_le_bytes();
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A held per-key lock; dropping it removes the lock file and frees the stripe.
struct KeyLock<'a> {
    _stripe: MutexGuard<'a, ()>,
    file: Option<PathBuf>,
}

impl Drop for KeyLock<'_> {
    fn drop(&mut self) {
        if let Some(path) = self.file.take() {
            if let Err(e) = fs::remove_file(&path) {
                tracing::warn!(target: "tessera::store::file", "cannot remove a session lock file: {e}");
            }
        }
    }
}

/// A file as read: its text and its mtime.
struct FileRead {
    text: String,
    mtime: f64,
}

/// A record as the blocking task writes it: encoded, with the user it is indexed under.
struct Encoded {
    text: String,
    expires_at: f64,
    now: f64,
    user: Option<String>,
}

/// Creates the session directory (and any missing parents) for its owner only: the file names
/// are session keys. An existing directory keeps the mode its owner gave it.
fn create_dir_owner_only(dir: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// `dir/name`, or an error unless that is a file directly in `dir`: the last defence (keys
/// and the cookie name are validated before) against a name that walks out of the directory.
fn contained_path(dir: &Path, name: &str) -> Result<PathBuf, StoreError> {
    let path = dir.join(name);
    if path.parent() != Some(dir) || path.file_name() != Some(OsStr::new(name)) {
        return Err(StoreError::Config(
            "file store: a session path would leave the store directory".to_owned(),
        ));
    }
    Ok(path)
}

impl Inner {
    fn name_of(&self, key: &SessionKey) -> String {
        format!("{}{}", self.cookie_name, key.as_str())
    }

    fn path_of(&self, key: &SessionKey) -> Result<PathBuf, StoreError> {
        contained_path(&self.dir, &self.name_of(key))
    }

    fn stripe(&self, key: &SessionKey) -> &Mutex<()> {
        let h = key.as_str().bytes().fold(0usize, |h, c| {
            h.wrapping_mul(31).wrapping_add(usize::from(c))
        });
        &self.stripes[h % STRIPES]
    }

    /// Takes `key`'s lock: the in-process stripe, then (if enabled) the lock file, waiting for
    /// another process's lock file up to the lock timeout, or until the caller gives up.
    fn lock(&self, key: &SessionKey, abandoned: &Abandoned) -> Result<KeyLock<'_>, StoreError> {
        // The guard protects `()`, so a poisoned stripe holds no broken state.
        let stripe = self
            .stripe(key)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !self.lock_files {
            return Ok(KeyLock {
                _stripe: stripe,
                file: None,
            });
        }
        let path = self.dir.join(format!("{}{LOCK_SUFFIX}", self.name_of(key)));
        let deadline = Instant::now() + self.lock_timeout;
        let mut pause = Duration::from_micros(50);
        loop {
            match super::owner_only_new_file().open(&path) {
                Ok(_) => {
                    return Ok(KeyLock {
                        _stripe: stripe,
                        file: Some(path),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    let stale = fs::metadata(&path)
                        .and_then(|m| m.modified())
                        .ok()
                        .and_then(|t| t.elapsed().ok())
                        .is_some_and(|age| age > self.stale_lock_after);
                    if stale {
                        tracing::warn!(target: "tessera::store::file", "breaking a stale session lock file");
                        match fs::remove_file(&path) {
                            Ok(()) => continue,
                            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                            Err(e) => return Err(io_err(e)),
                        }
                    }
                    if Instant::now() >= deadline {
                        return Err(StoreError::Timeout(self.lock_timeout));
                    }
                    abandoned.check()?;
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(5));
                }
                Err(e) => return Err(io_err(e)),
            }
        }
    }

    /// Reads a session file; `None` if it does not exist.
    fn read(&self, path: &Path) -> Result<Option<FileRead>, StoreError> {
        let mut file = match File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err(e)),
        };
        // The mtime of the open file, so it belongs to the content read (a rename may follow).
        let mtime = unix_seconds(file.metadata().and_then(|m| m.modified()).map_err(io_err)?);
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err)?;
        let text = match String::from_utf8(bytes) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        };
        Ok(Some(FileRead { text, mtime }))
    }

    /// Decodes a file's text (a corrupt one is an empty dict, with the codec's warning).
    fn decode(&self, text: &str) -> Map {
        if text.is_empty() {
            // Django's placeholder, seen between its O_EXCL create and its rename.
            Map::new()
        } else {
            self.codec.decode(text).data
        }
    }

    /// Writes `text` to a new temporary file next to `path`, with the mtime that encodes
    /// `expires_at`, and returns the temporary path.
    fn write_temp(&self, path: &Path, text: &str, expires_at: f64) -> Result<PathBuf, StoreError> {
        let mtime = system_time(expires_at - self.cookie_age as f64).ok_or_else(|| {
            StoreError::Unavailable("file store: expiry date out of range".to_owned())
        })?;
        let base = path
            .file_name()
            .and_then(OsStr::to_str)
            .ok_or_else(|| StoreError::Config("file store: bad session file name".to_owned()))?;
        for _ in 0..8 {
            let tmp = self
                .dir
                .join(format!("{base}{TEMP_INFIX}{}", random_suffix()));
            let mut file = match super::owner_only_new_file().open(&tmp) {
                Ok(f) => f,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(io_err(e)),
            };
            let written = file
                .write_all(text.as_bytes())
                .and_then(|()| file.set_modified(mtime))
                .and_then(|()| if self.fsync { file.sync_all() } else { Ok(()) });
            drop(file);
            return match written {
                Ok(()) => Ok(tmp),
                Err(e) => {
                    let _ = fs::remove_file(&tmp);
                    Err(io_err(e))
                }
            };
        }
        Err(StoreError::Unavailable(
            "file store: cannot create a temporary file".to_owned(),
        ))
    }

    /// Renames `tmp` over `path` (removing `tmp` on failure).
    fn publish(&self, tmp: &Path, path: &Path) -> Result<(), StoreError> {
        if let Err(e) = fs::rename(tmp, path) {
            let _ = fs::remove_file(tmp);
            return Err(io_err(e));
        }
        self.sync_dir()
    }

    fn sync_dir(&self) -> Result<(), StoreError> {
        self.sync_dir_at(&self.dir)
    }

    fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        let Some(file) = self.read(&self.path_of(key)?)? else {
            return Ok(None);
        };
        // An unreadable record is no session: it is never overwritten (`clear_expired` still
        // removes it once its mtime says it expired, as Django's does).
        let data = if file.text.is_empty() {
            Arc::default()
        } else {
            match self.codec.decode_record(&file.text) {
                Some(data) => data,
                None => return Ok(None),
            }
        };
        if expiry_of(&data, file.mtime, self.cookie_age) <= now {
            return Ok(None);
        }
        Ok(Some(Loaded {
            data,
            version: Version::Text(file.text.into()),
        }))
    }

    fn create(
        &self,
        key: &SessionKey,
        write: Encoded,
        abandoned: &Abandoned,
    ) -> Result<Version, StoreError> {
        let version = self.create_file(key, write.text, write.expires_at, abandoned)?;
        if let Some(user) = &write.user {
            // After the file is published (see `users`); a create that cannot be indexed is
            // undone: nobody holds the new key yet.
            if let Err(e) = self.write_marker(user, key, write.now, true) {
                let _ = fs::remove_file(self.path_of(key)?);
                return Err(e);
            }
        }
        Ok(version)
    }

    fn create_file(
        &self,
        key: &SessionKey,
        text: String,
        expires_at: f64,
        abandoned: &Abandoned,
    ) -> Result<Version, StoreError> {
        let path = self.path_of(key)?;
        let tmp = self.write_temp(&path, &text, expires_at)?;
        if let Err(e) = abandoned.check() {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        match fs::hard_link(&tmp, &path) {
            Ok(()) => {
                let _ = fs::remove_file(&tmp);
                self.sync_dir()?;
                Ok(Version::Text(text.into()))
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                let _ = fs::remove_file(&tmp);
                Err(StoreError::DuplicateKey)
            }
            Err(_) => {
                // No hard links here: Django's O_EXCL placeholder, then a rename over it. The
                // key lock keeps a concurrent delete from being undone by the rename.
                let locked = self.lock(key, abandoned);
                let _lock = match locked.and_then(|lock| abandoned.check().map(|()| lock)) {
                    Ok(lock) => lock,
                    Err(e) => {
                        let _ = fs::remove_file(&tmp);
                        return Err(e);
                    }
                };
                match super::owner_only_new_file().open(&path) {
                    Ok(_) => {}
                    Err(e) => {
                        let _ = fs::remove_file(&tmp);
                        return Err(if e.kind() == io::ErrorKind::AlreadyExists {
                            StoreError::DuplicateKey
                        } else {
                            io_err(e)
                        });
                    }
                }
                self.publish(&tmp, &path)?;
                Ok(Version::Text(text.into()))
            }
        }
    }

    fn save(
        &self,
        key: &SessionKey,
        write: Encoded,
        expected: &Version,
        abandoned: &Abandoned,
    ) -> Result<SaveOutcome, StoreError> {
        let path = self.path_of(key)?;
        let _lock = self.lock(key, abandoned)?;
        let Some(current) = self.read(&path)? else {
            // Deleted or revoked: nothing is written, not even a marker.
            return Ok(SaveOutcome::Gone);
        };
        match expected {
            Version::Text(v) if **v == *current.text => {}
            _ => return Ok(SaveOutcome::Conflict),
        }
        let old_user = self.user_of_text(&current.text);
        let tmp = self.write_temp(&path, &write.text, write.expires_at)?;
        // The new user's marker before the rename, under the lock: a failure leaves at most
        // an extra marker, never a live session without one.
        let marked = match &write.user {
            Some(user) => self.write_marker(user, key, write.now, old_user.as_ref() != Some(user)),
            None => Ok(()),
        };
        if let Err(e) = marked.and_then(|()| abandoned.check()) {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        self.publish(&tmp, &path)?;
        if let Some(old) = old_user.filter(|old| write.user.as_ref() != Some(old)) {
            self.remove_marker_or_warn(&old, key);
        }
        Ok(SaveOutcome::Saved(Version::Text(write.text.into())))
    }

    fn delete(&self, key: &SessionKey, abandoned: &Abandoned) -> Result<(), StoreError> {
        let path = self.path_of(key)?;
        let _lock = self.lock(key, abandoned)?;
        let user = self
            .read(&path)?
            .and_then(|file| self.user_of_text(&file.text));
        abandoned.check()?;
        match fs::remove_file(&path) {
            Ok(()) => self.sync_dir()?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err(e)),
        }
        if let Some(user) = user {
            self.remove_marker_or_warn(&user, key);
        }
        Ok(())
    }

    fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        self.path_of(key)?.try_exists().map_err(io_err)
    }

    /// Reads directory entries until `max` session keys are found (or the listing ends, then
    /// `done`). Names that are not `<cookie_name><valid key>` are skipped; orphaned temporary
    /// and lock files (left by a crash) are removed on the way.
    fn next_keys(
        &self,
        entries: &mut fs::ReadDir,
        max: usize,
    ) -> Result<(Vec<SessionKey>, bool), StoreError> {
        let mut keys = Vec::with_capacity(max.min(4096));
        for entry in entries.by_ref() {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(rest) = name
                .to_str()
                .and_then(|n| n.strip_prefix(self.cookie_name.as_str()))
            else {
                continue;
            };
            if let Some(key) = SessionKey::parse(rest) {
                keys.push(key);
                if keys.len() >= max {
                    return Ok((keys, false));
                }
            } else {
                self.remove_if_orphan(rest, &entry.path());
            }
        }
        Ok((keys, true))
    }

    /// Removes `path` if it is one of this store's temporary files untouched for an hour, or a
    /// lock file older than the stale-lock age.
    fn remove_if_orphan(&self, rest: &str, path: &Path) {
        let (key, max_age) = if let Some((key, _)) = rest.split_once(TEMP_INFIX) {
            (key, Duration::from_secs(3600))
        } else if let Some(key) = rest.strip_suffix(LOCK_SUFFIX) {
            (key, self.stale_lock_after)
        } else {
            return;
        };
        if SessionKey::parse(key).is_none() {
            return;
        }
        let Ok(meta) = fs::symlink_metadata(path) else {
            return;
        };
        // The change time, which creation, writes, `set_modified` and renames all bump (the
        // mtime of a temporary file is set to an arbitrary past date on purpose).
        #[cfg(unix)]
        let changed = {
            use std::os::unix::fs::MetadataExt;
            system_time(meta.ctime() as f64)
        };
        #[cfg(not(unix))]
        let changed = meta.modified().ok();
        let old = changed
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > max_age);
        if old && meta.is_file() {
            let _ = fs::remove_file(path);
        }
    }

    /// Removes the expired sessions among `keys`, each under its lock after a fresh read (so
    /// a session saved meanwhile is kept); returns how many were removed.
    fn remove_expired(
        &self,
        keys: &[SessionKey],
        now: f64,
        abandoned: &Abandoned,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for key in keys {
            let path = self.path_of(key)?;
            let _lock = self.lock(key, abandoned)?;
            let Some(file) = self.read(&path)? else {
                continue;
            };
            let data = self.decode(&file.text);
            if expiry_of(&data, file.mtime, self.cookie_age) > now {
                continue;
            }
            abandoned.check()?;
            match fs::remove_file(&path) {
                Ok(()) => removed += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(io_err(e)),
            }
            if let Some(user) = user_id_of(&data) {
                self.remove_marker_or_warn(&user, key);
            }
        }
        if removed > 0 {
            self.sync_dir()?;
        }
        Ok(removed)
    }
}

#[async_trait]
impl SessionStore for FileStore {
    async fn load(&self, key: &SessionKey, now: f64) -> Result<Option<Loaded>, StoreError> {
        let key = key.clone();
        self.blocking(move |s, _| s.load(&key, now)).await
    }

    async fn create(&self, key: &SessionKey, record: Record<'_>) -> Result<Version, StoreError> {
        let key = key.clone();
        let write = self.write_of(record);
        self.blocking(move |s, abandoned| s.create(&key, write, abandoned))
            .await
    }

    async fn save(
        &self,
        key: &SessionKey,
        record: Record<'_>,
        expected: &Version,
    ) -> Result<SaveOutcome, StoreError> {
        let key = key.clone();
        let write = self.write_of(record);
        let expected = expected.clone();
        self.blocking(move |s, abandoned| s.save(&key, write, &expected, abandoned))
            .await
    }

    async fn delete(&self, key: &SessionKey) -> Result<(), StoreError> {
        let key = key.clone();
        self.blocking(move |s, abandoned| s.delete(&key, abandoned))
            .await
    }

    async fn exists(&self, key: &SessionKey) -> Result<bool, StoreError> {
        let key = key.clone();
        self.blocking(move |s, _| s.exists(&key)).await
    }

    async fn clear_expired(&self, now: f64, batch_size: usize) -> Result<u64, StoreError> {
        self.clear_expired_with_progress(now, batch_size, &|_| {})
            .await
    }

    async fn clear_expired_with_progress(
        &self,
        now: f64,
        batch_size: usize,
        progress: &(dyn Fn(u64) + Send + Sync),
    ) -> Result<u64, StoreError> {
        let batch = batch_size.max(1);
        let mut entries = Some(
            self.blocking(|s, _| fs::read_dir(&s.dir).map_err(io_err))
                .await?,
        );
        let mut removed = 0;
        // One blocking task per batch: a huge directory is never held in memory, and no
        // blocking thread is occupied (nor any lock held) for long.
        while let Some(mut iter) = entries.take() {
            let (rest, n) = self
                .blocking(move |s, abandoned| {
                    let (keys, done) = s.next_keys(&mut iter, batch)?;
                    let n = s.remove_expired(&keys, now, abandoned)?;
                    Ok(((!done).then_some(iter), n))
                })
                .await?;
            removed += n;
            progress(removed);
            entries = rest;
        }
        self.prune_user_index().await?;
        Ok(removed)
    }

    async fn user_sessions(&self, user_id: &str, now: f64) -> Result<Vec<UserSession>, StoreError> {
        let user = user_id.to_owned();
        self.blocking(move |s, abandoned| s.list_user(&user, now, abandoned))
            .await
    }

    async fn revoke_user_sessions(
        &self,
        user_id: &str,
        keep: Option<&SessionKey>,
    ) -> Result<u64, StoreError> {
        let (user, keep) = (user_id.to_owned(), keep.cloned());
        self.blocking(move |s, abandoned| s.revoke_user(&user, keep.as_ref(), abandoned))
            .await
    }

    async fn reindex_users(&self, now: f64, batch: usize) -> Result<u64, StoreError> {
        let batch = batch.max(1);
        let mut entries = Some(
            self.blocking(|s, _| fs::read_dir(&s.dir).map_err(io_err))
                .await?,
        );
        let mut indexed = 0;
        // One pass over the session files, one blocking task per batch, as `clear_expired`.
        while let Some(mut iter) = entries.take() {
            let (rest, n) = self
                .blocking(move |s, abandoned| {
                    let (keys, done) = s.next_keys(&mut iter, batch)?;
                    let n = s.reindex_keys(&keys, now, abandoned)?;
                    Ok(((!done).then_some(iter), n))
                })
                .await?;
            indexed += n;
            entries = rest;
        }
        Ok(indexed)
    }
}

impl FileStore {
    /// The second half of `clear_expired`: prunes index markers whose session file is gone
    /// (Django deleted it, or a crash came between the two removals), one user folder per
    /// blocking task.
    async fn prune_user_index(&self) -> Result<(), StoreError> {
        let folders = self
            .blocking(|s, _| match fs::read_dir(s.users_dir()) {
                Ok(entries) => entries
                    .map(|e| e.map(|e| e.path()).map_err(io_err))
                    .collect::<Result<Vec<_>, _>>(),
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
                Err(e) => Err(io_err(e)),
            })
            .await?;
        for folder in folders {
            self.blocking(move |s, abandoned| s.prune_user_dir(&folder, abandoned))
                .await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_names_never_leave_the_store_directory() {
        let dir = Path::new("/srv/sessions");
        for name in [
            "../x",
            "..",
            ".",
            "",
            "a/b",
            "/etc/passwd",
            "sessionid/../../etc/passwd",
            "sessionidabc/",
            "./sessionidabc",
        ] {
            assert!(
                contained_path(dir, name).is_err(),
                "{name:?} must be refused"
            );
        }
        assert_eq!(
            contained_path(dir, "sessionidabc").unwrap(),
            Path::new("/srv/sessions/sessionidabc")
        );
    }
}
