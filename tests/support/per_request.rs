//! One contract, two servers: the handlers, the routine and the checks that
//! `tests/tower_layer_opens_a_scope_per_request.rs` (axum) and
//! `tests/actix_middleware_opens_a_scope_per_request.rs` (actix-web) share. Each test
//! serves these handlers on 127.0.0.1 under its integration, and runs every check
//! against the real server with a real HTTP client.
//!
//! The routes each server wires up:
//!
//! | route | handler |
//! | --- | --- |
//! | `/id` | [`id`] |
//! | `/together` | [`together`] |
//! | `/mark` | [`mark`] |
//! | `/read-mark` | [`read_mark`] |
//! | `/tenant` | [`tenant`] |
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use skein::http::RequestHead;
use skein::{ContextVar, Never, Pool, Routine};

pub static REQUEST_ID: ContextVar<String> = ContextVar::new("per_request", "request_id");
pub static TENANT: ContextVar<u32> = ContextVar::new("per_request", "tenant");
pub static MARK: ContextVar<String> = ContextVar::new("per_request", "mark");
/// Declared first, so that [`CLASH`], with the same key, collides on every `set`.
pub static CLASH_OWNER: ContextVar<String> = ContextVar::new("per_request", "clash");
pub static CLASH: ContextVar<String> = ContextVar::new("per_request", "clash");

/// How many requests [`together`] holds until all of them are in their handlers.
pub const TOGETHER: usize = 8;

/// Reads the request id on the worker.
pub struct ReadRequestId;
impl Routine for ReadRequestId {
    const NAME: &'static str = "per_request.read_request_id";
    type Args = ();
    type Output = Option<String>;
    type Error = Never;
    async fn run(_: ()) -> Result<Option<String>, Never> {
        Ok(REQUEST_ID.get())
    }
}

/// What a handler has: the pool, and the barrier of [`together`].
#[derive(Clone)]
pub struct Shared {
    pub pool: Pool,
    pub barrier: Arc<tokio::sync::Barrier>,
}

impl Shared {
    pub async fn new() -> Shared {
        CLASH_OWNER
            .declare()
            .expect("the first var of the key declares it");
        let pool = Pool::builder()
            .workers(2)
            .routine::<ReadRequestId>()
            .build()
            .await
            .expect("pool builds");
        Shared {
            pool,
            barrier: Arc::new(tokio::sync::Barrier::new(TOGETHER)),
        }
    }
}

/// The closure each server's scope gets: `x-tenant: <u32>` sets [`TENANT`].
pub fn tenant_from_head(head: &RequestHead<'_>) {
    if let Some(tenant) = head.header_str("x-tenant").and_then(|t| t.parse().ok()) {
        // The token is dropped: the scope, and the value, end with the request.
        let _ = TENANT.set(tenant).expect("set inside the request's scope");
    }
}

fn id_of() -> Option<String> {
    REQUEST_ID.get()
}

/// `/id`: the id the handler sees, and the id a routine sees on a worker.
pub async fn id(shared: &Shared) -> String {
    let handler = id_of();
    let worker = shared
        .pool
        .call::<ReadRequestId>(())
        .await
        .expect("the routine answers");
    format!("{handler:?} {worker:?}")
}

/// `/together`: the id before and after every other `/together` request has reached
/// its handler too, and on a worker after that.
pub async fn together(shared: &Shared) -> String {
    let before = id_of();
    if tokio::time::timeout(Duration::from_secs(10), shared.barrier.wait())
        .await
        .is_err()
    {
        return "the other requests never arrived together with this one".into();
    }
    let after = id_of();
    let worker = shared
        .pool
        .call::<ReadRequestId>(())
        .await
        .expect("the routine answers");
    format!("{before:?} {after:?} {worker:?}")
}

/// `/mark`: sets [`MARK`] in this request and reads it back.
pub async fn mark() -> String {
    let seen_before = MARK.get();
    let _ = MARK
        .set("set by an earlier request".into())
        .expect("set inside the request's scope");
    format!("{seen_before:?} {:?}", MARK.get())
}

/// `/read-mark`: what [`MARK`] is in this request.
pub async fn read_mark() -> String {
    format!("{:?}", MARK.get())
}

/// `/tenant`: what the closure set from `x-tenant`.
pub async fn tenant() -> String {
    format!("{:?}", TENANT.get())
}

