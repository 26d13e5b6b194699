//! TLS for the Redis and MySQL stores: the `tls_ca=` parameter both take, the error for a URL
//! that asks for TLS in a build without it, and how a `rediss` URL's settings reach redis-rs.
//!
//! One stack for both drivers: rustls with the ring provider (the `redis-tls` and `mysql-tls`
//! features; docs/stores.md says why).

#[cfg(feature = "redis")]
use redis::{
    cluster::ClusterClientBuilder, sentinel::SentinelClientBuilder, Client, ConnectionAddr,
    ConnectionInfo, RedisResult,
};

#[cfg(feature = "redis")]
use super::url::StoreUrl;
use super::StoreError;

/// The parameter naming a PEM file of the CA certificates to trust, for a private CA.
pub(crate) const TLS_CA: &str = "tls_ca";

/// The error for a URL that asks for TLS (`what`) when tessera's `feature` is off.
#[cfg(any(
    all(feature = "redis", not(feature = "redis-tls")),
    all(feature = "mysql", not(feature = "mysql-tls"))
))]
pub(crate) fn not_built(what: &str, feature: &str) -> StoreError {
    StoreError::Config(format!(
        "{what} asks for TLS, which this build lacks: turn on tessera's \"{feature}\" cargo feature"
    ))
}

/// The PEM text of `tls_ca=`'s file, checked to hold at least one certificate, so that a wrong
/// path or file is reported at startup rather than as a failed handshake.
#[cfg(any(feature = "redis-tls", feature = "mysql-tls"))]
pub(crate) fn read_ca(path: &str) -> Result<Vec<u8>, StoreError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;

    let fail = |why: String| StoreError::Config(format!("{TLS_CA}={path}: {why}"));
    let pem = std::fs::read(path).map_err(|e| fail(format!("cannot read it: {e}")))?;
    let mut certs = 0;
    for cert in CertificateDer::pem_slice_iter(&pem) {
        cert.map_err(|e| fail(format!("bad PEM: {e}")))?;
        certs += 1;
    }
    if certs == 0 {
        return Err(fail("no PEM certificate in it".to_owned()));
    }
    Ok(pem)
}

/// A `rediss` URL's TLS settings, applied to each topology's client.
#[cfg(feature = "redis")]
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct RedisTls {
    /// The PEM of `tls_ca=`, trusted instead of the system's roots.
    #[cfg_attr(not(feature = "redis-tls"), allow(dead_code))]
    pub(crate) ca_pem: Option<Vec<u8>>,
}

#[cfg(feature = "redis")]
impl std::fmt::Debug for RedisTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTls")
            .field("tls_ca", &self.ca_pem.as_ref().map(|_| "…"))
            .finish()
    }
}

#[cfg(feature = "redis")]
impl RedisTls {
    /// The settings of a `rediss` URL, taking its `tls_ca=`.
    pub(crate) fn from_url(url: &mut StoreUrl<'_>) -> Result<RedisTls, StoreError> {
        #[cfg(feature = "redis-tls")]
        {
            let ca_pem = url.take(TLS_CA);
            Ok(RedisTls {
                ca_pem: ca_pem.as_deref().map(read_ca).transpose()?,
            })
        }
        #[cfg(not(feature = "redis-tls"))]
        Err(not_built(&format!("{}://", url.scheme), "redis-tls"))
    }

    /// The address of `host:port`, over TLS when `tls` is given.
    pub(crate) fn addr(tls: Option<&RedisTls>, host: &str, port: u16) -> ConnectionAddr {
        match tls {
            None => ConnectionAddr::Tcp(host.to_owned(), port),
            Some(_) => ConnectionAddr::TcpTls {
                host: host.to_owned(),
                port,
                insecure: false,
                tls_params: None,
            },
        }
    }

