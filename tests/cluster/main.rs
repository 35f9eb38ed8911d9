//! Multi-process tests: pools whose workers are other processes on 127.0.0.1, nodes
//! that refuse each other, processes that must not outlive their parents, and nodes
//! that share one process.
//!
//! This binary has its own `main` (`harness = false`): a pool built with
//! `processes(n)` re-runs it as worker processes, which must reach
//! `skein::serve_if_worker` before anything else.
//!
//! Every test runs in a process of its own (this binary again, with
//! `SKEIN_TEST_MODE=test`): ractor's name registry and process groups and the home
//! ledger are process-wide, so tests that kill, stop and refuse nodes cannot share
//! one process without leaking into each other. The runner bounds
//! each test process and kills it past the bound. Two more modes run this binary as a
//! helper a test starts: `parent` (an intermediate parent with worker processes of its
//! own) and `node` (a bare node that prints its events).

mod admission_hook_runs_in_worker_processes;
mod any_number_of_nodes_share_one_process;
mod dead_and_hung_nodes_fail_in_flight_calls;
mod deadlines_and_cancellation_travel;
mod listen_port_survives_hostile_connections;
mod metrics_count_frames_sessions_and_refusals;
mod nodes_connect_by_name_and_refuse_outsiders;
#[cfg(feature = "otel")]
mod one_otel_trace_spans_every_process;
mod one_trace_spans_every_process;
mod oracle_holds_across_processes;
#[path = "../support/oracle.rs"]
mod oracle_model;
mod oversize_frames_are_refused_typed;
#[path = "../support/pick_last.rs"]
mod pick_last;
mod pools_and_nodes_shut_down_gracefully;
mod routing_by_tags_and_nodes;
mod state_is_built_in_every_worker_process;
mod streams_run_ahead_across_processes;
mod support;
mod tls_is_mutual_and_rotates;
mod tokens_dropped_everywhere_are_retired;
mod tokens_spent_at_most_once_across_processes;
mod too_many_process_deaths_fail_the_pool;
mod worker_processes_never_outlive_their_parent;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use skein::actors::Blob;
use skein::{ContextVar, ErrorMessage, Never, Pool, PoolBuilder, ResetErrorKind, Routine, Token};

use crate::support::BOUND;
use admission_hook_runs_in_worker_processes::admission_hook_runs_in_worker_processes;
use any_number_of_nodes_share_one_process::two_nodes_in_one_process_serve_calls;
use dead_and_hung_nodes_fail_in_flight_calls::{
    a_hung_node_is_cut_off_within_2_s, a_hung_node_is_welcomed_back_when_it_resumes,
    a_killed_node_fails_in_flight_calls_and_is_replaced,
};
use deadlines_and_cancellation_travel::{
    a_deadline_ends_every_hop_of_a_chain_across_processes,
    dropping_the_caller_cancels_every_hop_across_processes,
};
use listen_port_survives_hostile_connections::{
    a_name_message_then_silence_is_closed_at_the_deadline,
    connections_past_the_pending_cap_are_closed_at_once,
    frames_sent_before_authentication_cost_a_bounded_amount_of_memory,
    idle_connections_are_closed_at_the_deadline_and_a_peer_still_connects,
    refusals_name_their_reason_at_warn_and_the_log_is_rate_limited,
    stalled_tls_handshakes_do_not_stop_a_tls_node_accepting,
};
use nodes_connect_by_name_and_refuse_outsiders::{
    a_tls_cluster_serves_calls_and_refuses_plain_peers, a_wrong_cookie_is_refused_on_both_sides,
    peers_by_dns_name,
};
#[cfg(feature = "otel")]
use one_otel_trace_spans_every_process::a_nested_call_across_two_worker_processes_is_one_otel_trace;
use one_trace_spans_every_process::a_nested_call_across_two_worker_processes_is_one_trace;
use oracle_holds_across_processes::any_script_across_processes_matches_one_local_scope;
use oversize_frames_are_refused_typed::oversize_frames_are_refused_typed_across_the_wire;
use pools_and_nodes_shut_down_gracefully::{
    a_node_that_shuts_down_is_a_clean_leave_for_its_peers,
    a_process_pool_shuts_down_with_100_calls_in_flight,
};
use state_is_built_in_every_worker_process::state_is_built_in_every_worker_process;
use streams_run_ahead_across_processes::{
    a_worker_process_killed_mid_stream_ends_the_stream_with_node_down,
    an_ahead_stream_across_processes_merges_each_item_as_it_is_taken,
};
use tls_is_mutual_and_rotates::{
    a_node_rotates_its_tls_and_open_sessions_go_on,
    mutual_tls_refuses_peers_without_a_certificate_of_the_cluster_ca,
};
use tokens_dropped_everywhere_are_retired::a_token_dropped_on_a_worker_process_is_retired_at_home;
use tokens_spent_at_most_once_across_processes::{
    a_spend_survives_its_workers_death, an_unreachable_home_refuses_the_spend,
    one_spend_per_token_across_processes,
};
use too_many_process_deaths_fail_the_pool::too_many_process_deaths_fail_the_pool;
use worker_processes_never_outlive_their_parent::{
    children_exit_when_the_parent_is_killed, children_exit_when_the_pool_drops,
};

