//! The trace context a request carries, so that one trace covers every hop.
//!
//! A request carries the caller's trace (a W3C trace id and the calling span's id) and,
//! for a worker in the same process, the caller's `tracing` span itself, so that the
//! worker's span is an ordinary child of it. On the wire the trace travels as W3C
//! `traceparent` and `tracestate` strings (empty when there is none); the text is made
//! only there, so an in-process call pays nothing for it.

use std::fmt;
use std::num::NonZeroU64;

use serde::{Deserialize, Serialize};

use crate::ids::DispatchId;

/// A W3C trace id: 16 bytes, shown as 32 lowercase hex digits. (Two halves rather
/// than a `u128`, so that it packs into a request without 16-byte alignment.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId([u64; 2]);

impl TraceId {
    /// The trace a root call starts: named after the call's dispatch id, which is
    /// unique across processes and costs nothing more to mint.
    pub fn starting_at(dispatch: DispatchId) -> TraceId {
        let id = dispatch.as_u128();
        TraceId([(id >> 64) as u64, id as u64])
    }

    /// The trace id of these 16 bytes, in W3C order (the first byte is the first two
    /// hex digits); none for all zeros, which W3C says is no trace.
    pub fn from_bytes(bytes: [u8; 16]) -> Option<TraceId> {
        let id = u128::from_be_bytes(bytes);
        (id != 0).then_some(TraceId([(id >> 64) as u64, id as u64]))
    }

    /// The 16 bytes of this trace id, in W3C order: what other tracing libraries
    /// build their own trace ids from.
    pub fn to_bytes(self) -> [u8; 16] {
        ((u128::from(self.0[0]) << 64) | u128::from(self.0[1])).to_be_bytes()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}{:016x}", self.0[0], self.0[1])
    }
}

/// The caller's trace context, as a request carries it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(from = "TraceWire", into = "TraceWire")]
pub struct TraceContext {
    /// The trace, and the id of the span the call was made from.
    parent: Option<(TraceId, NonZeroU64)>,
    /// W3C `tracestate`, passed on untouched; usually none.
    tracestate: Option<Box<str>>,
    /// The caller's span, for a worker in the same process: the parent of the
    /// worker's span. It never travels. Boxed, and only when some subscriber records
    /// it, so that a request stays small and costs nothing when nobody traces.
    span: Option<Box<tracing::Span>>,
}

/// Two trace contexts are equal when what travels of them is.
impl PartialEq for TraceContext {
    fn eq(&self, other: &TraceContext) -> bool {
        self.parent == other.parent && self.tracestate == other.tracestate
    }
}

impl Eq for TraceContext {}

impl TraceContext {
    /// The context of a call in `trace`, made from the span `span_id`; `span` is the
    /// caller's span, for a worker in this process.
    pub fn new(trace: TraceId, span_id: u64, span: tracing::Span) -> TraceContext {
        TraceContext {
            parent: Some((trace, NonZeroU64::new(span_id).unwrap_or(NonZeroU64::MIN))),
            tracestate: None,
            span: (!span.is_disabled()).then(|| Box::new(span)),
        }
    }

    /// The trace, if the caller had one.
    pub fn trace_id(&self) -> Option<TraceId> {
        self.parent.map(|(trace, _)| trace)
    }

    /// The id of the span the call was made from, if the caller had one.
    pub fn parent_span_id(&self) -> Option<u64> {
        self.parent.map(|(_, span)| span.get())
    }

    /// The caller's span, when the caller is in this process and a subscriber records
    /// it.
    pub fn span(&self) -> Option<&tracing::Span> {
        self.span.as_deref()
    }

    /// W3C `traceparent`, or an empty string when there is no trace.
    pub fn traceparent(&self) -> String {
        match self.parent {
            Some((trace, span)) => format!("00-{trace}-{span:016x}-01"),
            None => String::new(),
        }
    }
}

/// A trace context as it travels.
#[derive(Clone, Default, Serialize, Deserialize)]
struct TraceWire {
    traceparent: String,
    tracestate: String,
}

impl From<TraceContext> for TraceWire {
    fn from(trace: TraceContext) -> TraceWire {
        TraceWire {
            traceparent: trace.traceparent(),
            tracestate: trace.tracestate.map(String::from).unwrap_or_default(),
        }
    }
}

impl From<TraceWire> for TraceContext {
    /// A `traceparent` that does not parse is no trace: it never fails the frame.
    fn from(wire: TraceWire) -> TraceContext {
        TraceContext {
            parent: parse(&wire.traceparent),
            tracestate: (!wire.tracestate.is_empty()).then(|| wire.tracestate.into()),
            span: None,
        }
    }
}

fn parse(traceparent: &str) -> Option<(TraceId, NonZeroU64)> {
    let mut parts = traceparent.split('-');
    let (version, trace, span) = (parts.next()?, parts.next()?, parts.next()?);
    if version.len() != 2 || trace.len() != 32 || span.len() != 16 || !trace.is_ascii() {
        return None;
    }
    let (high, low) = trace.split_at(16);
    let high = u64::from_str_radix(high, 16).ok()?;
    let low = u64::from_str_radix(low, 16).ok()?;
    if high == 0 && low == 0 {
        return None;
    }
    let span = NonZeroU64::new(u64::from_str_radix(span, 16).ok()?)?;
    Some((TraceId([high, low]), span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_context_round_trips_as_w3c_text() {
        let trace = TraceId::starting_at(DispatchId::new());
        let context = TraceContext::new(trace, 0xabc, tracing::Span::none());
        let text = context.traceparent();
        assert_eq!(text.len(), 55, "{text}");
        assert!(text.starts_with("00-") && text.ends_with("-0000000000000abc-01"));
        let back = TraceContext::from(TraceWire::from(context.clone()));
        assert_eq!(back, context);
        assert!(back.span().is_none(), "the span never travels");
    }

    #[test]
    fn trace_id_bytes_are_in_w3c_order() {
        let trace = TraceId::starting_at(DispatchId::new());
        let bytes = trace.to_bytes();
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, trace.to_string());
        assert_eq!(TraceId::from_bytes(bytes), Some(trace));
        assert_eq!(TraceId::from_bytes([0; 16]), None, "all zeros is no trace");
    }

    #[test]
    fn a_bad_traceparent_is_no_trace() {
        for bad in [
            "",
            "00",
            "zz-00-00-00",
            "00-0-1-01",
            &format!("00-{}-{}-01", "0".repeat(32), "1".repeat(16)),
        ] {
            let wire = TraceWire {
                traceparent: bad.to_string(),
                tracestate: String::new(),
            };
            assert_eq!(TraceContext::from(wire).trace_id(), None, "{bad:?}");
        }
    }
}
