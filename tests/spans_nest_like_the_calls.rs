//! Every call is a span on the caller (`skein.call`) and one on the worker around the
//! routine (`skein.run`), the second a child of the first, so a trace reads like the
//! calls: a nested call's spans nest under the routine that made it, and the whole
//! tree shares one trace id. A routine panic is one ERROR event naming the routine and
//! the message; a successful call logs nothing above DEBUG.
//!
//! A recording layer on a real `tracing_subscriber` registry, installed once for this
//! binary; each test looks only at the spans and events of its own routines.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use skein::{DispatchError, ErrorMessage, Never, Pool, Routine};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Instrument, Level, Subscriber};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Debug)]
struct SpanRecord {
    id: u64,
    name: &'static str,
    parent: Option<u64>,
    fields: HashMap<String, String>,
}

#[derive(Clone, Debug)]
struct EventRecord {
    level: Level,
    fields: HashMap<String, String>,
}

#[derive(Clone, Default)]
struct Recorder {
    spans: Arc<Mutex<Vec<SpanRecord>>>,
    events: Arc<Mutex<Vec<EventRecord>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let mut fields = HashMap::new();
        attrs.record(&mut Fields(&mut fields));
        let parent = ctx
            .span(id)
            .and_then(|span| span.parent())
            .map(|parent| parent.id().into_u64());
        self.spans.lock().unwrap().push(SpanRecord {
            id: id.into_u64(),
            name: attrs.metadata().name(),
            parent,
            fields,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some(span) = spans.iter_mut().rev().find(|s| s.id == id.into_u64()) {
            values.record(&mut Fields(&mut span.fields));
        }
    }

    fn on_event(&self, event: &Event<'_>, _: Context<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        self.events.lock().unwrap().push(EventRecord {
            level: *event.metadata().level(),
            fields,
        });
    }
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = Recorder::default();
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(recorder.clone()),
        )
        .expect("the test's subscriber installs");
        recorder
    })
}

impl Recorder {
    /// The spans named `name` whose `routine` field is `routine`.
    fn spans(&self, name: &str, routine: &str) -> Vec<SpanRecord> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .filter(|s| {
                s.name == name && s.fields.get("routine").map(String::as_str) == Some(routine)
            })
            .cloned()
            .collect()
    }

    fn span(&self, id: u64) -> Option<SpanRecord> {
        self.spans
            .lock()
            .unwrap()
            .iter()
            .rev()
            .find(|s| s.id == id)
            .cloned()
    }

    /// The events whose `routine` field is `routine`.
    fn events(&self, routine: &str) -> Vec<EventRecord> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter(|e| e.fields.get("routine").map(String::as_str) == Some(routine))
            .cloned()
            .collect()
    }
}

struct Leaf;
impl Routine for Leaf {
    const NAME: &'static str = "spans.leaf";
    type Args = i64;
    type Output = i64;
    type Error = Never;
    async fn run(x: i64) -> Result<i64, Never> {
        Ok(x + 1)
    }
}

struct Outer;
impl Routine for Outer {
    const NAME: &'static str = "spans.outer";
    type Args = i64;
    type Output = i64;
    type Error = ErrorMessage;
    async fn run(x: i64) -> Result<i64, ErrorMessage> {
        skein::call::<Leaf>(x).await.map_err(ErrorMessage::from)
    }
}

struct Boom;
impl Routine for Boom {
    const NAME: &'static str = "spans.boom";
    type Args = ();
    type Output = ();
    type Error = Never;
    async fn run(_: ()) -> Result<(), Never> {
        panic!("boom at the worker")
    }
}

