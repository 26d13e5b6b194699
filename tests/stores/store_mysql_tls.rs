//! The MySQL store over TLS (`require_ssl=true`, the `mysql-tls` feature) against a private
//! MariaDB this file starts: a fresh data directory (`mariadb-install-db`), `mariadbd` on a
//! free loopback port with `--require-secure-transport=ON` and a CA and certificate made at
//! test time, so only a TLS connection gets in.
#![cfg(feature = "mysql-tls")]

use std::fs;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::common;

use common::fixtures::{codec, int_dict, key, now};
use common::tls::{write_pki, Pki};
use mysql_async::prelude::Queryable;
use tessera::conformance;
use tessera::signing::SecretKeys;
use tessera::store::mysql::MysqlStore;
use tessera::store::{Record, SessionStore, StoreError};
use tessera::url::{open, Sessions};

const SECRET: &str = "tessera mysql tls test secret";

/// The server binary and the data directory maker, where Debian's packages put them.
fn binaries() -> Option<(PathBuf, PathBuf)> {
    let find = |name: &str| {
        ["/usr/sbin", "/usr/bin", "/usr/local/sbin", "/usr/local/bin"]
            .iter()
            .map(|dir| Path::new(dir).join(name))
            .find(|p| p.is_file())
    };
    let found = find("mariadbd").zip(find("mariadb-install-db"));
    if found.is_none() {
        common::services::skip_or_fail(
            "mariadbd/mariadb-install-db not found (needed for the MySQL TLS tests)",
        );
    }
    found
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// A TLS-only MariaDB in a data directory of its own, killed (and its files removed) when
/// dropped, even on panic.
struct TlsMariadb {
    child: Child,
    dir: PathBuf,
    port: u16,
    pki: Pki,
}

impl TlsMariadb {
    fn start() -> Option<TlsMariadb> {
        let (mariadbd, install_db) = binaries()?;
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "tessera-mariadb-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        let pki = write_pki(&dir);
        let data = dir.join("data");
        // Small InnoDB files: the data directory is made in a few seconds and takes ~20 MB.
        let small = ["--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"];
        let user: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let install = Command::new(install_db)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args([
                "--auth-root-authentication-method=normal",
                "--skip-name-resolve",
            ])
            .args(user)
            .args(small)
            .stdin(Stdio::null())
            .output()
            .expect("mariadb-install-db runs");
        assert!(
            install.status.success(),
            "mariadb-install-db failed: {}{}",
            String::from_utf8_lossy(&install.stdout),
            String::from_utf8_lossy(&install.stderr)
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let path = |p: &Path| p.display().to_string();
        let child = Command::new(mariadbd)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(user)
            .args(small)
            .arg(format!("--port={port}"))
            .args(["--bind-address=127.0.0.1", "--skip-name-resolve"])
            .arg(format!("--socket={}", path(&dir.join("mysqld.sock"))))
            .arg(format!("--pid-file={}", path(&dir.join("mysqld.pid"))))
            .arg(format!("--log-error={}", path(&dir.join("error.log"))))
            .arg(format!("--ssl-ca={}", path(&pki.ca)))
            .arg(format!("--ssl-cert={}", path(&pki.cert)))
            .arg(format!("--ssl-key={}", path(&pki.key)))
            .arg("--require-secure-transport=ON")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("mariadbd starts");
        let mut server = TlsMariadb {
            child,
            dir,
            port,
            pki,
        };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            let log = || fs::read_to_string(server.dir.join("error.log")).unwrap_or_default();
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("mariadbd exited ({status}):\n{}", log());
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "mariadbd did not listen within 30 s:\n{}",
                log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }

    /// `mysql://root@127.0.0.1:P/test?` then `params`. `prefer_socket=false` keeps the
    /// connections on TCP (else mysql_async moves to the server's Unix socket, unencrypted).
    fn url(&self, params: &str) -> String {
        format!(
            "mysql://root@127.0.0.1:{}/test?prefer_socket=false&{params}",
            self.port
        )
    }

    /// TLS, trusting the test CA alone.
    fn tls_url(&self) -> String {
        self.url(&format!(
            "require_ssl=true&tls_ca={}",
            self.pki.ca.display()
        ))
    }
}

impl Drop for TlsMariadb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls_with_a_private_ca() {
    let _turn = crate::common::exclusive().await;
    let Some(server) = TlsMariadb::start() else {
        return;
    };
    // Through `url::open`, as an app or the CLI would.
    let url = server.tls_url();
    let sessions = open(&url, &SecretKeys::new(SECRET)).await.unwrap();
    sessions.migrate().await.unwrap();
    let Sessions::Store(store) = sessions else {
        panic!("{url} is a store");
    };
    conformance::run(store, None).await;
}

/// The store's connections are TLS ones: the server says which protocol each session uses,
/// and a plain session cannot get in at all (`--require-secure-transport`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_are_encrypted_and_verified() {
    let _turn = crate::common::exclusive().await;
    let Some(server) = TlsMariadb::start() else {
        return;
    };
    let store = MysqlStore::connect(&server.tls_url(), codec(SECRET))
        .await
        .unwrap();
    store.create_table().await.unwrap();
    let (k, data) = (key(), int_dict("n", 7));
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    assert_eq!(*store.load(&k, now()).await.unwrap().unwrap().data, data);
    // A raw connection with the options the store's URL gives (the driver re-exported).
    let url = server.url("require_ssl=true&verify_ca=false");
    let mut conn = mysql_async::Conn::new(mysql_async::Opts::from_url(&url).unwrap())
        .await
        .unwrap();
    let version: Option<(String, String)> = conn
        .query_first("SHOW SESSION STATUS LIKE 'Ssl_version'")
        .await
        .unwrap();
    let version = version.unwrap().1;
    assert!(version.starts_with("TLSv1."), "Ssl_version {version:?}");
    conn.disconnect().await.unwrap();
}

/// A plain client, a CA that did not sign the server's certificate, or only mysql_async's
/// built-in (Mozilla) roots: each fails at connect, quickly, with a store error. With
/// `verify_ca=false` (mysql_async's own, dangerous) the wrong CA is let through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_clients_and_untrusted_certificates_fail_fast() {
    let _turn = crate::common::exclusive().await;
    let Some(server) = TlsMariadb::start() else {
        return;
    };
    let other_ca = format!("tls_ca={}", server.pki.other_ca.display());
    let cases = [
        ("plain", server.url("require_ssl=false")),
        (
            "a CA that signed nothing",
            server.url(&format!("require_ssl=true&{other_ca}")),
        ),
        ("the built-in roots", server.url("require_ssl=true")),
    ];
    for (what, url) in cases {
        let started = Instant::now();
        let result = MysqlStore::connect(&url, codec(SECRET)).await;
        let took = started.elapsed();
        match result {
            Err(StoreError::Unavailable(msg)) => eprintln!("{what}: {msg} ({took:?})"),
            Err(other) => panic!("{what}: unexpected error {other:?}"),
            Ok(_) => panic!("{what}: connected"),
        }
        assert!(took < Duration::from_secs(5), "{what}: took {took:?}");
    }
    let url = server.url(&format!("require_ssl=true&{other_ca}&verify_ca=false"));
    let store = MysqlStore::connect(&url, codec(SECRET)).await.unwrap();
    store.create_table().await.unwrap();
    assert!(!store.exists(&key()).await.unwrap());
}
