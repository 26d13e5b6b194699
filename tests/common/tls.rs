//! Throwaway certificates for the TLS store tests, made at test time: a CA, a server
//! certificate it signs for 127.0.0.1 and localhost, and a second CA that signed nothing.

use std::fs;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

/// The PEM files [`write_pki`] makes.
pub struct Pki {
    /// The CA that signed the server certificate.
    pub ca: PathBuf,
    /// The server's certificate (for 127.0.0.1 and localhost) and its key.
    pub cert: PathBuf,
    pub key: PathBuf,
    /// A CA that did not sign it: trusting only this one must refuse the server.
    pub other_ca: PathBuf,
}

fn ca(name: &str) -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
}

/// Writes `ca.pem`, `server.pem`, `server.key` and `other-ca.pem` into `dir`.
pub fn write_pki(dir: &Path) -> Pki {
    let issuer = ca("tessera test CA");
    let key = KeyPair::generate().unwrap();
    let mut params =
        CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "tessera test server");
    let cert = params.signed_by(&key, &issuer).unwrap();
    let pki = Pki {
        ca: dir.join("ca.pem"),
        cert: dir.join("server.pem"),
        key: dir.join("server.key"),
        other_ca: dir.join("other-ca.pem"),
    };
    fs::create_dir_all(dir).unwrap();
    fs::write(&pki.ca, issuer.pem()).unwrap();
    fs::write(&pki.cert, cert.pem()).unwrap();
    fs::write(&pki.key, key.serialize_pem()).unwrap();
    fs::write(&pki.other_ca, ca("tessera other CA").pem()).unwrap();
    pki
}
