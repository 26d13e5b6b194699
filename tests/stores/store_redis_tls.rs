//! The Redis store over TLS (`rediss…`, the `redis-tls` feature) against private
//! `redis-server`s this file starts with TLS only (`--port 0 --tls-port P`) on free loopback
//! ports, their CA and certificate made at test time: one server, a 3-master Cluster, and a
//! master behind a Sentinel.
#![cfg(feature = "redis-tls")]

use std::fs;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use crate::store_redis::{free_ports, have_redis_binaries, wait_until, Servers};

use common::fixtures::{codec, int_dict, key, now};
use common::tls::{write_pki, Pki};
use tessera::conformance;
use tessera::signing::SecretKeys;
use tessera::store::redis::RedisStore;
use tessera::store::{Record, SessionStore, StoreError};
use tessera::url::{open, Sessions};

const SECRET: &str = "tessera redis tls test secret";

/// A TLS-only redis-server, stopped (and its files removed) when dropped.
struct TlsRedis {
    /// Kept for its `Drop`, which stops the server.
    _servers: Servers,
    port: u16,
    pki: Pki,
}

impl TlsRedis {
    fn start() -> Option<TlsRedis> {
        if !have_redis_binaries() {
            return None;
        }
        let mut servers = Servers::new("tls");
        let pki = write_pki(&servers.dir);
        let port = free_ports(1)[0];
        start_tls(&mut servers, &pki, port, &[]);
        Some(TlsRedis {
            _servers: servers,
            port,
            pki,
        })
    }

    /// `rediss://127.0.0.1:P` with `params`.
    fn url(&self, params: &str) -> String {
        format!("rediss://127.0.0.1:{}{params}", self.port)
    }

    fn trusted_url(&self) -> String {
        self.url(&format!("/0?tls_ca={}", self.pki.ca.display()))
    }
}

/// Starts `redis-server [config] <extra>` listening on `port` with TLS only, and waits until
/// it answers PING over TLS.
fn start_tls(servers: &mut Servers, pki: &Pki, port: u16, extra: &[&str]) {
    start_tls_with(servers, pki, port, None, extra);
}

fn start_tls_with(
    servers: &mut Servers,
    pki: &Pki,
    port: u16,
    config: Option<std::path::PathBuf>,
    extra: &[&str],
) {
    let (cert, key, ca) = (
        pki.cert.display().to_string(),
        pki.key.display().to_string(),
        pki.ca.display().to_string(),
    );
    let port_arg = port.to_string();
    let tls = [
        "--port",
        "0",
        "--tls-port",
        &port_arg,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-ca-cert-file",
        &ca,
        "--tls-auth-clients",
        "no",
    ];
    let args = [&tls[..], extra].concat();
    servers.spawn(port, config, &args, || {
        tls_cli(port, pki, &["PING"]).trim() == "PONG"
    });
}

