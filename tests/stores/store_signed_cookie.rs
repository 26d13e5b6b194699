//! Django's `signed_cookies` backend runs the shared session-level conformance suite; what
//! cannot apply to a backend without server state is skipped, each part with its reason.

use std::sync::Arc;

use tessera::backend::cookie::SignedCookieSessions;
use tessera::conformance;
use tessera::signing::SecretKeys;

#[tokio::test]
async fn the_signed_cookie_backend_passes_the_shared_suite() {
    let backend = Arc::new(SignedCookieSessions::new(&SecretKeys::new("conformance")).unwrap());
    let skipped = conformance::run_backend(backend).await;
    let names: Vec<&str> = skipped.iter().map(|s| s.check).collect();
    assert_eq!(
        names,
        [
            "flush_and_cycle_key_revoke_the_old_cookie",
            "concurrent_requests_lose_nothing",
            "a_logout_is_never_undone"
        ]
    );
    assert!(skipped.iter().all(|s| s.reason.contains("server state")));
}
