//! What routing costs a call: a plain `Pool::call` (round robin over every worker, the
//! fast path) and a bare ractor call, the baselines, beside the same call on a route (`pool.on(Route::any().tag(..))`), with
//! the `LeastInFlight` balancer, and a broadcast to every worker, all on one runtime.
//!
//!     cargo bench --bench routing

use criterion::{criterion_group, criterion_main, Criterion};
use ractor::Actor;
use skein::{LeastInFlight, Never, Pool, PoolBuilder, Route, Routine};

mod support;
use support::{bare_calls, timed, Echo};

struct Add;
impl Routine for Add {
    const NAME: &'static str = "bench.routing.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// A pool of 2 tagged workers, as every case uses.
fn pool() -> PoolBuilder {
    Pool::builder().workers(2).tag("bench").routine::<Add>()
}

/// Runs `iters` sequential calls of `Add` on `pool`.
async fn calls(pool: Pool, iters: u64) {
    for i in 0..iters {
        pool.call::<Add>((i as i64, 2)).await.unwrap();
    }
}

fn routing(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let (echo, plain, least) = runtime.block_on(async {
        let (echo, _) = Actor::spawn(None, Echo, ()).await.unwrap();
        let plain = pool().build().await.unwrap();
        let least = pool().balancer(LeastInFlight::new()).build().await.unwrap();
        (echo, plain, least)
    });
    let routed = plain.on(Route::any().tag("bench"));
    let mut group = c.benchmark_group("routing");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(2));

    // As in the dispatch bench: every iteration in one task on a runtime thread.
    group.bench_function("bare_ractor_call", |b| {
        b.to_async(&runtime)
            .iter_custom(|iters| timed(bare_calls(echo.clone(), iters)))
    });
    for (name, pool) in [
        ("pool_call", &plain),
        ("pool_call_routed_by_tag", &routed),
        ("pool_call_least_in_flight", &least),
    ] {
        group.bench_function(name, |b| {
            b.to_async(&runtime)
                .iter_custom(|iters| timed(calls(pool.clone(), iters)))
        });
    }
    group.bench_function("broadcast_to_2_workers", |b| {
        b.to_async(&runtime).iter_custom(|iters| {
            let pool = plain.clone();
            timed(async move {
                for i in 0..iters {
                    pool.broadcast::<Add>((i as i64, 2)).await.unwrap();
                }
            })
        })
    });
    group.finish();
}

criterion_group!(benches, routing);
criterion_main!(benches);
