//! The file store: the store conformance suite, Django's file layout and expiry rules,
//! atomic writes and compare-and-swap across store instances (as across processes).

use crate::common;

use common::fixtures::{codec, dict, key, now};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tessera::conformance::{self, Corruptor};
use tessera::json::Value;
use tessera::session::key::SessionKey;
use tessera::store::file::FileStore;
use tessera::store::{Record, SaveOutcome, SessionStore, StoreError};

const SECRET: &str = "file-store-test-secret";

const AGE: f64 = 1_209_600.0;

/// A fresh, empty directory under the system temp dir.
fn temp_dir(name: &str) -> PathBuf {
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let dir = std::env::temp_dir().join(format!(
        "tessera-file-{name}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn names(dir: &PathBuf) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("read dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn mtime(path: &PathBuf) -> f64 {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .expect("mtime")
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite() {
    let dir = temp_dir("conformance");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let corrupt_dir = dir.clone();
    let corruptor: Corruptor = Arc::new(move |k: SessionKey| {
        let path = corrupt_dir.join(format!("sessionid{}", k.as_str()));
        Box::pin(async move {
            std::fs::write(path, "e30:1r31eq:not-the-right-signature").expect("write");
        })
    });
    conformance::run(Arc::new(store), Some(corruptor)).await;
    // Everything the suite created was deleted or cleared, and nothing was left behind.
    let left: Vec<String> = tree(&dir)
        .into_iter()
        .filter(|n| n.contains("_out_") || n.ends_with(".lock") || n.starts_with("users/"))
        .collect();
    assert!(
        left.is_empty(),
        "temporary, lock or index files left: {left:?}"
    );
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_suite_without_lock_files_and_with_fsync() {
    let dir = temp_dir("conformance-nolock");
    let store = FileStore::builder(&dir, codec(SECRET))
        .lock_files(false)
        .fsync(true)
        .build()
        .expect("store");
    conformance::run(Arc::new(store), None).await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_fifty_writers_and_logout_race() {
    let dir = temp_dir("http-races");
    let store: Arc<dyn SessionStore> =
        Arc::new(FileStore::new(&dir, codec(SECRET)).expect("store"));
    common::http::fifty_concurrent_writers_lose_nothing(store.clone()).await;
    common::http::logout_race_never_resurrects(store.clone()).await;
    common::http::cycle_race_loses_no_acknowledged_write(store.clone()).await;
    common::http::revoke_under_load_resurrects_nothing(store).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Expiries past the year 9999 and data past the budget: 400, the same as every store.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_writes_past_the_limits_are_refused() {
    let dir = temp_dir("http-limits");
    let store: Arc<dyn SessionStore> =
        Arc::new(FileStore::new(&dir, codec(SECRET)).expect("store"));
    common::http::writes_past_the_limits_are_refused(store).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// The session directory's file names are session keys: a directory the store creates is
/// for its owner only (its files already are, 0600).
#[test]
fn a_new_session_directory_is_for_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let parent = temp_dir("dir-mode");
    let dir = parent.join("sessions/nested");
    FileStore::new(&dir, codec(SECRET)).expect("store");
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "mode {:o}", mode & 0o777);
    std::fs::remove_dir_all(&parent).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_is_djangos_and_paths_stay_inside() {
    let dir = temp_dir("layout");
    let codec = codec(SECRET);
    for (cookie, store) in [
        (
            "sessionid",
            FileStore::new(&dir, codec.clone()).expect("store"),
        ),
        (
            "my_cookie",
            FileStore::builder(&dir, codec.clone())
                .cookie_name("my_cookie")
                .build()
                .expect("store"),
        ),
    ] {
        let k = key();
        let path = store.path_of(&k).expect("path");
        assert_eq!(path.parent(), Some(dir.as_path()), "the file is in the dir");
        assert_eq!(
            path.file_name().and_then(|n| n.to_str()),
            Some(format!("{cookie}{}", k.as_str()).as_str())
        );
        let data = dict(&[("cart", Value::from(3))]);
        let expires_at = now() + 600.0;
        store
            .create(
                &k,
                Record {
                    data: &data,
                    expires_at,
                    now: tessera::time::now(),
                },
            )
            .await
            .expect("create");
        let text = std::fs::read_to_string(&path).expect("the session file");
        assert_eq!(
            codec.decode(&text).data,
            data,
            "the content is Django's encoding"
        );
        // Django computes mtime + SESSION_COOKIE_AGE: that must be the expiry we were given.
        assert!(
            (mtime(&path) + AGE - expires_at).abs() < 0.01,
            "mtime + cookie age = expiry"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
            assert_eq!(
                mode & 0o777,
                0o600,
                "session files are private, as Django's"
            );
        }
    }
    assert_eq!(names(&dir).len(), 2, "one file per session, nothing else");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn bad_cookie_names_are_rejected() {
    let dir = temp_dir("badname");
    for bad in ["", "a/b", "../x", "a\\b", "a\0b"] {
        let r = FileStore::builder(&dir, codec(SECRET))
            .cookie_name(bad)
            .build();
        assert!(matches!(r, Err(StoreError::Config(_))), "{bad:?} accepted");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn django_written_files_load_with_djangos_expiry_rules() {
    let dir = temp_dir("django");
    let codec = codec(SECRET);
    let store = FileStore::new(&dir, codec.clone()).expect("store");
    let t = now();

    // A file as Django writes it: encode(dict), mtime = write time → live for the cookie age.
    let plain = key();
    let data = dict(&[("visits", Value::from(1))]);
    std::fs::write(
        dir.join(format!("sessionid{}", plain.as_str())),
        codec.encode(&data),
    )
    .expect("write");
    let loaded = store.load(&plain, t).await.expect("load").expect("live");
    assert_eq!(*loaded.data, data);
    assert!(store.load(&plain, t + AGE - 60.0).await.unwrap().is_some());
    assert!(
        store.load(&plain, t + AGE + 60.0).await.unwrap().is_none(),
        "mtime + cookie age has passed"
    );

    // set_expiry(datetime) in the past: the stored date wins over the fresh mtime.
    let dated = key();
    let past = dict(&[
        ("x", Value::from(1)),
        (
            "_session_expiry",
            Value::from("2023-11-15T22:13:20.250000+00:00"),
        ),
    ]);
    std::fs::write(
        dir.join(format!("sessionid{}", dated.as_str())),
        codec.encode(&past),
    )
    .expect("write");
    assert!(
        store.load(&dated, t).await.unwrap().is_none(),
        "a past _session_expiry date expires the session"
    );

    // A future date keeps it alive beyond mtime + cookie age.
    let future = key();
    let later = dict(&[("_session_expiry", Value::from("2999-01-01T00:00:00+00:00"))]);
    std::fs::write(
        dir.join(format!("sessionid{}", future.as_str())),
        codec.encode(&later),
    )
    .expect("write");
    assert!(store.load(&future, t + 2.0 * AGE).await.unwrap().is_some());

    // clear_expired follows the same rules: only the past-dated one goes.
    assert_eq!(store.clear_expired(t, 10).await.expect("clear"), 1);
    assert!(!store.exists(&dated).await.unwrap());
    assert!(store.exists(&plain).await.unwrap());
    assert!(store.exists(&future).await.unwrap());

    // Files that are not sessions are ignored by clear_expired.
    std::fs::write(dir.join("sessionidNOT-A-KEY"), "x").expect("write");
    std::fs::write(dir.join("other"), "x").expect("write");
    assert_eq!(
        store.clear_expired(t + 3.0 * AGE, 1).await.expect("clear"),
        1
    );
    assert!(dir.join("sessionidNOT-A-KEY").exists() && dir.join("other").exists());
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_expiry_is_honoured_through_the_mtime() {
    let dir = temp_dir("custom-expiry");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let k = key();
    // set_expiry(300): the session layer hands the store now + 300.
    let t = now();
    let data = dict(&[("x", Value::from(1)), ("_session_expiry", Value::from(300))]);
    store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: t + 300.0,
                now: tessera::time::now(),
            },
        )
        .await
        .expect("create");
    assert!(store.load(&k, t + 299.0).await.unwrap().is_some());
    assert!(store.load(&k, t + 301.0).await.unwrap().is_none());
    assert_eq!(store.clear_expired(t + 301.0, 100).await.unwrap(), 1);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_are_atomic_and_leave_no_temporary_files() {
    let dir = temp_dir("atomic");
    let codec = codec(SECRET);
    let store = Arc::new(FileStore::new(&dir, codec.clone()).expect("store"));
    let k = key();
    let path = store.path_of(&k).expect("path");
    let t = now() + 3600.0;
    let mut version = store
        .create(
            &k,
            Record {
                data: &dict(&[("n", Value::from(0))]),
                expires_at: t,
                now: tessera::time::now(),
            },
        )
        .await
        .expect("create");
    // A reader polling the file while it is rewritten must only ever see complete records.
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (path, codec, stop) = (path.clone(), codec.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).expect("the file is always there");
                let decoded = codec.decode(&text);
                assert!(
                    !decoded.corrupt && decoded.data.contains_key("n"),
                    "a partial file was visible"
                );
                reads += 1;
            }
            reads
        })
    };
    for i in 1..=300 {
        let big = "x".repeat(i * 37 % 5000);
        let data = dict(&[("n", Value::from(i as i64)), ("pad", Value::from(big))]);
        match store
            .save(
                &k,
                Record {
                    data: &data,
                    expires_at: t,
                    now: tessera::time::now(),
                },
                &version,
            )
            .await
            .expect("save")
        {
            SaveOutcome::Saved(v) => version = v,
            other => panic!("unexpected {other:?}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("reader");
    assert!(reads > 0);
    assert_eq!(
        names(&dir),
        vec![format!("sessionid{}", k.as_str())],
        "only the session file remains"
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Several store instances on one directory (as several processes would be) incrementing one
/// counter with compare-and-swap: no increment is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_saves_across_instances_lose_nothing() {
    let dir = temp_dir("cas");
    let stores: Vec<Arc<FileStore>> = (0..4)
        .map(|_| Arc::new(FileStore::new(&dir, codec(SECRET)).expect("store")))
        .collect();
    let k = key();
    let t = now() + 3600.0;
    stores[0]
        .create(
            &k,
            Record {
                data: &dict(&[("n", Value::from(0))]),
                expires_at: t,
                now: tessera::time::now(),
            },
        )
        .await
        .expect("create");
    let mut tasks = Vec::new();
    for task in 0..16 {
        let store = stores[task % stores.len()].clone();
        let k = k.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u32;
            for _ in 0..10 {
                loop {
                    let loaded = store.load(&k, now()).await.unwrap().expect("live");
                    let n = loaded.data.get("n").and_then(Value::as_i64).expect("n");
                    let data = dict(&[("n", Value::from(n + 1))]);
                    let outcome = store
                        .save(
                            &k,
                            Record {
                                data: &data,
                                expires_at: t,
                                now: tessera::time::now(),
                            },
                            &loaded.version,
                        )
                        .await
                        .unwrap();
                    match outcome {
                        SaveOutcome::Saved(_) => break,
                        SaveOutcome::Conflict => conflicts += 1,
                        SaveOutcome::Gone => panic!("gone"),
                    }
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for t in tasks {
        conflicts += t.await.expect("task");
    }
    let n = stores[1]
        .load(&k, now())
        .await
        .unwrap()
        .expect("live")
        .data
        .get("n")
        .and_then(Value::as_i64);
    assert_eq!(
        n,
        Some(160),
        "every increment landed ({conflicts} conflicts retried)"
    );
    assert_eq!(names(&dir).len(), 1, "no lock or temporary file left");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_times_out_and_a_stale_one_is_broken() {
    let dir = temp_dir("locks");
    let store = FileStore::builder(&dir, codec(SECRET))
        .lock_timeout(Duration::from_millis(200))
        .stale_lock_after(Duration::from_secs(60))
        .build()
        .expect("store");
    let k = key();
    let data = dict(&[("a", Value::from(1))]);
    let v = store
        .create(
            &k,
            Record {
                data: &data,
                expires_at: now() + 600.0,
                now: tessera::time::now(),
            },
        )
        .await
        .expect("create");
    // Another process holds the lock.
    let lock = dir.join(format!("sessionid{}.lock", k.as_str()));
    std::fs::write(&lock, "").expect("lock");
    let r = store
        .save(
            &k,
            Record {
                data: &data,
                expires_at: now() + 600.0,
                now: tessera::time::now(),
            },
            &v,
        )
        .await;
    assert!(matches!(r, Err(StoreError::Timeout(_))), "got {r:?}");
    // The holder crashed long ago.
    let old = SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&lock)
        .and_then(|f| f.set_modified(old))
        .expect("age the lock");
    let r = store
        .save(
            &k,
            Record {
                data: &data,
                expires_at: now() + 600.0,
                now: tessera::time::now(),
            },
            &v,
        )
        .await
        .expect("save");
    assert!(matches!(r, SaveOutcome::Saved(_)));
    assert!(!lock.exists(), "the lock is released");
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_expired_works_in_batches() {
    let dir = temp_dir("clear");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let t = now();
    let data = dict(&[("x", Value::from(1))]);
    for i in 0..250 {
        store
            .create(
                &key(),
                Record {
                    data: &data,
                    expires_at: if i < 200 { t - 5.0 } else { t + 600.0 },
                    now: tessera::time::now(),
                },
            )
            .await
            .expect("create");
    }
    assert_eq!(store.clear_expired(t, 64).await.expect("clear"), 200);
    assert_eq!(names(&dir).len(), 50);
    assert_eq!(store.clear_expired(t, 64).await.expect("clear"), 0);
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_expired_removes_orphaned_lock_files_only() {
    let dir = temp_dir("orphans");
    let store = FileStore::builder(&dir, codec(SECRET))
        .stale_lock_after(Duration::from_millis(50))
        .build()
        .expect("store");
    let k = key();
    let lock = dir.join(format!("sessionid{}.lock", k.as_str()));
    let fresh_temp = dir.join(format!("sessionid{}_out_0123abcd", k.as_str()));
    let foreign = dir.join("sessionidnotakey!.lock");
    for p in [&lock, &fresh_temp, &foreign] {
        std::fs::write(p, "").expect("write");
    }
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_eq!(store.clear_expired(now(), 10).await.expect("clear"), 0);
    assert!(!lock.exists(), "a stale lock file is removed");
    assert!(
        fresh_temp.exists(),
        "a recent temporary file may still be in use"
    );
    assert!(foreign.exists(), "files that are not ours are left alone");
    std::fs::remove_dir_all(&dir).ok();
}

/// Every file under `dir`, as paths relative to it (the per-user index is a folder tree).
fn tree(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            out.extend(tree(&path).into_iter().map(|n| format!("{name}/{n}")));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

fn user_folder(user: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(user.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn login(user: &str) -> tessera::json::Map {
    dict(&[("_auth_user_id", Value::from(user))])
}

async fn create(
    store: &FileStore,
    data: &tessera::json::Map,
) -> (SessionKey, tessera::store::Version) {
    let k = key();
    let v = store
        .create(
            &k,
            Record {
                data,
                expires_at: now() + 600.0,
                now: now(),
            },
        )
        .await
        .expect("create");
    (k, v)
}

/// The index is `users/<sha256(user id)>/<key>` holding `created_at last_seen`, private as
/// the session files; a hostile user id stays a hash inside the folder; a save keeps
/// `created_at`, moves the marker to a new user and removes it when the user logs out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_user_index_is_one_private_marker_per_session() {
    use std::os::unix::fs::PermissionsExt;
    let dir = temp_dir("index-layout");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let hostile = "../../etc/passwd";
    let (k, v) = create(&store, &login(hostile)).await;
    let folder = dir.join("users").join(user_folder(hostile));
    let marker = folder.join(k.as_str());
    assert_eq!(
        tree(&dir),
        vec![
            format!("sessionid{}", k.as_str()),
            format!("users/{}/{}", user_folder(hostile), k.as_str())
        ],
        "one session file and one marker, inside the store directory"
    );
    let text = std::fs::read_to_string(&marker).expect("marker");
    let times: Vec<f64> = text.split(' ').map(|t| t.parse().expect("time")).collect();
    assert_eq!(times.len(), 2, "{text:?}");
    assert!(
        (times[0] - now()).abs() < 5.0 && times[0] == times[1],
        "{text:?}"
    );
    for (path, mode) in [
        (&marker, 0o600),
        (&folder, 0o700),
        (&dir.join("users"), 0o700),
    ] {
        let m = std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(m, mode, "{path:?}");
    }
    let listed = store.user_sessions(hostile, now()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].created_at, times[0]);

    // A later save of the same user keeps created_at and moves last_seen.
    let save = |data: tessera::json::Map, v: tessera::store::Version, at: f64| {
        let (store, k) = (store.clone(), k.clone());
        async move {
            match store
                .save(
                    &k,
                    Record {
                        data: &data,
                        expires_at: at + 600.0,
                        now: at,
                    },
                    &v,
                )
                .await
                .expect("save")
            {
                SaveOutcome::Saved(v) => v,
                other => panic!("{other:?}"),
            }
        }
    };
    let later = now() + 30.0;
    let v = save(login(hostile), v, later).await;
    let text = std::fs::read_to_string(&marker).expect("marker");
    assert_eq!(text, format!("{} {later}", times[0]), "created_at kept");
    // Another user: the marker moves, with a fresh created_at.
    let v = save(login("7"), v, later + 1.0).await;
    assert!(!marker.exists(), "the old user's marker is gone");
    let moved = dir.join("users").join(user_folder("7")).join(k.as_str());
    assert_eq!(
        std::fs::read_to_string(&moved).expect("moved"),
        format!("{} {}", later + 1.0, later + 1.0)
    );
    // Logged out: no marker at all.
    let _ = save(dict(&[("cart", Value::from(1))]), v, later + 2.0).await;
    assert!(!moved.exists());
    assert!(store.user_sessions("7", now()).await.unwrap().is_empty());
    store.delete(&k).await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Markers of sessions deleted behind tessera's back (Django's `delete`, its `clearsessions`)
/// are never listed, and `clear_expired` removes them, and empty user folders, and orphaned
/// temporary markers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn markers_of_sessions_deleted_by_django_are_pruned() {
    let dir = temp_dir("index-prune");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let (gone, _) = create(&store, &login("42")).await;
    let (live, _) = create(&store, &login("42")).await;
    let (other, _) = create(&store, &login("43")).await;
    std::fs::remove_file(dir.join(format!("sessionid{}", gone.as_str()))).unwrap();
    std::fs::remove_file(dir.join(format!("sessionid{}", other.as_str()))).unwrap();
    let orphan = dir
        .join("users")
        .join(user_folder("42"))
        .join(format!("{}_out_0123456789abcdef", live.as_str()));
    std::fs::write(&orphan, "1 1").unwrap();
    let old = SystemTime::now() - Duration::from_secs(7200);
    let f = std::fs::File::options().write(true).open(&orphan).unwrap();
    f.set_modified(old).unwrap();
    drop(f);
    assert_eq!(store.clear_expired(now(), 10).await.unwrap(), 0);
    let keys: Vec<SessionKey> = store
        .user_sessions("42", now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, vec![live.clone()]);
    let mut left = tree(&dir);
    // The orphan's ctime is fresh (set_modified bumps it), so it waits for its hour.
    left.retain(|n| !n.contains("_out_"));
    assert_eq!(
        left,
        vec![
            format!("sessionid{}", live.as_str()),
            format!("users/{}/{}", user_folder("42"), live.as_str())
        ],
        "the dead markers and the empty folder of user 43 are gone"
    );
    store.delete(&live).await.unwrap();
    store.clear_expired(now(), 10).await.unwrap();
    assert!(
        tree(&dir).iter().all(|n| n.contains("_out_")),
        "{:?}",
        tree(&dir)
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// Sessions Django wrote (a file, no marker) are listed once `reindex_users` backfills them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reindex_backfills_sessions_django_wrote() {
    let dir = temp_dir("reindex");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let raw_dir = dir.clone();
    let write: conformance::UnindexedWriter = Arc::new(move |k, data, expires_at| {
        let path = raw_dir.join(format!("sessionid{}", k.as_str()));
        Box::pin(async move {
            // As Django writes it: the text, and an mtime that puts the expiry at expires_at.
            std::fs::write(&path, codec(SECRET).encode(&data)).expect("write");
            let mtime = UNIX_EPOCH + Duration::from_secs_f64(expires_at - AGE);
            let f = std::fs::File::options().write(true).open(&path).unwrap();
            f.set_modified(mtime).expect("mtime");
        })
    });
    conformance::reindex_backfills(Arc::new(store), write).await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Over HTTP: two browsers log in as the same user, both are listed; "log out everywhere
/// else" from the first ends the second (its next request sees no login) and keeps the first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_log_out_everywhere_else() {
    use common::http::{app, send};
    let dir = temp_dir("http-revoke");
    let store = FileStore::new(&dir, codec(SECRET)).expect("store");
    let app = app(Arc::new(store.clone()), tessera::SessionConfig::default());
    let mut cookies = Vec::new();
    for _ in 0..2 {
        let r = send(&app, "/set?_auth_user_id=5", None).await;
        cookies.push(r.session_cookie().expect("a session cookie"));
    }
    let key_of = |cookie: &str| SessionKey::parse(cookie.trim_start_matches("sessionid=")).unwrap();
    let (mine, other) = (key_of(&cookies[0]), key_of(&cookies[1]));
    let listed = store.user_sessions("5", now()).await.expect("list");
    assert_eq!(listed.len(), 2, "both browsers are listed");
    assert_eq!(
        store.revoke_user_sessions("5", Some(&mine)).await.unwrap(),
        1
    );
    let r = send(&app, "/get?k=_auth_user_id", Some(&cookies[1])).await;
    assert_eq!(r.body, "None", "the other browser is logged out");
    let r = send(&app, "/get?k=_auth_user_id", Some(&cookies[0])).await;
    assert_eq!(r.body, "5", "this browser stays logged in");
    let keys: Vec<SessionKey> = store
        .user_sessions("5", now())
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.key)
        .collect();
    assert_eq!(keys, vec![mine.clone()]);
    assert!(store.load(&other, now()).await.unwrap().is_none());
    std::fs::remove_dir_all(&dir).ok();
}
