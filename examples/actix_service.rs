//! A scope per request in an actix-web service: the `skein::actix::Scope` middleware
//! sets the request id from the `x-request-id` header in each request's own context,
//! and the routine the handler calls reads it on a worker. Serves on 127.0.0.1, sends
//! two requests, prints what came back, and stops.
//!
//!     cargo run --release --features actix --example actix_service

use actix_web::{web, App, HttpResponse, HttpServer};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use skein::{ContextVar, Never, Pool, Routine};

static REQUEST_ID: ContextVar<String> = ContextVar::new("actix_service", "request_id");

/// Runs on a worker, and reads the request id the caller's context carried there.
struct WhoAsks;
impl Routine for WhoAsks {
    const NAME: &'static str = "actix_service.who_asks";
    type Args = ();
    type Output = String;
    type Error = Never;
    async fn run(_: ()) -> Result<String, Never> {
        let id = REQUEST_ID.get();
        Ok(format!("the worker saw {id:?}"))
    }
}

async fn hello(pool: web::Data<Pool>) -> HttpResponse {
    let id = REQUEST_ID.get();
    match pool.call::<WhoAsks>(()).await {
        Ok(worker) => HttpResponse::Ok().body(format!("the handler saw {id:?}, {worker}")),
        Err(e) => HttpResponse::InternalServerError().body(e.to_string()),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    actix_rt::System::new().block_on(async {
        let pool = web::Data::new(
            Pool::builder()
                .workers(2)
                .routine::<WhoAsks>()
                .build()
                .await?,
        );
        let server = HttpServer::new(move || {
            App::new()
                .app_data(pool.clone())
                .wrap(skein::actix::Scope::new().header("x-request-id", &REQUEST_ID))
                .route("/", web::get().to(hello))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))?;
        let addr = server.addrs()[0];
        let server = server.run();
        let handle = server.handle();
        let running = actix_rt::spawn(server);

        let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
        for id in ["req-1", "req-2"] {
            let request = http::Request::get(format!("http://{addr}/"))
                .header("x-request-id", id)
                .body(Empty::new())?;
            let response = client.request(request).await?;
            let body = response.into_body().collect().await?.to_bytes();
            println!("x-request-id: {id} -> {}", String::from_utf8_lossy(&body));
        }

        handle.stop(true).await;
        running.await??;
        Ok(())
    })
}
