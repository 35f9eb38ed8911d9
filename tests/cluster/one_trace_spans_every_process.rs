//! One trace across processes: a call from here to a worker process, which calls a
//! routine on another worker process, is one trace: each routine sees the same trace
//! id (`skein::current_dispatch().trace`, the id its `skein.run` span records), and
//! another root call is another trace.

use std::collections::BTreeSet;

use skein::{ErrorMessage, Never, Routine};

use crate::support::{process_pool, within, BOUND};

/// The pid this runs in, and its dispatch's trace id.
pub struct TraceHere;
impl Routine for TraceHere {
    const NAME: &'static str = "cluster.trace_here";
    type Args = ();
    type Output = (u32, String);
    type Error = Never;
    async fn run(_: ()) -> Result<(u32, String), Never> {
        let trace = skein::current_dispatch()
            .map(|d| d.trace.to_string())
            .unwrap_or_default();
        Ok((std::process::id(), trace))
    }
}

/// `TraceHere` here, then nested through this process's pool: both answers.
pub struct TraceVia;
impl Routine for TraceVia {
    const NAME: &'static str = "cluster.trace_via";
    type Args = ();
    type Output = ((u32, String), (u32, String));
    type Error = ErrorMessage;
    async fn run(_: ()) -> Result<((u32, String), (u32, String)), ErrorMessage> {
        let here = TraceHere::run(())
            .await
            .unwrap_or_else(|never| match never {});
        let there = skein::call::<TraceHere>(())
            .await
            .map_err(ErrorMessage::from)?;
        Ok((here, there))
    }
}

pub async fn a_nested_call_across_two_worker_processes_is_one_trace() {
    let pool = process_pool(2).await;
    let mut traces = BTreeSet::new();
    let mut crossed = false;
    // Round robin: within a few calls the nested one lands on the other process.
    for _ in 0..16 {
        let ((outer_pid, outer), (inner_pid, inner)) =
            within(BOUND, "a nested call", pool.call::<TraceVia>(()))
                .await
                .expect("the nested call");
        assert_ne!(
            outer_pid,
            std::process::id(),
            "the outer routine ran in a worker process"
        );
        assert_eq!(outer.len(), 32, "a W3C trace id: {outer:?}");
        assert_eq!(
            inner, outer,
            "the nested call goes on in its parent's trace"
        );
        traces.insert(outer);
        crossed |= inner_pid != outer_pid;
    }
    assert!(crossed, "some nested call ran on the other worker process");
    assert_eq!(
        traces.len(),
        16,
        "every root call starts a trace of its own"
    );
}
