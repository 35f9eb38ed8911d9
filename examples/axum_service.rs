//! A scope per request in an axum service: `skein::tower::ScopeLayer` sets the request
//! id from the `x-request-id` header in each request's own context, and the routine
//! the handler calls reads it on a worker. Serves on 127.0.0.1, sends two requests,
//! prints what came back, and stops.
//!
//!     cargo run --release --features tower --example axum_service

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use skein::{ContextVar, Never, Pool, Routine};

static REQUEST_ID: ContextVar<String> = ContextVar::new("axum_service", "request_id");

/// Runs on a worker, and reads the request id the caller's context carried there.
struct WhoAsks;
impl Routine for WhoAsks {
    const NAME: &'static str = "axum_service.who_asks";
    type Args = ();
    type Output = String;
    type Error = Never;
    async fn run(_: ()) -> Result<String, Never> {
        let id = REQUEST_ID.get();
        Ok(format!("the worker saw {id:?}"))
    }
}

async fn hello(State(pool): State<Pool>) -> Result<String, (StatusCode, String)> {
    let id = REQUEST_ID.get();
    let worker = pool
        .call::<WhoAsks>(())
        .await
        .map_err(|e| (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    Ok(format!("the handler saw {id:?}, {worker}"))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .workers(2)
        .routine::<WhoAsks>()
        .build()
        .await?;
    let app = Router::new()
        .route("/", get(hello))
        .with_state(pool)
        .layer(skein::tower::ScopeLayer::new().header("x-request-id", &REQUEST_ID));

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });

    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    for id in ["req-1", "req-2"] {
        let request = axum::http::Request::get(format!("http://{addr}/"))
            .header("x-request-id", id)
            .body(Empty::new())?;
        let response = client.request(request).await?;
        let body = response.into_body().collect().await?.to_bytes();
        println!("x-request-id: {id} -> {}", String::from_utf8_lossy(&body));
    }

    let _ = stop.send(());
    server.await??;
    Ok(())
}
