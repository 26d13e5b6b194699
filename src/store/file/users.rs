//! The file store's per-user index: one marker file per session of a user,
//! `<dir>/users/<sha256(user id) in hex>/<session key>`, holding `"<created_at> <last_seen>"`
//! (Unix seconds). The expiry shown is the session file's own, never a copy.
//!
//! The user id is hashed, so any id is one fixed-length, safe file name and never leaves the
//! folder. The folder `users` cannot be a session file: those are `<cookie_name><key>` with
//! keys of 8 to 40 characters, longer than `users` itself (Django's `clearsessions` may try it
//! as a key, fails to open a folder, and moves on).
//!
//! # Ordering
//!
//! - `create` writes the marker right after it publishes the session file (before, a listing
//!   could prune the marker of a file not linked yet, as `create` takes no key lock); if the
//!   marker cannot be written, the new file is removed again and the create fails.
//! - `save` writes the new user's marker under the key lock, after the compare-and-swap check
//!   and before the rename, then removes the old user's marker if the user changed or left.
//! - `delete` and `clear_expired` remove the marker after the session file, under the key lock.
//! - A listing reads each marker's session without a lock; a marker whose session is gone,
//!   expired or another user's is removed only after a second look under the key lock (a save
//!   holding it may be about to make the marker true).
//! - A revoke takes each session's key lock, deletes the file only while it holds the user,
//!   then the marker. A request that loaded it and saves afterwards finds the file gone
//!   ([`SaveOutcome::Gone`](crate::store::SaveOutcome::Gone)) and writes nothing.
//!
//! So the index may hold extra markers (a failed rename, a session Django deleted), which
//! listings and `clear_expired` prune, and never misses a session tessera wrote.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use super::{
    contained_path, create_dir_owner_only, expiry_of, io_err, random_suffix, Abandoned, Inner,
    TEMP_INFIX,
};
use crate::session::key::SessionKey;
use crate::store::user_index::{newest_first, user_id_of};
use crate::store::{StoreError, UserSession};

/// The index folder, beside the session files (see the module docs for why no session file
/// can take this name).
pub(super) const USERS_DIR: &str = "users";

/// A marker's `created_at` and `last_seen`, if it exists and parses.
fn read_marker(path: &Path) -> Option<(f64, f64)> {
    let text = fs::read_to_string(path).ok()?;
    let mut times = text.split_whitespace().map(|t| t.parse::<f64>().ok());
    Some((times.next()??, times.next()??))
}

fn warn_marker_left(e: &StoreError) {
    tracing::warn!(target: "tessera::store::file", "cannot remove a user index marker (a listing prunes it): {e}");
}

impl Inner {
    pub(super) fn users_dir(&self) -> PathBuf {
        self.dir.join(USERS_DIR)
    }

    /// The user's folder: the SHA-256 of the id in hex.
    fn user_dir(&self, user: &str) -> PathBuf {
        let hex: String = Sha256::digest(user.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        self.users_dir().join(hex)
    }

    fn marker_path(&self, user: &str, key: &SessionKey) -> Result<PathBuf, StoreError> {
        contained_path(&self.user_dir(user), key.as_str())
    }

    /// The user a session file's text holds (`None` for an unreadable record or no user).
    pub(super) fn user_of_text(&self, text: &str) -> Option<String> {
        if text.is_empty() {
            return None;
        }
        user_id_of(self.codec.decode_record(text)?.as_ref())
    }

    /// The user of `key`'s session and its expiry, if the session is live at `now`.
    fn live_user(&self, key: &SessionKey, now: f64) -> Result<Option<(String, f64)>, StoreError> {
        let Some(file) = self.read(&self.path_of(key)?)? else {
            return Ok(None);
        };
        if file.text.is_empty() {
            return Ok(None);
        }
        let Some(data) = self.codec.decode_record(&file.text) else {
            return Ok(None);
        };
        let expires_at = expiry_of(&data, file.mtime, self.cookie_age);
        if expires_at <= now {
            return Ok(None);
        }
        Ok(user_id_of(&data).map(|user| (user, expires_at)))
    }

    /// Writes `key`'s marker under `user` (atomically: a temporary file renamed over it), with
    /// `last_seen` = `now` and `created_at` = `now` when `fresh`, else kept from the marker.
    pub(super) fn write_marker(
        &self,
        user: &str,
        key: &SessionKey,
        now: f64,
        fresh: bool,
    ) -> Result<(), StoreError> {
        let dir = self.user_dir(user);
        let path = contained_path(&dir, key.as_str())?;
        let created_at = match (fresh, read_marker(&path)) {
            (false, Some((created_at, _))) => created_at,
            _ => now,
        };
        let text = format!("{created_at} {now}");
        for _ in 0..8 {
            create_dir_owner_only(&dir).map_err(io_err)?;
            let tmp = dir.join(format!("{}{TEMP_INFIX}{}", key.as_str(), random_suffix()));
            let mut file = match crate::store::owner_only_new_file().open(&tmp) {
                Ok(f) => f,
                // NotFound: `clear_expired` removed the (empty) folder meanwhile.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::AlreadyExists | io::ErrorKind::NotFound
                    ) =>
                {
                    continue
                }
                Err(e) => return Err(io_err(e)),
            };
            let written = file.write_all(text.as_bytes()).and_then(|()| {
                if self.fsync {
                    file.sync_all()
                } else {
                    Ok(())
                }
            });
            drop(file);
            if let Err(e) = written.and_then(|()| fs::rename(&tmp, &path)) {
                let _ = fs::remove_file(&tmp);
                return Err(io_err(e));
            }
            return self.sync_dir_at(&dir);
        }
        Err(StoreError::Unavailable(
            "file store: cannot write a user index marker".to_owned(),
        ))
    }

