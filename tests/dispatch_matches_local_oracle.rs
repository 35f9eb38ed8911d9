//! The oracle property (S38): any strictly sequential script of
//! set/get/reset on 1–3 variables, each op run in the caller's scope or inside a
//! simulated dispatch nested up to 2 deep (site = depth), gives the same values after
//! every op and the same reset errors as the same script run in one local scope.

mod support;

use std::future::Future;
use std::pin::Pin;

use proptest::prelude::*;
use support::oracle::{self, Request, Response};

/// Runs `request` `depth` dispatches away, each one simulated step by step.
fn at_depth(request: Request, depth: u32) -> Pin<Box<dyn Future<Output = Response>>> {
    Box::pin(async move {
        if depth == 0 {
            return oracle::here(request).await;
        }
        support::dispatch(request, |request| at_depth(request, depth - 1)).await
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_sequential_script_matches_one_local_scope((vars, script) in oracle::script(3)) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(skein::scope(oracle::real(&script, vars, at_depth)));
        prop_assert_eq!(got, oracle::oracle(&script, vars));
    }
}
