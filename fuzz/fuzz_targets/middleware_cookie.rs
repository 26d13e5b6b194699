//! The session middleware fed arbitrary `Cookie` headers: it must never panic, and a request
//! whose cookie names no stored session must never write to the store.
#![no_main]

use std::future::{ready, Ready};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use http::{Request, Response};
use libfuzzer_sys::fuzz_target;
use tessera::store::memory::MemoryStore;
use tessera::{Session, SessionConfig, SessionLayer};
use tower_layer::Layer;
use tower_service::Service;

/// Hands the request's session to the test, which reads and writes it.
#[derive(Clone)]
struct Echo;

impl Service<Request<()>> for Echo {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = Ready<Result<Response<String>, Self::Error>>;
    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }
    fn call(&mut self, req: Request<()>) -> Self::Future {
        let session = req.extensions().get::<Session>().cloned();
        let mut resp = Response::new(String::new());
        resp.extensions_mut().insert(session);
        ready(Ok(resp))
    }
}

fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap())
}

fuzz_target!(|data: &[u8]| {
    let store = Arc::new(MemoryStore::new());
    let layer = SessionLayer::new(store.clone(), SessionConfig::default())
        .expect("the default settings are valid");
    let mut service = layer.layer(Echo);
    let Ok(header) = http::HeaderValue::from_bytes(data) else {
        return;
    };
    let req = Request::builder().header(http::header::COOKIE, header).body(()).unwrap();
    runtime().block_on(async {
        let resp = service.call(req).await.unwrap();
        if let Some(Some(session)) = resp.extensions().get::<Option<Session>>() {
            let _ = session.get_value("k").await;
        }
        assert!(store.is_empty(), "reading an unknown session wrote to the store");
        for v in resp.headers().get_all(http::header::SET_COOKIE) {
            assert!(!v.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n'));
        }
    });
});