    /// Removes `key`'s marker under `user`, if any.
    pub(super) fn remove_marker(&self, user: &str, key: &SessionKey) -> Result<(), StoreError> {
        match fs::remove_file(self.marker_path(user, key)?) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io_err(e)),
        }
    }

    /// [`remove_marker`](Self::remove_marker) after the session file is gone or moved: a
    /// failure only leaves an extra marker, so it is logged, not returned.
    pub(super) fn remove_marker_or_warn(&self, user: &str, key: &SessionKey) {
        if let Err(e) = self.remove_marker(user, key) {
            warn_marker_left(&e);
        }
    }

    /// The session keys with a marker under `user`.
    fn marker_keys(&self, user: &str) -> Result<Vec<SessionKey>, StoreError> {
        let entries = match fs::read_dir(self.user_dir(user)) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(e)),
        };
        let mut keys = Vec::new();
        for entry in entries {
            let name = entry.map_err(io_err)?.file_name();
            if let Some(key) = name.to_str().and_then(SessionKey::parse) {
                keys.push(key);
            }
        }
        Ok(keys)
    }

    /// Removes a marker whose session is not `user`'s live one, after a second look under the
    /// key lock (a save holding it may be about to make the marker true).
    fn prune(
        &self,
        user: &str,
        key: &SessionKey,
        now: f64,
        abandoned: &Abandoned,
    ) -> Result<(), StoreError> {
        let _lock = self.lock(key, abandoned)?;
        if self.live_user(key, now)?.is_some_and(|(u, _)| u == user) {
            return Ok(());
        }
        self.remove_marker(user, key)
    }

    /// The live sessions of `user`, newest first; dead markers are pruned on the way.
    pub(super) fn list_user(
        &self,
        user: &str,
        now: f64,
        abandoned: &Abandoned,
    ) -> Result<Vec<UserSession>, StoreError> {
        let mut sessions = Vec::new();
        for key in self.marker_keys(user)? {
            let Some((_, expires_at)) = self.live_user(&key, now)?.filter(|(u, _)| u == user)
            else {
                self.prune(user, &key, now, abandoned)?;
                continue;
            };
            let (created_at, last_seen) =
                read_marker(&self.marker_path(user, &key)?).unwrap_or((now, now));
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

    /// Deletes every session of `user` but `keep`, each under its key lock and only while it
    /// holds the user, then its marker; returns how many files were removed.
    pub(super) fn revoke_user(
        &self,
        user: &str,
        keep: Option<&SessionKey>,
        abandoned: &Abandoned,
    ) -> Result<u64, StoreError> {
        let mut removed = 0;
        for key in self.marker_keys(user)? {
            if Some(&key) == keep {
                continue;
            }
            let path = self.path_of(&key)?;
            let _lock = self.lock(&key, abandoned)?;
            let holds = self
                .read(&path)?
                .is_some_and(|file| self.user_of_text(&file.text).as_deref() == Some(user));
            if holds {
                abandoned.check()?;
                match fs::remove_file(&path) {
                    Ok(()) => removed += 1,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
            // Under the lock, so no save can have made the marker true meanwhile.
            self.remove_marker(user, &key)?;
        }
        if removed > 0 {
            self.sync_dir()?;
        }
        Ok(removed)
    }

    /// Indexes each of `keys` whose session is live and holds a user (under its key lock, so
    /// a save moving it meanwhile is not undone); returns how many.
    pub(super) fn reindex_keys(
        &self,
        keys: &[SessionKey],
        now: f64,
        abandoned: &Abandoned,
    ) -> Result<u64, StoreError> {
        let mut indexed = 0;
        for key in keys {
            let _lock = self.lock(key, abandoned)?;
            if let Some((user, _)) = self.live_user(key, now)? {
                self.write_marker(&user, key, now, false)?;
                indexed += 1;
            }
        }
        Ok(indexed)
    }

    /// Prunes the markers of one user folder whose session file is gone (deleted by Django,
    /// or by a crash between the two removals), and orphaned temporary markers; removes the
    /// folder once empty.
    pub(super) fn prune_user_dir(
        &self,
        dir: &Path,
        abandoned: &Abandoned,
    ) -> Result<(), StoreError> {
        let entries = match fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err(e)),
        };
        for entry in entries {
            let entry = entry.map_err(io_err)?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                continue;
            };
            let Some(key) = SessionKey::parse(name) else {
                self.remove_if_orphan(name, &entry.path());
                continue;
            };
            let session = self.path_of(&key)?;
            if session.try_exists().map_err(io_err)? {
                continue;
            }
            let _lock = self.lock(&key, abandoned)?;
            if !session.try_exists().map_err(io_err)? {
                match fs::remove_file(entry.path()) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => return Err(io_err(e)),
                }
            }
        }
        // Fails (harmlessly) unless empty; a marker write racing it creates the folder again.
        let _ = fs::remove_dir(dir);
        Ok(())
    }

    /// Fsyncs a directory when the store fsyncs.
    pub(super) fn sync_dir_at(&self, dir: &Path) -> Result<(), StoreError> {
        if self.fsync {
            File::open(dir).and_then(|d| d.sync_all()).map_err(io_err)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_session_file_name_is_the_index_folder() {
        // `<cookie_name><key>` = "users" needs a key of at most 5 characters; keys have 8+.
        for cut in 0..=USERS_DIR.len() {
            let (cookie_name, rest) = USERS_DIR.split_at(cut);
            assert!(
                SessionKey::parse(rest).is_none(),
                "cookie name {cookie_name:?} would make {rest:?} a key"
            );
        }
    }
}
