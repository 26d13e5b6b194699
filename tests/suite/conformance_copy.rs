//! The vectors in `tests/conformance/` must be byte-identical to the shared conformance folder
//! whenever that folder can be found, so a stale copy can never pass unnoticed.
//!
//! The folder is `$TESSERA_SHARED_DIR/conformance`, or `shared/conformance` beside the clone or
//! beside any folder above it. A fresh clone tests without it (the copies are what the other
//! tests read), so its absence is a loud note, not a failure.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

fn shared_conformance(root: &Path) -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("TESSERA_SHARED_DIR") {
        let dir = PathBuf::from(dir).join("conformance");
        assert!(
            dir.is_dir(),
            "TESSERA_SHARED_DIR has no conformance folder: {}",
            dir.display()
        );
        return Some(dir);
    }
    root.ancestors()
        .skip(1)
        .map(|up| up.join("shared/conformance"))
        .find(|dir| dir.join("DJANGO_SPEC.md").is_file())
}

fn file_names(dir: &Path) -> BTreeSet<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn vector_copies_match_shared() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let Some(shared) = shared_conformance(&root) else {
        eprintln!(
            "\n!!!!!!!! NOT CHECKED: no shared/conformance folder beside the clone or above it \
             (set TESSERA_SHARED_DIR); the vector copies were not compared !!!!!!!!\n"
        );
        return;
    };
    let ours_dir = root.join("tests/conformance/django");
    let (theirs, ours) = (file_names(&shared.join("django")), file_names(&ours_dir));
    assert_eq!(
        ours, theirs,
        "the copied vector files are not the shared ones"
    );
    for name in &theirs {
        let want = std::fs::read(shared.join("django").join(name)).unwrap();
        let got = std::fs::read(ours_dir.join(name)).unwrap();
        assert!(got == want, "{name} differs from {}", shared.display());
    }
    assert!(
        theirs.len() >= 19,
        "only {} vector files compared",
        theirs.len()
    );
    let spec = std::fs::read(shared.join("DJANGO_SPEC.md")).unwrap();
    assert_eq!(
        std::fs::read(root.join("tests/conformance/DJANGO_SPEC.md")).unwrap(),
        spec,
        "DJANGO_SPEC.md differs from the shared one"
    );
}
