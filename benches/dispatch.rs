//! The in-process dispatch path: `Pool::call` beside a bare ractor `call` on the same
//! runtime, sequential and with 64 in flight.
//!
//!     cargo bench --bench dispatch

use criterion::{criterion_group, criterion_main, Criterion};
use futures::future::join_all;
use ractor::Actor;
use skein::{ContextVar, Never, Pool, Routine};

mod support;
use support::{bare_calls, timed, Echo, Ping};

struct Add;
impl Routine for Add {
    const NAME: &'static str = "bench.dispatch.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

static TENANT: ContextVar<String> = ContextVar::new("bench.dispatch", "tenant");

fn dispatch(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (echo, pool) = runtime.block_on(async {
        let (echo, _) = Actor::spawn(None, Echo, ()).await.unwrap();
        let pool = Pool::builder()
            .workers(2)
            .routine::<Add>()
            .build()
            .await
            .unwrap();
        (echo, pool)
    });
    let mut group = c.benchmark_group("dispatch");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(2));

    // All iterations run in one task on a runtime worker thread, as a service's
    // handler would: a `block_on` thread would add a cross-thread wake-up to both
    // sides, and a spawn per iteration would cost more than the call.
    group.bench_function("bare_ractor_call", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| timed(bare_calls(echo.clone(), iters)))
    });
    group.bench_function("pool_call", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let pool = pool.clone();
            timed(async move {
                for i in 0..iters {
                    pool.call::<Add>((i as i64, 2)).await.unwrap();
                }
            })
        })
    });
    group.bench_function("pool_call_with_context", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let pool = pool.clone();
            timed(skein::scope(async move {
                let _token = TENANT.set("acme".to_string()).unwrap();
                for i in 0..iters {
                    pool.call::<Add>((i as i64, 2)).await.unwrap();
                }
            }))
        })
    });
    group.bench_function("bare_ractor_call_64_in_flight", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let echo = echo.clone();
            timed(async move {
                for _ in 0..iters {
                    join_all((0..64).map(|i| echo.call(move |reply| Ping(i, reply), None))).await;
                }
            })
        })
    });
    group.bench_function("pool_call_64_in_flight", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let pool = pool.clone();
            timed(async move {
                for _ in 0..iters {
                    join_all((0..64).map(|i| pool.call::<Add>((i, 1)))).await;
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