/// Which role this process plays; unset, it is the runner.
pub const MODE_ENV: &str = "SKEIN_TEST_MODE";
/// The test a `test`-mode process runs.
const TEST_ENV: &str = "SKEIN_TEST_NAME";
/// How long one test process may run before the runner kills it.
const TEST_BOUND: Duration = Duration::from_secs(40);

/// The variable whose tokens the tests spend.
pub static V: ContextVar<u32> = ContextVar::new("cluster", "v");

struct Add;
impl Routine for Add {
    const NAME: &'static str = "cluster.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// The pid of the process the routine runs in.
pub struct Pid;
impl Routine for Pid {
    const NAME: &'static str = "cluster.pid";
    type Args = ();
    type Output = u32;
    type Error = Never;
    async fn run(_: ()) -> Result<u32, Never> {
        Ok(std::process::id())
    }
}

/// Calls [`Pid`] on the node it is given, from inside a routine, waiting for that node
/// to be reached: once it answers, the process it ran in has met that node, and has
/// its group memberships (its workers, its ledger), for they came first on the way.
pub struct Reach;
impl Routine for Reach {
    const NAME: &'static str = "cluster.reach";
    type Args = String;
    type Output = u32;
    type Error = ErrorMessage;
    async fn run(node: String) -> Result<u32, ErrorMessage> {
        let there = skein::Route::any().node(node).wait(BOUND);
        skein::call_on::<Pid>(&there, ())
            .await
            .map_err(ErrorMessage::from)
    }
}

/// The pid of the worker process the routine runs in, and its index among the pool's
/// worker processes.
pub struct Identity;
impl Routine for Identity {
    const NAME: &'static str = "cluster.identity";
    type Args = ();
    type Output = (u32, usize);
    type Error = Never;
    async fn run(_: ()) -> Result<(u32, usize), Never> {
        let index = std::env::var(skein::actors::process::INDEX_ENV)
            .ok()
            .and_then(|i| i.parse().ok())
            .unwrap_or(usize::MAX);
        Ok((std::process::id(), index))
    }
}

/// A reset's outcome as it travels back (`ResetErrorKind` has no serde impls).
pub const RESET_OK: u8 = 0;

/// The code a refused reset travels back as.
pub fn reset_code(kind: ResetErrorKind) -> u8 {
    match kind {
        ResetErrorKind::NoScope => 1,
        ResetErrorKind::AlreadyUsed => 2,
        ResetErrorKind::WrongVar => 3,
        ResetErrorKind::DifferentContext => 4,
        ResetErrorKind::LedgerUnavailable => 5,
        _ => 9,
    }
}

/// Resets the token it is sent, where it runs, and reports the outcome.
pub struct ResetHere;
impl Routine for ResetHere {
    const NAME: &'static str = "cluster.reset_here";
    type Args = Token<u32>;
    type Output = u8;
    type Error = Never;
    async fn run(token: Token<u32>) -> Result<u8, Never> {
        Ok(match V.reset(token).await {
            Ok(()) => RESET_OK,
            Err(refused) => reset_code(refused.kind()),
        })
    }
}

/// Resets the token it is sent, then kills its own process before it can reply. If
/// the reset is refused it replies with the refusal instead, so the test sees why.
pub struct ResetThenAbort;
impl Routine for ResetThenAbort {
    const NAME: &'static str = "cluster.reset_then_abort";
    type Args = Token<u32>;
    type Output = u8;
    type Error = Never;
    async fn run(token: Token<u32>) -> Result<u8, Never> {
        match V.reset(token).await {
            Ok(()) => std::process::abort(),
            Err(refused) => Ok(reset_code(refused.kind())),
        }
    }
}

/// Sets `V` where it runs and hands the token to the caller: the token's home is the
/// process that ran it.
pub struct Mint;
impl Routine for Mint {
    const NAME: &'static str = "cluster.mint";
    type Args = u32;
    type Output = Token<u32>;
    type Error = Never;
    async fn run(value: u32) -> Result<Token<u32>, Never> {
        Ok(V.set(value).expect("a routine body runs in a context"))
    }
}

/// Never answers: a call that stays in flight until it is cancelled or its node dies.
pub struct Park;
impl Routine for Park {
    const NAME: &'static str = "cluster.park";
    type Args = ();
    type Output = ();
    type Error = Never;
    async fn run(_: ()) -> Result<(), Never> {
        futures::future::pending().await
    }
}

/// The length of the bytes it is sent.
pub struct Len;
impl Routine for Len {
    const NAME: &'static str = "cluster.len";
    type Args = Blob;
    type Output = usize;
    type Error = Never;
    async fn run(bytes: Blob) -> Result<usize, Never> {
        Ok(bytes.len())
    }
}

/// Answers with `n` bytes.
pub struct Bytes;
impl Routine for Bytes {
    const NAME: &'static str = "cluster.bytes";
    type Args = usize;
    type Output = Blob;
    type Error = Never;
    async fn run(n: usize) -> Result<Blob, Never> {
        Ok(Blob::from(vec![0xa5; n]))
    }
}

/// Tokens this process was sent and keeps, unspent.
pub static KEPT: std::sync::Mutex<Vec<Token<u32>>> = std::sync::Mutex::new(Vec::new());

/// Drops the token it is sent, unspent.
pub struct Swallow;
impl Routine for Swallow {
    const NAME: &'static str = "cluster.swallow";
    type Args = Token<u32>;
    type Output = ();
    type Error = Never;
    async fn run(token: Token<u32>) -> Result<(), Never> {
        drop(token);
        Ok(())
    }
}

/// Keeps the token it is sent in `KEPT`, unspent.
pub struct Keep;
impl Routine for Keep {
    const NAME: &'static str = "cluster.keep";
    type Args = Token<u32>;
    type Output = ();
    type Error = Never;
    async fn run(token: Token<u32>) -> Result<(), Never> {
        KEPT.lock().unwrap_or_else(|p| p.into_inner()).push(token);
        Ok(())
    }
}

/// Drops every token `KEPT` holds.
pub struct LetGo;
impl Routine for LetGo {
    const NAME: &'static str = "cluster.let_go";
    type Args = ();
    type Output = usize;
    type Error = Never;
    async fn run(_: ()) -> Result<usize, Never> {
        let kept = std::mem::take(&mut *KEPT.lock().unwrap_or_else(|p| p.into_inner()));
        Ok(kept.len())
    }
}

/// The pool every test and every worker process builds: the same routines on both
/// sides.
pub fn routines() -> PoolBuilder {
    let builder = Pool::builder()
        .routine::<Add>()
        .routine::<Pid>()
        .routine::<Reach>()
        .routine::<Identity>()
        .routine::<ResetHere>()
        .routine::<ResetThenAbort>()
        .routine::<Mint>()
        .routine::<Park>()
        .routine::<Len>()
        .routine::<Bytes>()
        .routine::<Swallow>()
        .routine::<Keep>()
        .routine::<LetGo>()
        .routine::<one_trace_spans_every_process::TraceHere>()
        .routine::<one_trace_spans_every_process::TraceVia>()
        .routine::<oracle_holds_across_processes::OracleStep>()
        .routine::<state_is_built_in_every_worker_process::StatePid>()
        .routine::<pools_and_nodes_shut_down_gracefully::Nap>()
        .routine::<deadlines_and_cancellation_travel::Hop>()
        .stream_routine::<streams_run_ahead_across_processes::Steps>()
        .state(state_is_built_in_every_worker_process::build_process_state)
        .admission_hook(admission_hook_runs_in_worker_processes::hook);
    #[cfg(feature = "otel")]
    let builder = builder.routine::<one_otel_trace_spans_every_process::OtelSpans>();
    builder
}

async fn calls_run_in_worker_processes() {
    let pool = routines().processes(2).build().await.expect("pool builds");
    pool.wait_for_workers(2, BOUND)
        .await
        .expect("both worker processes joined");
    assert_eq!(pool.call::<Add>((2, 3)).await.expect("add"), 5);
    let mut pids = std::collections::BTreeSet::new();
    for _ in 0..8 {
        pids.insert(pool.call::<Pid>(()).await.expect("pid"));
    }
    assert!(
        !pids.contains(&std::process::id()),
        "no call ran in the parent"
    );
    assert_eq!(
        pids.len(),
        2,
        "calls were balanced over both processes: {pids:?}"
    );
}

type Test = (
    &'static str,
    fn() -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>,
);

fn tests() -> Vec<Test> {
    let tests: Vec<Test> = vec![
        ("calls_run_in_worker_processes", || {
            Box::pin(calls_run_in_worker_processes())
        }),
        ("admission_hook_runs_in_worker_processes", || {
            Box::pin(admission_hook_runs_in_worker_processes())
        }),
        ("one_spend_per_token_across_processes", || {
            Box::pin(one_spend_per_token_across_processes())
        }),
        ("a_spend_survives_its_workers_death", || {
            Box::pin(a_spend_survives_its_workers_death())
        }),
        ("an_unreachable_home_refuses_the_spend", || {
            Box::pin(an_unreachable_home_refuses_the_spend())
        }),
        (
            "a_killed_node_fails_in_flight_calls_and_is_replaced",
            || Box::pin(a_killed_node_fails_in_flight_calls_and_is_replaced()),
        ),
        ("a_hung_node_is_cut_off_within_2_s", || {
            Box::pin(a_hung_node_is_cut_off_within_2_s())
        }),
        ("a_hung_node_is_welcomed_back_when_it_resumes", || {
            Box::pin(a_hung_node_is_welcomed_back_when_it_resumes())
        }),
        ("children_exit_when_the_pool_drops", || {
            Box::pin(children_exit_when_the_pool_drops())
        }),
        ("children_exit_when_the_parent_is_killed", || {
            Box::pin(children_exit_when_the_parent_is_killed())
        }),
        ("a_wrong_cookie_is_refused_on_both_sides", || {
            Box::pin(a_wrong_cookie_is_refused_on_both_sides())
        }),
        ("peers_by_dns_name", || Box::pin(peers_by_dns_name())),
        ("a_tls_cluster_serves_calls_and_refuses_plain_peers", || {
            Box::pin(a_tls_cluster_serves_calls_and_refuses_plain_peers())
        }),
        (
            "any_script_across_processes_matches_one_local_scope",
            || Box::pin(any_script_across_processes_matches_one_local_scope()),
        ),
        ("oversize_frames_are_refused_typed_across_the_wire", || {
            Box::pin(oversize_frames_are_refused_typed_across_the_wire())
        }),
        ("too_many_process_deaths_fail_the_pool", || {
            Box::pin(too_many_process_deaths_fail_the_pool())
        }),
        ("two_nodes_in_one_process_serve_calls", || {
            Box::pin(two_nodes_in_one_process_serve_calls())
        }),
        (
            "idle_connections_are_closed_at_the_deadline_and_a_peer_still_connects",
            || Box::pin(idle_connections_are_closed_at_the_deadline_and_a_peer_still_connects()),
        ),
        (
            "frames_sent_before_authentication_cost_a_bounded_amount_of_memory",
            || Box::pin(frames_sent_before_authentication_cost_a_bounded_amount_of_memory()),
        ),
        (
            "stalled_tls_handshakes_do_not_stop_a_tls_node_accepting",
            || Box::pin(stalled_tls_handshakes_do_not_stop_a_tls_node_accepting()),
        ),
        (
            "a_name_message_then_silence_is_closed_at_the_deadline",
            || Box::pin(a_name_message_then_silence_is_closed_at_the_deadline()),
        ),
        (
            "connections_past_the_pending_cap_are_closed_at_once",
            || Box::pin(connections_past_the_pending_cap_are_closed_at_once()),
        ),
        (
            "refusals_name_their_reason_at_warn_and_the_log_is_rate_limited",
            || Box::pin(refusals_name_their_reason_at_warn_and_the_log_is_rate_limited()),
        ),
        (
            "mutual_tls_refuses_peers_without_a_certificate_of_the_cluster_ca",
            || Box::pin(mutual_tls_refuses_peers_without_a_certificate_of_the_cluster_ca()),
        ),
        ("a_node_rotates_its_tls_and_open_sessions_go_on", || {
            Box::pin(a_node_rotates_its_tls_and_open_sessions_go_on())
        }),
        (
            "a_token_dropped_on_a_worker_process_is_retired_at_home",
            || Box::pin(a_token_dropped_on_a_worker_process_is_retired_at_home()),
        ),
        (
            "a_nested_call_across_two_worker_processes_is_one_trace",
            || Box::pin(a_nested_call_across_two_worker_processes_is_one_trace()),
        ),
        (
            "an_ahead_stream_across_processes_merges_each_item_as_it_is_taken",
            || Box::pin(an_ahead_stream_across_processes_merges_each_item_as_it_is_taken()),
        ),
        (
            "a_worker_process_killed_mid_stream_ends_the_stream_with_node_down",
            || Box::pin(a_worker_process_killed_mid_stream_ends_the_stream_with_node_down()),
        ),
        ("state_is_built_in_every_worker_process", || {
            Box::pin(state_is_built_in_every_worker_process())
        }),
        ("a_process_pool_shuts_down_with_100_calls_in_flight", || {
            Box::pin(a_process_pool_shuts_down_with_100_calls_in_flight())
        }),
        (
            "a_node_that_shuts_down_is_a_clean_leave_for_its_peers",
            || Box::pin(a_node_that_shuts_down_is_a_clean_leave_for_its_peers()),
        ),
        ("routes_by_tags_and_nodes_land_on_the_right_process", || {
            Box::pin(
                routing_by_tags_and_nodes::routes_by_tags_and_nodes_land_on_the_right_process(),
            )
        }),
        ("frames_sessions_and_refusals_are_counted", || {
            Box::pin(metrics_count_frames_sessions_and_refusals::frames_sessions_and_refusals_are_counted())
        }),
        (
            "a_deadline_ends_every_hop_of_a_chain_across_processes",
            || Box::pin(a_deadline_ends_every_hop_of_a_chain_across_processes()),
        ),
        (
            "dropping_the_caller_cancels_every_hop_across_processes",
            || Box::pin(dropping_the_caller_cancels_every_hop_across_processes()),
        ),
    ];
    #[cfg(feature = "otel")]
    let tests = {
        let mut tests = tests;
        tests.push((one_otel_trace_spans_every_process::NAME, || {
            Box::pin(a_nested_call_across_two_worker_processes_is_one_otel_trace())
        }));
        tests
    };
    tests
}

fn main() {
    // Before the worker hook, so that this test's worker processes record too.
    #[cfg(feature = "otel")]
    one_otel_trace_spans_every_process::install_if_this_test();
    skein::serve_if_worker(routines);
    match std::env::var(MODE_ENV).as_deref() {
        Ok("test") => run_one(),
        Ok("parent") => worker_processes_never_outlive_their_parent::intermediate_parent(),
        Ok("node") => nodes_connect_by_name_and_refuse_outsiders::node(),
        Ok("leaving") => pools_and_nodes_shut_down_gracefully::leaving_node(),
        Ok(other) => panic!("unknown {MODE_ENV} {other:?}"),
        Err(_) => run_all(),
    }
}

/// Runs the one test named in the environment, in this process, and exits 0 if it
/// passed. A failing test panics, which exits the process with an error.
fn run_one() {
    let name = std::env::var(TEST_ENV).expect("a test process is told its test");
    let (_, test) = tests()
        .into_iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no test named {name:?}"));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let outcome = runtime.block_on(async { tokio::time::timeout(TEST_BOUND, test()).await });
    runtime.shutdown_timeout(Duration::from_secs(1));
    if outcome.is_err() {
        eprintln!("{name}: hung past {TEST_BOUND:?}");
        std::process::exit(1);
    }
    std::process::exit(0);
}

/// Runs every test (or those whose names contain one of the arguments), each in a
/// process of its own, one after the other.
fn run_all() {
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let exe = std::env::current_exe().expect("the test binary's path");
    let mut failed = Vec::new();
    let mut ran = 0;
    let start_all = Instant::now();
    for (name, _) in tests() {
        if !filter.is_empty() && !filter.iter().any(|f| name.contains(f.as_str())) {
            continue;
        }
        ran += 1;
        let start = Instant::now();
        let mut child = Command::new(&exe)
            .env(MODE_ENV, "test")
            .env(TEST_ENV, name)
            .stdin(Stdio::null())
            .spawn()
            .expect("a test process starts");
        let pid = child.id();
        // The test process bounds itself; this is the bound on that bound.
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let status = match rx.recv_timeout(TEST_BOUND + Duration::from_secs(10)) {
            Ok(status) => status.map_err(|e| e.to_string()),
            Err(_) => {
                support::signal("-KILL", pid);
                Err("hung: killed by the runner".to_string())
            }
        };
        drop(waiter);
        match status {
            Ok(status) if status.success() => {
                println!("test {name} ... ok ({:.2?})", start.elapsed())
            }
            Ok(status) => {
                println!("test {name} ... FAILED ({status}, {:.2?})", start.elapsed());
                failed.push(name);
            }
            Err(e) => {
                println!("test {name} ... FAILED: {e}");
                failed.push(name);
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; finished in {:.2?}",
        if failed.is_empty() { "ok" } else { "FAILED" },
        ran - failed.len(),
        failed.len(),
        start_all.elapsed()
    );
    if !failed.is_empty() {
        println!("failures: {failed:?}");
        std::process::exit(1);
    }
}
