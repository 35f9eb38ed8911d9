//! The caller's side of a streaming routine.

use std::fmt;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use ractor::ActorRef;
use skein_actors::{DispatchError, DispatchId, DispatchKind, Pull, WorkerMsg};
use tokio::sync::oneshot;

use crate::context::Context;
use crate::dispatch::{
    finish, lost, prepare, retype, trace_of, wait, Caller, CancelOnDrop, Parent,
};
use crate::routine::StreamRoutine;

/// The caller's side of a streaming routine. Each item is pulled with the caller's
/// context as it is at that moment, and the worker's changes merge before the item is
/// returned. Dropping it cancels the routine on the worker.
pub struct RoutineStream<R: StreamRoutine> {
    items: stream::Fuse<BoxStream<'static, Item<R>>>,
}

enum Step<A> {
    Start {
        pool: Arc<Caller>,
        args: A,
        parent: Option<Parent>,
    },
    Open {
        pool: Arc<Caller>,
        worker: ActorRef<WorkerMsg>,
        id: DispatchId,
        guard: CancelOnDrop,
        /// The stream's one span on the caller, with an event per item.
        span: tracing::Span,
    },
    Done,
}

impl<R: StreamRoutine> RoutineStream<R> {
    pub(crate) fn open(
        pool: Arc<Caller>,
        args: R::Args,
        parent: Option<Parent>,
    ) -> RoutineStream<R> {
        let items = stream::unfold(Step::Start { pool, args, parent }, |step| async move {
            let (item, next) = pull::<R>(step).await;
            item.map(|item| (item, next))
        });
        // Fused: polling again after the end keeps answering `None`.
        RoutineStream {
            items: items.boxed().fuse(),
        }
    }
}

type Item<R> = Result<<R as StreamRoutine>::Item, DispatchError<<R as StreamRoutine>::Error>>;

/// One pull: the first sends the dispatch, later ones a `Pull`. An end, an error or a
/// refusal closes the stream.
async fn pull<R: StreamRoutine>(step: Step<R::Args>) -> (Option<Item<R>>, Step<R::Args>) {
    let cx = Context::current();
    let (pool, worker, id, guard, span, reply) = match step {
        Step::Done => return (None, Step::Done),
        Step::Start { pool, args, parent } => {
            let mut request = match prepare(R::NAME, &args, cx.as_ref(), None, parent) {
                Ok(request) => request,
                Err(e) => return (Some(Err(e)), Step::Done),
            };
            drop(args);
            let span = tracing::debug_span!(
                "skein.stream",
                routine = R::NAME,
                dispatch = %request.id,
                worker = tracing::field::Empty,
            );
            request.trace = trace_of(&request, parent, span.clone());
            let sent = match pool.send(request, DispatchKind::Stream) {
                Ok(sent) => sent,
                Err(refused) => return (Some(Err(retype(refused))), Step::Done),
            };
            span.record("worker", tracing::field::display(sent.worker.get_id()));
            let guard = CancelOnDrop::new(&sent);
            (pool, sent.worker, sent.id, guard, span, sent.reply)
        }
        Step::Open {
            pool,
            worker,
            id,
            guard,
            span,
        } => {
            let manifest = cx.as_ref().map(Context::take_snapshot).unwrap_or_default();
            let (tx, reply) = oneshot::channel();
            let pull = Pull::new(id, manifest).with_limits(pool.limits);
            if worker.cast(WorkerMsg::Pull(pull, tx.into())).is_err() {
                guard.disarm();
                return (Some(Err(retype(lost(&worker)))), Step::Done);
            }
            (pool, worker, id, guard, span, reply)
        }
    };
    let reply = match wait(reply, None, lost(&worker)).await {
        Ok(reply) => reply,
        Err(failure) => {
            guard.disarm();
            return (Some(Err(retype(failure))), Step::Done);
        }
    };
    match finish::<R::Item, R::Error>(cx.as_ref(), reply, pool.mode) {
        Ok(Some(item)) => {
            span.in_scope(|| tracing::debug!("skein.stream item"));
            (
                Some(Ok(item)),
                Step::Open {
                    pool,
                    worker,
                    id,
                    guard,
                    span,
                },
            )
        }
        Ok(None) => {
            guard.disarm();
            (None, Step::Done)
        }
        Err(e) => {
            guard.disarm();
            (Some(Err(e)), Step::Done)
        }
    }
}

impl<R: StreamRoutine> Stream for RoutineStream<R> {
    type Item = Item<R>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Option<Self::Item>> {
        self.items.poll_next_unpin(cx)
    }
}

impl<R: StreamRoutine> futures::stream::FusedStream for RoutineStream<R> {
    fn is_terminated(&self) -> bool {
        self.items.is_terminated()
    }
}

impl<R: StreamRoutine> fmt::Debug for RoutineStream<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoutineStream")
            .field("routine", &R::NAME)
            .finish()
    }
}
