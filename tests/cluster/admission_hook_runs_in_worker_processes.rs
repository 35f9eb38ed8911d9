//! A pool's admission hook on worker processes (S124): each worker process builds its
//! pool from the same builder function as the parent (`routines()`, which installs
//! [`hook`]), so the hook runs there, on the worker, and reads the caller's context
//! value that travelled with the call. A call it rejects spends nothing, across
//! processes too.

use std::collections::BTreeSet;

use skein::{AdmissionRequest, ContextVar, DispatchError, Routine, Verdict};

use crate::support::{children, process_pool, within, BOUND};
use crate::{Pid, ResetHere, RESET_OK, V};

/// The tenant a caller sets; the hook reads it where the call lands.
pub static TENANT: ContextVar<String> = ContextVar::new("cluster.admission", "tenant");

/// The hook every pool of this binary installs: a tenant whose name starts with
/// "blocked" is rejected, with a reason naming the tenant as the hook read it and the
/// process the hook ran in. Every other call (every other test's) is admitted.
pub fn hook(request: &AdmissionRequest<'_>) -> Verdict {
    match TENANT.get() {
        Some(tenant) if tenant.starts_with("blocked") => Verdict::reject(format!(
            "{tenant} may not call {} (process {})",
            request.routine(),
            std::process::id()
        )),
        _ => Verdict::Admit,
    }
}

/// The pid in a reason [`hook`] wrote.
fn pid_in(reason: &str) -> u32 {
    reason
        .rsplit_once("(process ")
        .and_then(|(_, pid)| pid.trim_end_matches(')').parse().ok())
        .unwrap_or_else(|| panic!("no pid in {reason:?}"))
}

pub async fn admission_hook_runs_in_worker_processes() {
    let pool = process_pool(2).await;
    let pids: BTreeSet<u32> = children(&pool).await.iter().map(|c| c.pid).collect();
    skein::scope(async {
        let _tenant = TENANT.set("blocked-acme".into()).expect("a scope");
        let mut rejected_in = BTreeSet::new();
        // Round robin over both processes: each one's hook rejects.
        for _ in 0..4 {
            let reason = match within(BOUND, "a rejected call", pool.call::<Pid>(())).await {
                Err(DispatchError::Rejected { reason }) => reason,
                other => panic!("not a rejection: {other:?}"),
            };
            assert!(
                reason.starts_with(&format!("blocked-acme may not call {}", Pid::NAME)),
                "the hook read the tenant that travelled: {reason:?}"
            );
            let pid = pid_in(&reason);
            assert!(
                pids.contains(&pid),
                "ran in a worker process: {pid} of {pids:?}"
            );
            rejected_in.insert(pid);
        }
        assert_eq!(rejected_in, pids, "every worker process has the hook");

        // A token sent to a worker process in a rejected call is not spent there.
        let token = V.set(1).expect("a scope");
        let kept = token.duplicate();
        let rejected = within(BOUND, "a rejected reset", pool.call::<ResetHere>(token)).await;
        assert!(
            matches!(rejected, Err(DispatchError::Rejected { .. })),
            "{rejected:?}"
        );
        V.reset(kept)
            .await
            .expect("the rejected call spent nothing");

        // Another tenant is admitted, on the worker processes as before.
        let _tenant = TENANT.set("acme".into()).expect("a scope");
        let pid = within(BOUND, "an admitted call", pool.call::<Pid>(()))
            .await
            .expect("admitted");
        assert!(pids.contains(&pid), "ran in a worker process");
        let token = V.set(2).expect("a scope");
        let code = within(BOUND, "an admitted reset", pool.call::<ResetHere>(token))
            .await
            .expect("admitted");
        assert_eq!(code, RESET_OK, "the admitted call resets the token there");
    })
    .await;
}
