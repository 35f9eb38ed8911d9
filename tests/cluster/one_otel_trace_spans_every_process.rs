//! One OpenTelemetry trace across processes (feature `otel`): with a
//! `tracing_opentelemetry` layer in every process, a call from here to a worker process
//! A, which calls a routine on another worker process B, is one OpenTelemetry tree:
//! the test's root span, its `skein.call`, A's `skein.run`, A's nested `skein.call`,
//! B's `skein.run`, each the child of the one before, all in the root span's trace.
//!
//! Each process keeps its finished spans in an in-memory exporter; `OtelSpans` hands
//! them to the test. The layer is installed by `install_if_this_test`, which `main`
//! runs first in every process: in this test's process and in its worker processes
//! (which inherit the test's name from the environment), and in no other.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde::{Deserialize, Serialize};
use skein::{Never, Routine};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::layer::SubscriberExt;

use crate::one_trace_spans_every_process::TraceVia;
use crate::support::{children, dispatch, process_pool, within, BOUND};

/// The name the runner gives this test, in `SKEIN_TEST_NAME`.
pub const NAME: &str = "a_nested_call_across_two_worker_processes_is_one_otel_trace";

/// This process's exporter, and the provider that feeds it (kept alive with it).
static EXPORTER: OnceLock<(InMemorySpanExporter, SdkTracerProvider)> = OnceLock::new();

/// Installs a registry with the OpenTelemetry layer, exporting to memory, when this
/// process runs this test or is one of its worker processes. The registry has no
/// filter, so skein's DEBUG spans are recorded.
pub fn install_if_this_test() {
    if std::env::var(crate::TEST_ENV).as_deref() != Ok(NAME) {
        return;
    }
    let exporter = InMemorySpanExporter::default();
    // A simple processor exports each span as it ends, so what a process has finished
    // is in its exporter when it answers `OtelSpans`.
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("skein-cluster-test")));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    assert!(EXPORTER.set((exporter, provider)).is_ok(), "installed once");
}

/// A finished span, as it travels back to the test: ids as W3C hex.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Finished {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    pub parent_is_remote: bool,
    pub pid: u32,
    /// The span's string attributes: skein's `routine`, `dispatch`, `caller`, `trace`.
    pub fields: BTreeMap<String, String>,
}

/// The spans this process's exporter holds.
fn finished_here() -> Vec<Finished> {
    let Some((exporter, _)) = EXPORTER.get() else {
        return Vec::new();
    };
    let spans = exporter.get_finished_spans().expect("the exporter answers");
    spans.iter().map(finished).collect()
}

fn finished(span: &SpanData) -> Finished {
    Finished {
        name: span.name.to_string(),
        trace_id: span.span_context.trace_id().to_string(),
        span_id: span.span_context.span_id().to_string(),
        parent_span_id: span.parent_span_id.to_string(),
        parent_is_remote: span.parent_span_is_remote,
        pid: std::process::id(),
        fields: span
            .attributes
            .iter()
            .map(|kv| (kv.key.to_string(), kv.value.as_str().into_owned()))
            .collect(),
    }
}

/// The spans the process it runs in has finished.
pub struct OtelSpans;
impl Routine for OtelSpans {
    const NAME: &'static str = "cluster.otel_spans";
    type Args = ();
    type Output = Vec<Finished>;
    type Error = Never;
    async fn run(_: ()) -> Result<Vec<Finished>, Never> {
        Ok(finished_here())
    }
}

/// The one span of `spans` named `name` whose field `key` is `value`.
fn the<'a>(spans: &'a [Finished], name: &str, key: &str, value: &str) -> Option<&'a Finished> {
    let mut found = spans
        .iter()
        .filter(|s| s.name == name && s.fields.get(key).map(String::as_str) == Some(value));
    let first = found.next()?;
    assert!(found.next().is_none(), "one {name} with {key}={value}");
    Some(first)
}

pub async fn a_nested_call_across_two_worker_processes_is_one_otel_trace() {
    assert!(
        EXPORTER.get().is_some(),
        "main installed the OpenTelemetry layer"
    );
    let pool = process_pool(2).await;
    let workers = children(&pool).await;
    // Round robin: within a few calls the nested one lands on the other process. Each
    // try has a root span of its own; the one that crossed is the one checked.
    let mut crossing = None;
    for _ in 0..16 {
        let root = tracing::info_span!("test.root");
        let root_ids = root.context().span().span_context().clone();
        let ((outer_pid, _), (inner_pid, _)) = within(
            BOUND,
            "a nested call",
            pool.call::<TraceVia>(()).instrument(root),
        )
        .await
        .expect("the nested call");
        assert_ne!(
            outer_pid,
            std::process::id(),
            "the outer routine ran in a worker"
        );
        if inner_pid != outer_pid {
            crossing = Some((root_ids, outer_pid, inner_pid));
            break;
        }
    }
    let (root, a, b) = crossing.expect("some nested call ran on the other worker process");
    assert!(
        root.is_valid(),
        "the root span has an OpenTelemetry context"
    );
    let trace = root.trace_id().to_string();
    let root_id = root.span_id().to_string();

    // Asks every process for its spans until the four of this request are there: a
    // span is exported when it ends, which may come a moment after its reply.
    let (call, a_run, a_call, b_run) = within(BOUND, "the spans of every process", async {
        loop {
            let here = finished_here();
            let mut there = Vec::new();
            for w in workers.iter().filter(|w| w.pid == a || w.pid == b) {
                there.extend(dispatch::<OtelSpans>(&w.worker, ()).await.expect("spans"));
            }
            let on = |pid: u32| {
                there
                    .iter()
                    .filter(|s| s.pid == pid)
                    .cloned()
                    .collect::<Vec<_>>()
            };
            let (on_a, on_b) = (on(a), on(b));
            // The test's `skein.call` is the root span's child; the rest are found by
            // the dispatch ids skein records, not by the ids under test.
            let call = here
                .iter()
                .find(|s| s.name == "skein.call" && s.parent_span_id == root_id);
            let outer = call.map(|c| c.fields["dispatch"].clone());
            let a_run = outer
                .as_ref()
                .and_then(|d| the(&on_a, "skein.run", "dispatch", d));
            let b_run = outer
                .as_ref()
                .and_then(|d| the(&on_b, "skein.run", "caller", d));
            let a_call =
                b_run.and_then(|r| the(&on_a, "skein.call", "dispatch", &r.fields["dispatch"]));
            if let (Some(call), Some(a_run), Some(a_call), Some(b_run)) =
                (call, a_run, a_call, b_run)
            {
                break (call.clone(), a_run.clone(), a_call.clone(), b_run.clone());
            }
            tokio::task::yield_now().await;
        }
    })
    .await;

    for span in [&call, &a_run, &a_call, &b_run] {
        assert_eq!(span.trace_id, trace, "one trace: {span:#?}");
    }
    for run in [&a_run, &b_run] {
        assert_eq!(
            run.fields["trace"], trace,
            "skein's trace id is the OpenTelemetry one"
        );
    }
    assert_eq!(
        a_run.parent_span_id, call.span_id,
        "A's skein.run is a child of the test's skein.call"
    );
    assert!(a_run.parent_is_remote, "its parent is in another process");
    assert_eq!(
        a_call.parent_span_id, a_run.span_id,
        "A's nested skein.call is a child of A's skein.run"
    );
    assert_eq!(
        b_run.parent_span_id, a_call.span_id,
        "B's skein.run is a child of A's nested skein.call"
    );
    assert!(b_run.parent_is_remote, "its parent is in another process");
}
