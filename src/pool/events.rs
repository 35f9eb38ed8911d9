//! The supervisors' events as a stream.

use std::fmt;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures::stream::{self, BoxStream};
use futures::{Stream, StreamExt};
use skein_actors::SupervisionEvent;
use tokio::sync::broadcast;

/// The supervisors' events, as a stream. Events missed by a slow reader are skipped.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use skein::{Pool, SupervisionEvent};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder().workers(1).build().await?;
/// let mut events = pool.events();
/// pool.workers()[0].as_ref().unwrap().kill();
/// let event = events.next().await;
/// assert!(matches!(event, Some(SupervisionEvent::WorkerFailed { worker: 0, .. })));
/// # Ok(()) }
/// ```
pub struct Events {
    events: BoxStream<'static, SupervisionEvent>,
}

impl Events {
    pub(crate) fn new(receiver: broadcast::Receiver<SupervisionEvent>) -> Events {
        let events = stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
        Events {
            events: events.boxed(),
        }
    }
}

impl Stream for Events {
    type Item = SupervisionEvent;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<SupervisionEvent>> {
        self.events.poll_next_unpin(cx)
    }
}

impl fmt::Debug for Events {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Events").finish_non_exhaustive()
    }
}
