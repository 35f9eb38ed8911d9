//! The oracle property (S38) through a real pool: any
//! strictly sequential script of set/get/reset on 1–3 variables, each op run in the
//! caller's scope, on a worker (`pool.call`, depth 1) or on a worker called from a
//! worker (`skein::call` inside a routine, depth 2), gives the same values after every
//! op and the same reset errors as the same script run in one local scope.
//!
//! The op and oracle model is `tests/support/oracle.rs`, shared with the simulated
//! dispatch test; here every hop is a real dispatch on 4 workers.

mod support;

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use skein::{ErrorMessage, Never, Pool, Routine};
use support::oracle::{self, Request, Response};
use tokio::runtime::Runtime;

/// Depth 1: the op runs on a worker.
struct OpRoutine;
impl Routine for OpRoutine {
    const NAME: &'static str = "pool_oracle.op";
    type Args = Request;
    type Output = Response;
    type Error = Never;
    async fn run(request: Request) -> Result<Response, Never> {
        Ok(oracle::here(request).await)
    }
}

/// Depth 2: a worker dispatches the op to the pool again (S40).
struct NestedOp;
impl Routine for NestedOp {
    const NAME: &'static str = "pool_oracle.nested";
    type Args = Request;
    type Output = Response;
    type Error = ErrorMessage;
    async fn run(request: Request) -> Result<Response, ErrorMessage> {
        skein::call::<OpRoutine>(request)
            .await
            .map_err(ErrorMessage::from)
    }
}

/// Runs `request` at `depth`: 0 in the caller, 1 on a worker, 2 on a worker called
/// from a worker.
fn at_depth(
    pool: &Pool,
    request: Request,
    depth: u32,
) -> Pin<Box<dyn Future<Output = Response> + '_>> {
    Box::pin(async move {
        match depth {
            0 => oracle::here(request).await,
            1 => pool
                .call::<OpRoutine>(request)
                .await
                .expect("depth-1 dispatch"),
            _ => pool
                .call::<NestedOp>(request)
                .await
                .expect("depth-2 dispatch"),
        }
    })
}

/// One runtime and one pool for every case: building them per case would dominate.
fn env() -> &'static (Runtime, Pool) {
    static ENV: OnceLock<(Runtime, Pool)> = OnceLock::new();
    ENV.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime builds");
        let pool = runtime
            .block_on(
                Pool::builder()
                    .workers(4)
                    .routine::<OpRoutine>()
                    .routine::<NestedOp>()
                    .build(),
            )
            .expect("pool builds");
        (runtime, pool)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_sequential_script_over_a_real_pool_matches_one_local_scope((vars, script) in oracle::script(3)) {
        let (runtime, pool) = env();
        let got = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), skein::scope(oracle::real(&script, vars, |request, depth| at_depth(pool, request, depth))))
                .await
                .expect("hung: a script did not finish within 10 s")
        });
        prop_assert_eq!(got, oracle::oracle(&script, vars));
    }
}
