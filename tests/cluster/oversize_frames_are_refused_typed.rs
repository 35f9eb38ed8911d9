//! Frames past the wire limit across a real node connection (S93: rejected, not
//! truncated, with a clear typed error; the session stays up).

use futures::{FutureExt, StreamExt};
use skein::actors::{Blob, Limits};
use skein::{DispatchError, SupervisionEvent};

use crate::support::{process_pool, within, BOUND};
use crate::{Bytes, Len, Pid};

/// Args, then an output, over the default 16 MiB limit (the worker process builds its
/// node with the default limits, as this one does): each call fails with `BadFrame`,
/// and the next small call on the same process succeeds.
pub async fn oversize_frames_are_refused_typed_across_the_wire() {
    let over = Limits::DEFAULT_MAX_FRAME_BYTES + (1 << 20);
    let pool = process_pool(1).await;
    let mut events = pool.events();
    let pid = pool.call::<Pid>(()).await.expect("pid");

    // Large but legal frames go through, both ways.
    let n = within(
        BOUND,
        "a 1 MiB call",
        pool.call::<Len>(Blob::from(vec![7; 1 << 20])),
    )
    .await
    .expect("a 1 MiB argument is under the limit");
    assert_eq!(n, 1 << 20);
    let back = within(BOUND, "a 1 MiB reply", pool.call::<Bytes>(1 << 20))
        .await
        .expect("a 1 MiB output is under the limit");
    assert_eq!(back.len(), 1 << 20);

    let outcome = within(
        BOUND,
        "oversize args",
        pool.call::<Len>(Blob::from(vec![7; over])),
    )
    .await;
    match outcome {
        Err(DispatchError::BadFrame { reason: message }) => assert!(
            message.contains("over the limit"),
            "the error says why: {message}"
        ),
        other => panic!("oversize args: expected BadFrame, got {other:?}"),
    }
    let again = within(BOUND, "a call after oversize args", pool.call::<Pid>(()))
        .await
        .expect("a small call after oversize args succeeds");
    assert_eq!(again, pid, "the same process answers");

    let outcome = within(BOUND, "an oversize output", pool.call::<Bytes>(over)).await;
    match outcome {
        Err(DispatchError::BadFrame { reason: message }) => assert!(
            message.contains("over the limit"),
            "the error says why: {message}"
        ),
        Ok(bytes) => panic!("an oversize output arrived: {} bytes", bytes.len()),
        Err(other) => panic!("oversize output: expected BadFrame, got {other:?}"),
    }
    let again = within(
        BOUND,
        "a call after an oversize output",
        pool.call::<Pid>(()),
    )
    .await
    .expect("a small call after an oversize output succeeds");
    assert_eq!(again, pid, "the same process answers");

    // The session stayed up: the worker never left the pool, the process never exited.
    while let Some(Some(event)) = events.next().now_or_never() {
        assert!(
            !matches!(
                event,
                SupervisionEvent::RemoteWorkers { count: 0 }
                    | SupervisionEvent::ProcessExited { .. }
            ),
            "the session dropped: {event:?}"
        );
    }
}
