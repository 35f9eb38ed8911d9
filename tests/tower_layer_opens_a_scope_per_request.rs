//! `skein::tower::ScopeLayer` around a real axum server on 127.0.0.1, called by a real
//! HTTP client: every request runs in a scope of its own, with its headers' variables
//! set before the handler runs, seen by the routines it calls, and gone with it. The
//! handlers and the checks are the ones the actix-web middleware's test runs too
//! (`tests/support/per_request.rs`).

#[path = "support/per_request.rs"]
mod per_request;

use std::future::Future;

use axum::extract::State;
use axum::routing::get;
use axum::Router;
use per_request::{Http, Shared, CLASH, REQUEST_ID};

/// Serves the shared routes under the layer, runs `check` against them, and shuts the
/// server down.
async fn with_server<F, Fut>(check: F)
where
    F: FnOnce(Http) -> Fut,
    Fut: Future<Output = ()>,
{
    let shared = Shared::new().await;
    let app = Router::new()
        .route(
            "/id",
            get(|State(s): State<Shared>| async move { per_request::id(&s).await }),
        )
        .route(
            "/together",
            get(|State(s): State<Shared>| async move { per_request::together(&s).await }),
        )
        .route("/mark", get(per_request::mark))
        .route("/read-mark", get(per_request::read_mark))
        .route("/tenant", get(per_request::tenant))
        .with_state(shared)
        .layer(
            skein::tower::ScopeLayer::new()
                .header("x-clash", &CLASH)
                .header("x-request-id", &REQUEST_ID)
                .with(per_request::tenant_from_head),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port on 127.0.0.1");
    let addr = listener.local_addr().expect("the bound address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    check(Http::new(addr)).await;
    let _ = stop.send(());
    per_request::bounded("the server's shutdown", server)
        .await
        .expect("the server task finished")
        .expect("the server stopped cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handler_and_its_routine_see_the_header() {
    with_server(|http| async move {
        per_request::the_handler_and_its_routine_see_the_header(&http).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_never_see_each_others_ids() {
    with_server(|http| async move {
        per_request::concurrent_requests_never_see_each_others_ids(&http).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_without_the_header_sees_no_value() {
    with_server(|http| async move {
        per_request::a_request_without_the_header_sees_no_value(&http).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_set_in_one_request_does_not_leak_into_the_next() {
    with_server(|http| async move {
        per_request::a_value_set_in_one_request_does_not_leak_into_the_next(&http).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_sets_any_variable_from_the_head() {
    with_server(|http| async move {
        per_request::a_closure_sets_any_variable_from_the_head(&http).await
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_set_that_fails_does_not_fail_the_request() {
    with_server(|http| async move {
        per_request::a_set_that_fails_does_not_fail_the_request(&http).await
    })
    .await;
}
