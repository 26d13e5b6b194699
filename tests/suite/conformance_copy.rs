//! The vectors in `tests/conformance/` must be byte-identical to `../shared/conformance/`
//! whenever that folder exists beside the clone, so a stale copy can never pass unnoticed.

use std::path::PathBuf;

#[test]
fn vector_copies_match_shared() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let shared = root.join("../shared/conformance");
    if !shared.exists() {
        eprintln!("NOTE: ../shared/conformance not found; copy check skipped");
        return;
    }
    let mut compared = 0;
    for entry in std::fs::read_dir(shared.join("django")).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_owned();
        let ours = root.join("tests/conformance/django").join(&name);
        let want = std::fs::read(&path).unwrap();
        let got = std::fs::read(&ours).unwrap_or_else(|e| panic!("{}: {e}", ours.display()));
        assert!(got == want, "{} differs from ../shared", ours.display());
        compared += 1;
    }
    let spec = std::fs::read(shared.join("DJANGO_SPEC.md")).unwrap();
    assert_eq!(
        std::fs::read(root.join("tests/conformance/DJANGO_SPEC.md")).unwrap(),
        spec,
        "DJANGO_SPEC.md differs from ../shared"
    );
    assert!(compared >= 15, "only {compared} vector files compared");
}