async fn pool() -> Pool {
    recorder();
    Pool::builder()
        .workers(2)
        .routine::<Leaf>()
        .routine::<Outer>()
        .routine::<Boom>()
        .build()
        .await
        .expect("pool builds")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workers_span_is_a_child_of_the_callers() {
    let pool = pool().await;
    let request = tracing::info_span!("http_request", request_id = "r-17");
    let sum = pool
        .call::<Leaf>(41)
        .instrument(request.clone())
        .await
        .expect("leaf");
    assert_eq!(sum, 42);

    let recorder = recorder();
    let request_id = request
        .id()
        .expect("the request span is recorded")
        .into_u64();
    let calls: Vec<_> = recorder
        .spans("skein.call", Leaf::NAME)
        .into_iter()
        .filter(|s| s.parent == Some(request_id))
        .collect();
    assert_eq!(
        calls.len(),
        1,
        "one skein.call under the request: {calls:?}"
    );
    let call = &calls[0];
    assert!(call.fields.contains_key("dispatch"), "{call:?}");
    assert!(
        call.fields.contains_key("worker"),
        "the worker is recorded: {call:?}"
    );
    let runs: Vec<_> = recorder
        .spans("skein.run", Leaf::NAME)
        .into_iter()
        .filter(|s| s.parent == Some(call.id))
        .collect();
    assert_eq!(runs.len(), 1, "one skein.run under the call: {runs:?}");
    assert_eq!(
        runs[0].fields.get("dispatch"),
        call.fields.get("dispatch"),
        "the same dispatch on both sides"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nested_calls_spans_nest_under_the_routine_that_made_it() {
    let pool = pool().await;
    let root = tracing::info_span!("nested_root");
    assert_eq!(
        pool.call::<Outer>(1)
            .instrument(root.clone())
            .await
            .expect("outer"),
        2
    );
    let recorder = recorder();
    let root_id = root.id().expect("recorded").into_u64();
    let outer_call = recorder
        .spans("skein.call", Outer::NAME)
        .into_iter()
        .find(|s| s.parent == Some(root_id))
        .expect("the outer call's span under the root");
    let outer_run = recorder
        .spans("skein.run", Outer::NAME)
        .into_iter()
        .find(|s| s.parent == Some(outer_call.id))
        .expect("the outer routine's span under its call");
    let inner_call = recorder
        .spans("skein.call", Leaf::NAME)
        .into_iter()
        .find(|s| s.parent == Some(outer_run.id))
        .expect("the nested call's span under the outer routine");
    let inner_run = recorder
        .spans("skein.run", Leaf::NAME)
        .into_iter()
        .find(|s| s.parent == Some(inner_call.id))
        .expect("the inner routine's span under the nested call");
    assert_eq!(
        inner_run.fields.get("caller"),
        outer_run.fields.get("dispatch"),
        "the inner run records its parent dispatch"
    );
    assert!(outer_run.fields.contains_key("trace"));
    assert_eq!(
        inner_run.fields.get("trace"),
        outer_run.fields.get("trace"),
        "one trace id for the whole tree"
    );
    // The tree is what the recorder says, all the way up.
    assert_eq!(
        recorder.span(inner_call.id).and_then(|s| s.parent),
        Some(outer_run.id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_is_one_error_event_and_a_success_logs_nothing_above_debug() {
    let pool = pool().await;
    match pool.call::<Boom>(()).await {
        Err(DispatchError::Panicked { message }) => assert!(message.contains("boom")),
        other => panic!("expected Panicked, got {other:?}"),
    }
    for i in 0..20 {
        pool.call::<Leaf>(i).await.expect("leaf");
    }
    let recorder = recorder();
    let errors: Vec<_> = recorder
        .events(Boom::NAME)
        .into_iter()
        .filter(|e| e.level == Level::ERROR)
        .collect();
    assert_eq!(errors.len(), 1, "one ERROR event for the panic: {errors:?}");
    assert!(
        errors[0]
            .fields
            .get("panic")
            .is_some_and(|m| m.contains("boom at the worker")),
        "the event carries the panic's message: {errors:?}"
    );
    assert!(errors[0].fields.contains_key("dispatch"), "{errors:?}");
    let loud: Vec<_> = recorder
        .events(Leaf::NAME)
        .into_iter()
        .filter(|e| e.level < Level::DEBUG)
        .collect();
    assert!(
        loud.is_empty(),
        "successful calls logged above DEBUG: {loud:?}"
    );
}