    /// redis-rs's form of `tls_ca=` (none: the system's roots).
    #[cfg(feature = "redis-tls")]
    fn certificates(tls: Option<&RedisTls>) -> Option<redis::TlsCertificates> {
        let ca_pem = tls?.ca_pem.clone()?;
        Some(redis::TlsCertificates {
            client_tls: None,
            root_cert: Some(ca_pem),
        })
    }

    /// A client for one server (`info` from [`addr`](Self::addr)).
    pub(crate) fn client(tls: Option<&RedisTls>, info: ConnectionInfo) -> RedisResult<Client> {
        #[cfg(feature = "redis-tls")]
        if let Some(certs) = Self::certificates(tls) {
            return Client::build_with_tls(info, certs);
        }
        let _ = tls;
        Client::open(info)
    }

    /// A cluster client's builder, its nodes from [`addr`](Self::addr).
    pub(crate) fn cluster(
        tls: Option<&RedisTls>,
        builder: ClusterClientBuilder,
    ) -> ClusterClientBuilder {
        #[cfg(feature = "redis-tls")]
        if let Some(certs) = Self::certificates(tls) {
            return builder.certs(certs);
        }
        let _ = tls;
        builder
    }

    /// A Sentinel client's builder, the Sentinels' addresses from [`addr`](Self::addr):
    /// with TLS, both the Sentinels and the master are reached over it, trusting the same
    /// roots.
    pub(crate) fn sentinel(
        tls: Option<&RedisTls>,
        builder: SentinelClientBuilder,
    ) -> SentinelClientBuilder {
        let Some(_) = tls else { return builder };
        let builder = builder.set_client_to_redis_tls_mode(redis::TlsMode::Secure);
        #[cfg(feature = "redis-tls")]
        if let Some(certs) = Self::certificates(tls) {
            return builder
                .set_client_to_sentinel_certificates(certs.clone())
                .set_client_to_redis_certificates(certs);
        }
        builder
    }
}

/// A CA certificate in a PEM file of its own, for a test; its folder goes when it is dropped.
#[cfg(all(test, any(feature = "redis-tls", feature = "mysql-tls")))]
pub(crate) struct TestCa {
    pub(crate) path: std::path::PathBuf,
    pub(crate) pem: String,
}

#[cfg(all(test, any(feature = "redis-tls", feature = "mysql-tls")))]
impl Drop for TestCa {
    fn drop(&mut self) {
        if let Some(dir) = self.path.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// Makes a [`TestCa`] in a folder named after `name` and this process.
#[cfg(all(test, any(feature = "redis-tls", feature = "mysql-tls")))]
pub(crate) fn test_ca_file(name: &str) -> TestCa {
    let ca = rcgen::generate_simple_self_signed(vec!["tessera test CA".to_owned()]).unwrap();
    let pem = ca.cert.pem();
    let dir = std::env::temp_dir().join(format!("tessera-tls-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("ca.pem");
    std::fs::write(&path, &pem).unwrap();
    TestCa { path, pem }
}

#[cfg(all(test, any(feature = "redis-tls", feature = "mysql-tls")))]
mod tests {
    use super::*;

    #[test]
    fn tls_ca_must_be_a_readable_pem_file_with_a_certificate() {
        let ca = test_ca_file("read-ca");
        assert_eq!(
            read_ca(ca.path.to_str().unwrap()).unwrap(),
            ca.pem.as_bytes()
        );
        let dir = ca.path.parent().unwrap();
        let key_only = dir.join("key-only.pem");
        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&key_only, key.serialize_pem()).unwrap();
        let broken = dir.join("broken.pem");
        std::fs::write(&broken, "-----BEGIN CERTIFICATE-----\nnot base64!\n").unwrap();
        for (file, why) in [
            (dir.join("missing.pem"), "cannot read it"),
            (key_only, "no PEM certificate in it"),
            (broken, "bad PEM"),
        ] {
            let path = file.to_str().unwrap();
            let Err(StoreError::Config(msg)) = read_ca(path) else {
                panic!("{path} read");
            };
            assert!(msg.starts_with(&format!("tls_ca={path}: {why}")), "{msg}");
        }
    }
}