/// Fails loudly instead of hanging.
pub async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .unwrap_or_else(|_| panic!("hung: {what} did not finish within 10 s"))
}

/// A real HTTP/1 client on one server.
#[derive(Clone)]
pub struct Http {
    base: String,
    client: Client<HttpConnector, Empty<Bytes>>,
}

impl Http {
    pub fn new(addr: std::net::SocketAddr) -> Http {
        Http {
            base: format!("http://{addr}"),
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    /// GETs `path` with `headers`, asserts 200, and returns the body.
    pub async fn get(&self, path: &str, headers: &[(&str, &[u8])]) -> String {
        let mut request = http::Request::get(format!("{}{path}", self.base));
        for (name, value) in headers {
            let value = http::HeaderValue::from_bytes(value).expect("a header value");
            request = request.header(*name, value);
        }
        let request = request.body(Empty::new()).expect("a request");
        let response = bounded(&format!("GET {path}"), async {
            let response = self
                .client
                .request(request)
                .await
                .expect("the server answers");
            let status = response.status();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("the body arrives")
                .to_bytes();
            (status, String::from_utf8_lossy(&body).into_owned())
        })
        .await;
        assert_eq!(
            response.0,
            http::StatusCode::OK,
            "GET {path}: {}",
            response.1
        );
        response.1
    }
}

// The checks, each against a server that serves the routes above.

pub async fn the_handler_and_its_routine_see_the_header(http: &Http) {
    assert_eq!(
        http.get("/id", &[("x-request-id", b"r-1")]).await,
        r#"Some("r-1") Some("r-1")"#,
        "the handler, and the routine on the worker, see the header's value"
    );
    assert_eq!(
        http.get("/id", &[("X-Request-ID", b"r-2")]).await,
        r#"Some("r-2") Some("r-2")"#,
        "header names match in any case"
    );
}

pub async fn concurrent_requests_never_see_each_others_ids(http: &Http) {
    let requests = (0..TOGETHER).map(|i| {
        let http = http.clone();
        tokio::spawn(async move {
            let id = format!("r-{i}");
            let answer = http
                .get("/together", &[("x-request-id", id.as_bytes())])
                .await;
            (id, answer)
        })
    });
    for request in futures::future::join_all(requests).await {
        let (id, answer) = request.expect("the request task finished");
        assert_eq!(
            answer,
            format!("Some({id:?}) Some({id:?}) Some({id:?})"),
            "a request saw only its own id, with {TOGETHER} requests in their handlers at once"
        );
    }
}

pub async fn a_request_without_the_header_sees_no_value(http: &Http) {
    assert_eq!(
        http.get("/id", &[]).await,
        "None None",
        "no header, no value"
    );
    assert_eq!(
        http.get("/id", &[("x-request-id", b"r-\xff")]).await,
        "None None",
        "a value that is not UTF-8 leaves the var unset, and the request is served"
    );
}

pub async fn a_value_set_in_one_request_does_not_leak_into_the_next(http: &Http) {
    for round in 0..3 {
        assert_eq!(
            http.get("/mark", &[]).await,
            r#"None Some("set by an earlier request")"#,
            "round {round}: the request starts without the mark and sets it"
        );
        assert_eq!(
            http.get("/read-mark", &[]).await,
            "None",
            "round {round}: the next request, on the same connection, does not see it"
        );
        assert_eq!(
            http.get("/id", &[("x-request-id", b"r-1")]).await,
            r#"Some("r-1") Some("r-1")"#
        );
        assert_eq!(
            http.get("/id", &[]).await,
            "None None",
            "round {round}: the last request's id is gone"
        );
    }
}

pub async fn a_closure_sets_any_variable_from_the_head(http: &Http) {
    assert_eq!(
        http.get("/tenant", &[("x-tenant", b"42")]).await,
        "Some(42)"
    );
    assert_eq!(
        http.get("/tenant", &[("x-tenant", b"not a number")]).await,
        "None"
    );
    assert_eq!(http.get("/tenant", &[]).await, "None");
}

pub async fn a_set_that_fails_does_not_fail_the_request(http: &Http) {
    assert_eq!(
        http.get("/id", &[("x-clash", b"c"), ("x-request-id", b"r-9")])
            .await,
        r#"Some("r-9") Some("r-9")"#,
        "the colliding var was skipped and the rest was set"
    );
}
