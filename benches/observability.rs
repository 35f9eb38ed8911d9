//! What skein's spans and metrics cost a call: the same `Pool::call` with nothing
//! installed, with a `tracing_subscriber` registry that records every span (no
//! output), with a Prometheus recorder, and with both, beside a bare ractor call, in
//! one run.
//!
//!     cargo bench --bench observability
//!
//! Each case runs on a runtime of its own whose threads have the subscriber and the
//! recorder (or not) as their defaults, and its pool is built there, so the handles it
//! takes come from that recorder.

use criterion::{criterion_group, criterion_main, Criterion};
use metrics_exporter_prometheus::PrometheusBuilder;
use ractor::Actor;
use skein::{Never, Pool, Routine};

mod support;
use support::{bare_calls, timed, Echo};
use tokio::runtime::Runtime;
use tracing_subscriber::layer::SubscriberExt;

struct Add;
impl Routine for Add {
    const NAME: &'static str = "bench.observability.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// What a case's runtime threads have installed.
#[derive(Clone, Copy)]
struct Installed {
    subscriber: bool,
    recorder: bool,
}

/// A two-thread runtime whose threads default to the subscriber and the recorder the
/// case asks for, and a pool built on it.
fn runtime(installed: Installed) -> (Runtime, Pool) {
    let dispatch = installed
        .subscriber
        .then(|| tracing::Dispatch::new(tracing_subscriber::registry().with(Recording)));
    // The recorder lives as long as the bench process.
    let recorder: Option<&'static metrics_exporter_prometheus::PrometheusRecorder> = installed
        .recorder
        .then(|| &*Box::leak(Box::new(PrometheusBuilder::new().build_recorder())));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .on_thread_start(move || {
            // The defaults hold for the thread's whole life: their guards are never
            // dropped.
            if let Some(dispatch) = &dispatch {
                std::mem::forget(tracing::dispatcher::set_default(dispatch));
            }
            if let Some(recorder) = recorder {
                std::mem::forget(metrics::set_default_local_recorder(recorder));
            }
        })
        .build()
        .unwrap();
    let pool = runtime.block_on(async {
        tokio::spawn(async {
            Pool::builder()
                .workers(2)
                .routine::<Add>()
                .build()
                .await
                .unwrap()
        })
        .await
        .unwrap()
    });
    (runtime, pool)
}

/// A layer that asks for every span, so the registry records them all.
struct Recording;
impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Recording {}

fn observability(c: &mut Criterion) {
    let mut group = c.benchmark_group("observability");
    group
        .sample_size(30)
        .measurement_time(std::time::Duration::from_secs(2));

    let (plain, pool) = runtime(Installed {
        subscriber: false,
        recorder: false,
    });
    let echo = plain.block_on(async { Actor::spawn(None, Echo, ()).await.unwrap().0 });
    group.bench_function("bare_ractor_call", |b| {
        b.to_async(&plain)
            .iter_custom(|iters| timed(bare_calls(echo.clone(), iters)))
    });
    let cases = [
        ("pool_call", None),
        (
            "pool_call_subscriber",
            Some(Installed {
                subscriber: true,
                recorder: false,
            }),
        ),
        (
            "pool_call_recorder",
            Some(Installed {
                subscriber: false,
                recorder: true,
            }),
        ),
        (
            "pool_call_subscriber_and_recorder",
            Some(Installed {
                subscriber: true,
                recorder: true,
            }),
        ),
    ];
    for (name, installed) in cases {
        let own = installed.map(runtime);
        let (runtime, pool) = match &own {
            Some((runtime, pool)) => (runtime, pool.clone()),
            None => (&plain, pool.clone()),
        };
        group.bench_function(name, |b| {
            b.to_async(runtime).iter_custom(|iters| {
                let pool = pool.clone();
                timed(async move {
                    for i in 0..iters {
                        pool.call::<Add>((i as i64, 2)).await.unwrap();
                    }
                })
            })
        });
    }
    group.finish();
}

criterion_group!(benches, observability);
criterion_main!(benches);
