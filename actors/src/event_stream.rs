//! A broadcast of events read as a stream: what the pool's supervision events and a
//! node's events both are.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use tokio::sync::broadcast;

/// Events from now on, as a stream. Events missed by a slow reader are skipped; the
/// stream ends when the sender is dropped.
pub struct EventStream<T> {
    events: BoxStream<'static, T>,
}

impl<T: Clone + Send + 'static> EventStream<T> {
    /// The events `receiver` will get.
    pub fn new(receiver: broadcast::Receiver<T>) -> EventStream<T> {
        let events = stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    // A reader that fell behind wants what is happening now, not an
                    // error it would have to skip by hand.
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        EventStream {
            events: events.boxed(),
        }
    }
}

impl<T> Stream for EventStream<T> {
    type Item = T;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        self.events.poll_next_unpin(cx)
    }
}

impl<T> fmt::Debug for EventStream<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventStream").finish_non_exhaustive()
    }
}
