//! The oracle property across processes (S38, S80): each op of
//! a script runs at the caller, on worker process B, on worker process C, or one hop
//! further through a nested call made on B or C (which lands wherever that process's
//! pool routes it), and the values after every op and the reset errors equal the same
//! script run in one local scope.

use std::time::Duration;

use proptest::test_runner::{Config, TestCaseError, TestRunner};
use ractor::ActorRef;
use skein::actors::WorkerMsg;
use skein::{ErrorMessage, Routine};

use crate::oracle_model::{self as model, Request, Response};
use crate::support;

/// Runs an op here after `hops` more nested calls through the pool of the process it
/// runs in.
pub struct OracleStep;
impl Routine for OracleStep {
    const NAME: &'static str = "cluster.oracle_step";
    type Args = (Request, u32);
    type Output = Response;
    type Error = ErrorMessage;
    async fn run((request, hops): (Request, u32)) -> Result<Response, ErrorMessage> {
        if hops == 0 {
            return Ok(model::here(request).await);
        }
        skein::call::<OracleStep>((request, hops - 1))
            .await
            .map_err(ErrorMessage::from)
    }
}

/// Where site `site` runs an op: 0 here, 1–2 on worker process B or C, 3–4 on B or C
/// and then one nested hop further.
async fn at_site(workers: &[ActorRef<WorkerMsg>], request: Request, site: u32) -> Response {
    if site == 0 {
        return model::here(request).await;
    }
    let worker = &workers[(site as usize - 1) % 2];
    let hops = if site >= 3 { 1 } else { 0 };
    support::dispatch::<OracleStep>(worker, (request, hops))
        .await
        .unwrap_or_else(|e| panic!("site {site}: {e}"))
}

pub async fn any_script_across_processes_matches_one_local_scope() {
    let pool = support::process_pool(2).await;
    // A token minted in one worker process is spent in the other: they must have met.
    support::siblings_meet(&pool).await;
    let workers: Vec<ActorRef<WorkerMsg>> = support::children(&pool)
        .await
        .into_iter()
        .map(|w| w.worker)
        .collect();
    assert_eq!(workers.len(), 2);
    let handle = tokio::runtime::Handle::current();
    // proptest's runner is synchronous: it runs on a blocking thread, and each case
    // goes back to the runtime.
    let result = tokio::task::spawn_blocking(move || {
        let mut runner = TestRunner::new(Config::with_cases(300));
        runner
            .run(&model::script(5), |(vars, script)| {
                let got = handle.block_on(async {
                    tokio::time::timeout(
                        Duration::from_secs(20),
                        tokio::spawn({
                            let workers = workers.clone();
                            let script = script.clone();
                            skein::scope(async move {
                                model::real(&script, vars, |request, site| {
                                    at_site(&workers, request, site)
                                })
                                .await
                            })
                        }),
                    )
                    .await
                    .expect("hung: a script did not finish within 20 s")
                    .expect("the script's task")
                });
                let want = model::oracle(&script, vars);
                if got == want {
                    Ok(())
                } else {
                    Err(TestCaseError::fail(format!(
                        "script {script:?}\n got  {got:?}\n want {want:?}"
                    )))
                }
            })
            .map_err(|e| e.to_string())
    })
    .await
    .expect("the proptest runner");
    if let Err(e) = result {
        panic!("{e}");
    }
    drop(pool);
}
