//! Bridging skein's trace context and the OpenTelemetry context of a `tracing` span, so
//! that the spans of one request make one OpenTelemetry tree on every process.
//!
//! skein installs no subscriber and no exporter: the program installs
//! `tracing_opentelemetry::layer()` itself. Where it did, the caller's `skein.call`
//! span has an OpenTelemetry span context, and the request carries *its* trace and
//! span ids; a worker in another process makes its `skein.run` a child of that remote
//! span. In-process, `skein.run` is already a `tracing` child of `skein.call`, and the
//! layer links the two itself. Where no layer records a span, both sides fall back to
//! skein's own ids, and cost one check.

use opentelemetry::trace::{
    SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId as OtelTraceId, TraceState,
};
use skein_actors::{TraceContext, TraceId};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The OpenTelemetry trace id and span id of `span`, as skein's: `None` when no
/// OpenTelemetry layer records the span (a disabled span, or another subscriber).
pub(crate) fn ids_of(span: &tracing::Span) -> Option<(TraceId, u64)> {
    if span.is_disabled() {
        return None;
    }
    let cx = span.context();
    let otel = cx.span();
    let ids = otel.span_context();
    if !ids.is_valid() {
        return None;
    }
    let trace = TraceId::from_bytes(ids.trace_id().to_bytes())?;
    Some((trace, u64::from_be_bytes(ids.span_id().to_bytes())))
}

/// Makes `span` (a worker's `skein.run`, just created, whose caller is in another
/// process) a child of the caller's span as the request names it, so that an
/// OpenTelemetry backend shows it under the caller's `skein.call`.
pub(crate) fn continue_remote(span: &tracing::Span, trace: &TraceContext) {
    if span.is_disabled() {
        return;
    }
    let (Some(trace_id), Some(span_id)) = (trace.trace_id(), trace.parent_span_id()) else {
        return;
    };
    // Sampled, as the `traceparent` skein sends always says: the caller recorded its
    // span, or it would not have sent the ids of one.
    let remote = SpanContext::new(
        OtelTraceId::from_bytes(trace_id.to_bytes()),
        SpanId::from_bytes(span_id.to_be_bytes()),
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    // It fails only when no OpenTelemetry layer records the span: then there is no
    // tree to join, and `skein.run` keeps its `trace` field for finding it.
    let _ = span.set_parent(opentelemetry::Context::new().with_remote_span_context(remote));
}
