//! The supervisors' events as a stream.

use skein_actors::{EventStream, SupervisionEvent};

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
pub type Events = EventStream<SupervisionEvent>;
