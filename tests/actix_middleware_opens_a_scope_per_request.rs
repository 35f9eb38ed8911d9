//! `skein::actix::Scope` around a real actix-web server on 127.0.0.1, called by a real
//! HTTP client: every request runs in a scope of its own, with its headers' variables
//! set before the handler runs, seen by the routines it calls, and gone with it. The
//! server has one worker, so every request shares one single-threaded runtime, and
//! concurrent requests interleave on one thread. The handlers and the checks are the
//! ones the tower layer's test runs too (`tests/support/per_request.rs`).

#[path = "support/per_request.rs"]
mod per_request;

use std::future::Future;

use actix_web::{web, App, HttpServer};
use per_request::{Http, Shared, CLASH, REQUEST_ID};

/// Serves the shared routes under the middleware, runs `check` against them, and stops
/// the server.
fn with_server<F, Fut>(check: F)
where
    F: FnOnce(Http) -> Fut,
    Fut: Future<Output = ()>,
{
    actix_rt::System::new().block_on(async {
        let shared = web::Data::new(Shared::new().await);
        let scope = skein::actix::Scope::new()
            .header("x-clash", &CLASH)
            .header("x-request-id", &REQUEST_ID)
            .with(per_request::tenant_from_head);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .wrap(scope.clone())
                .route(
                    "/id",
                    web::get().to(|s: web::Data<Shared>| async move { per_request::id(&s).await }),
                )
                .route(
                    "/together",
                    web::get()
                        .to(|s: web::Data<Shared>| async move { per_request::together(&s).await }),
                )
                .route("/mark", web::get().to(per_request::mark))
                .route("/read-mark", web::get().to(per_request::read_mark))
                .route("/tenant", web::get().to(per_request::tenant))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .expect("a port on 127.0.0.1");
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let running = actix_rt::spawn(server);
        check(Http::new(addr)).await;
        per_request::bounded("the server's stop", handle.stop(true)).await;
        per_request::bounded("the server's task", running)
            .await
            .expect("the server task finished")
            .expect("the server stopped cleanly");
    });
}

#[test]
fn the_handler_and_its_routine_see_the_header() {
    with_server(|http| async move {
        per_request::the_handler_and_its_routine_see_the_header(&http).await
    });
}

#[test]
fn concurrent_requests_never_see_each_others_ids() {
    with_server(|http| async move {
        per_request::concurrent_requests_never_see_each_others_ids(&http).await
    });
}

#[test]
fn a_request_without_the_header_sees_no_value() {
    with_server(|http| async move {
        per_request::a_request_without_the_header_sees_no_value(&http).await
    });
}

#[test]
fn a_value_set_in_one_request_does_not_leak_into_the_next() {
    with_server(|http| async move {
        per_request::a_value_set_in_one_request_does_not_leak_into_the_next(&http).await
    });
}

#[test]
fn a_closure_sets_any_variable_from_the_head() {
    with_server(|http| async move {
        per_request::a_closure_sets_any_variable_from_the_head(&http).await
    });
}

#[test]
fn a_set_that_fails_does_not_fail_the_request() {
    with_server(|http| async move {
        per_request::a_set_that_fails_does_not_fail_the_request(&http).await
    });
}