/// `redis-cli --tls -p port args…` trusting the test CA, its stdout (empty on failure).
fn tls_cli(port: u16, pki: &Pki, args: &[&str]) -> String {
    Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(&pki.ca)
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_over_tls_with_a_private_ca() {
    let _turn = crate::common::exclusive().await;
    let Some(redis) = TlsRedis::start() else {
        return;
    };
    // Through `url::open`, as an app or the CLI would.
    let url = redis.trusted_url();
    let Sessions::Store(store) = open(&url, &SecretKeys::new(SECRET)).await.unwrap() else {
        panic!("{url} is a store");
    };
    conformance::run(store, None).await;
    // The topology a cached_db URL names is checked by its own rules too.
    let cached = format!("cached+{url}&db=memory://");
    assert!(open(&cached, &SecretKeys::new(SECRET)).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_builder_connects_over_tls_and_a_record_round_trips() {
    let _turn = crate::common::exclusive().await;
    let Some(redis) = TlsRedis::start() else {
        return;
    };
    let store = RedisStore::builder(redis.trusted_url(), codec(SECRET))
        .prefix("tls:")
        .connect()
        .await
        .unwrap();
    let (k, data) = (key(), int_dict("n", 7));
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    let loaded = store.load(&k, now()).await.unwrap().expect("stored");
    assert_eq!(*loaded.data, data);
    assert!(store.exists(&k).await.unwrap());
    store.delete(&k).await.unwrap();
    assert!(!store.exists(&k).await.unwrap());
}

/// A plain `redis://` client on the TLS port, a CA that did not sign the server's
/// certificate, or the system's roots (which do not hold the test CA): each fails at
/// connect, quickly, with a store error (and nothing hangs until the call timeout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_clients_and_untrusted_certificates_fail_fast() {
    let _turn = crate::common::exclusive().await;
    let Some(redis) = TlsRedis::start() else {
        return;
    };
    let other_ca = format!("/0?tls_ca={}", redis.pki.other_ca.display());
    let cases = [
        (
            "plain redis:// on the TLS port",
            format!("redis://127.0.0.1:{}", redis.port),
        ),
        ("a CA that signed nothing", redis.url(&other_ca)),
        ("the system's roots", redis.url("/0")),
    ];
    for (what, url) in cases {
        let started = Instant::now();
        let result = RedisStore::builder(&url, codec(SECRET))
            .connect_timeout(Duration::from_millis(500))
            .response_timeout(Duration::from_millis(500))
            .connect()
            .await;
        let took = started.elapsed();
        match result {
            Err(StoreError::Unavailable(msg)) | Err(StoreError::Config(msg)) => {
                eprintln!("{what}: {msg} ({took:?})");
            }
            Err(StoreError::Timeout(t)) => eprintln!("{what}: timeout {t:?} ({took:?})"),
            Err(other) => panic!("{what}: unexpected error {other:?}"),
            Ok(_) => panic!("{what}: connected"),
        }
        assert!(took < Duration::from_secs(3), "{what}: took {took:?}");
    }
    // The server is fine all along.
    let store = RedisStore::connect(&redis.trusted_url(), codec(SECRET))
        .await
        .unwrap();
    assert!(!store.exists(&key()).await.unwrap());
}

/// `tls_ca=` is read when the URL is: a missing file is a configuration error at startup,
/// and `tls_ca=` on a plain `redis://` URL is an unknown parameter.
#[tokio::test]
async fn tls_ca_is_checked_at_startup() {
    let _turn = crate::common::exclusive().await;
    let keys = SecretKeys::new(SECRET);
    for (url, says) in [
        (
            "rediss://127.0.0.1:1?tls_ca=/nonexistent/ca.pem",
            "tls_ca=/nonexistent/ca.pem: cannot read it",
        ),
        (
            "redis://127.0.0.1:1?tls_ca=/etc/ssl/certs/ca-certificates.crt",
            "unknown parameter \"tls_ca\" for redis://",
        ),
    ] {
        match open(url, &keys).await {
            Err(StoreError::Config(msg)) => assert!(msg.contains(says), "{url}: {msg}"),
            other => panic!("{url}: {other:?}"),
        }
    }
}

/// `rediss+cluster://`: three TLS-only masters (the cluster bus over TLS too), the suite
/// over them, and the sessions really spread over the three.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_on_a_tls_cluster() {
    let _turn = crate::common::exclusive().await;
    if !have_redis_binaries() {
        return;
    }
    let ports = free_ports(3);
    let mut servers = Servers::new("tls-cluster");
    let pki = write_pki(&servers.dir);
    for &p in &ports {
        let conf = servers.dir.join(format!("nodes-{p}.conf"));
        let conf = conf.display().to_string();
        let cluster = ["--tls-cluster", "yes", "--cluster-enabled", "yes"];
        let args = [&cluster[..], &["--cluster-config-file", &conf]].concat();
        start_tls(&mut servers, &pki, p, &args);
    }
    let nodes: Vec<String> = ports.iter().map(|p| format!("127.0.0.1:{p}")).collect();
    let out = Command::new("redis-cli")
        .arg("--tls")
        .arg("--cacert")
        .arg(&pki.ca)
        .args(["--cluster", "create"])
        .args(&nodes)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    for &p in &ports {
        wait_until(Duration::from_secs(10), "cluster_state:ok", || {
            tls_cli(p, &pki, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        });
    }

    let url = format!(
        "rediss+cluster://{}?tls_ca={}",
        nodes.join(","),
        pki.ca.display()
    );
    let store = RedisStore::connect(&url, codec(SECRET)).await.unwrap();
    let store: Arc<dyn SessionStore> = Arc::new(store);
    conformance::run(store.clone(), None).await;
    let keys: Vec<_> = (0..30).map(|_| key()).collect();
    let data = int_dict("n", 1);
    for k in &keys {
        let record = Record {
            data: &data,
            expires_at: now() + 60.0,
            now: tessera::time::now(),
        };
        store.create(k, record).await.unwrap();
    }
    for &p in &ports {
        let n: usize = tls_cli(p, &pki, &["DBSIZE"]).trim().parse().unwrap();
        assert!(n > 0, "master {p} holds no session");
    }
    for k in &keys {
        assert!(store.load(k, now()).await.unwrap().is_some());
        store.delete(k).await.unwrap();
    }
}

/// `rediss+sentinel://`: a TLS-only Sentinel (which reaches the master over TLS too,
/// `tls-replication yes`) names a TLS-only master; the store asks the Sentinel over TLS and
/// runs the suite on the master over TLS.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_through_a_tls_sentinel() {
    let _turn = crate::common::exclusive().await;
    if !have_redis_binaries() {
        return;
    }
    let [master, sentinel] = <[u16; 2]>::try_from(free_ports(2)).unwrap();
    let mut servers = Servers::new("tls-sentinel");
    let pki = write_pki(&servers.dir);
    start_tls(&mut servers, &pki, master, &[]);
    let conf = servers.dir.join("sentinel.conf");
    fs::write(
        &conf,
        format!("sentinel monitor mymaster 127.0.0.1 {master} 1\n"),
    )
    .unwrap();
    let extra = ["--sentinel", "--tls-replication", "yes"];
    start_tls_with(&mut servers, &pki, sentinel, Some(conf), &extra);
    wait_until(
        Duration::from_secs(10),
        "the sentinel sees the master",
        || {
            let info = tls_cli(sentinel, &pki, &["SENTINEL", "MASTER", "mymaster"]);
            info.contains("master") && !info.contains("s_down")
        },
    );

    let url = format!(
        "rediss+sentinel://127.0.0.1:{sentinel}/mymaster?tls_ca={}",
        pki.ca.display()
    );
    let store = Arc::new(RedisStore::connect(&url, codec(SECRET)).await.unwrap());
    conformance::run(store.clone(), None).await;
    let k = key();
    let data = int_dict("n", 2);
    let record = Record {
        data: &data,
        expires_at: now() + 60.0,
        now: tessera::time::now(),
    };
    store.create(&k, record).await.unwrap();
    let on_master = tls_cli(master, &pki, &["EXISTS", &store.redis_key(&k)]);
    assert_eq!(on_master.trim(), "1", "the session is on the master");
    // A plain redis+sentinel:// URL cannot reach the TLS-only Sentinel.
    let plain = format!("redis+sentinel://127.0.0.1:{sentinel}/mymaster");
    let started = Instant::now();
    let refused = RedisStore::builder(&plain, codec(SECRET))
        .connect_timeout(Duration::from_millis(500))
        .connect()
        .await;
    assert!(refused.is_err(), "a plain client reached the TLS Sentinel");
    assert!(started.elapsed() < Duration::from_secs(5));
}
