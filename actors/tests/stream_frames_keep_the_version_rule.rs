//! The credit and batch fields of stream frames follow the frame version rule: a frame
//! of a build without them still decodes (one credit, no later steps), a batch
//! round-trips in order, and across a node connection a pull that cannot be read, or
//! a batch past the frame limit, becomes the typed refusal every frame gets.

use serde::Serialize;
use skein_actors::{
    codec, Blob, Dispatch, DispatchId, DispatchKind, LedgerDelta, Limits, Manifest, Outcome, Pull,
    Reply, Request, MAX_CREDITS,
};

/// A `Pull` as a build without credits wrote it.
#[derive(Serialize)]
struct OldPull {
    id: DispatchId,
    manifest: Manifest,
    refused: Option<String>,
}

/// A `Dispatch` as a build without credits wrote it.
#[derive(Serialize)]
struct OldDispatch {
    request: Request,
    kind: DispatchKind,
    refused: Option<String>,
}

/// A `Reply` as a build without batches wrote it.
#[derive(Serialize)]
struct OldReply {
    outcome: Outcome,
    manifest: Option<Manifest>,
    delta: LedgerDelta,
}

fn encode(value: &impl Serialize) -> Vec<u8> {
    codec::encode(value, &Limits::default()).expect("a small frame encodes")
}

fn value(byte: u8) -> Reply {
    Reply::new(
        Outcome::Value(Blob::from(vec![byte])),
        Some(Manifest::default()),
        LedgerDelta::new(),
    )
}

#[test]
fn an_old_pull_frame_grants_one_credit() {
    let id = DispatchId::new();
    let bytes = encode(&OldPull {
        id,
        manifest: Manifest::default(),
        refused: None,
    });
    let pull: Pull = codec::decode(&bytes, &Limits::default()).expect("an old pull decodes");
    assert_eq!(pull.id, id);
    assert_eq!(
        pull.credits(),
        1,
        "an old pull asks for the exact stream's next item"
    );

    let granted = Pull::new(id, Manifest::default()).with_credits(0);
    let again: Pull = codec::decode(&encode(&granted), &Limits::default()).unwrap();
    assert_eq!(again.credits(), 0, "a pull that only fetches stays one");
}

#[test]
fn an_old_dispatch_frame_opens_an_exact_stream() {
    let request = Request::new("demo.count", vec![0x03], Manifest::default());
    let bytes = encode(&OldDispatch {
        request: request.clone(),
        kind: DispatchKind::Stream,
        refused: None,
    });
    let dispatch: Dispatch =
        codec::decode(&bytes, &Limits::default()).expect("an old dispatch decodes");
    assert_eq!(dispatch.request.id, request.id);
    assert_eq!(dispatch.credits(), 1);

    let ahead = Dispatch::new(request, DispatchKind::Stream).with_credits(64);
    let again: Dispatch = codec::decode(&encode(&ahead), &Limits::default()).unwrap();
    assert_eq!(again.credits(), 64);
    assert_eq!(
        Dispatch::new(again.request, DispatchKind::Stream)
            .with_credits(0)
            .credits(),
        1,
        "a stream that may run no step would never answer"
    );
    let capped = Dispatch::new(
        Request::new("demo.count", vec![0x03], Manifest::default()),
        DispatchKind::Stream,
    )
    .with_credits(u32::MAX);
    assert_eq!(
        capped.credits(),
        MAX_CREDITS,
        "no stream holds more than the cap"
    );
}

#[test]
fn an_old_reply_frame_has_no_later_steps_and_a_batch_round_trips_in_order() {
    let bytes = encode(&OldReply {
        outcome: Outcome::End,
        manifest: None,
        delta: LedgerDelta::new(),
    });
    let reply: Reply = codec::decode(&bytes, &Limits::default()).expect("an old reply decodes");
    assert_eq!(reply.outcome, Outcome::End);
    assert!(reply.more.is_empty());

    let mut batch = value(1);
    batch.more = vec![value(2), value(3)];
    let again: Reply = codec::decode(&encode(&batch), &Limits::default()).unwrap();
    assert_eq!(again, batch);
    let order: Vec<Outcome> = again.into_steps().map(|step| step.outcome).collect();
    assert_eq!(
        order,
        [1, 2, 3].map(|b| Outcome::Value(Blob::from(vec![b]))),
        "the steps come in the order they ran"
    );
}

#[cfg(feature = "cluster")]
mod across_a_node_connection {
    use ractor::BytesConvertable;
    use skein_actors::{DispatchError, LedgerId, TokenId};

    use super::*;

    #[test]
    fn a_pull_that_cannot_be_read_is_refused_not_dropped() {
        for garbage in [vec![], vec![0xff; 3], vec![0xa7, 0x01, 0xc1]] {
            let pull = Pull::from_bytes(garbage.clone());
            assert!(
                pull.refused().is_some(),
                "{garbage:?} became a pull the worker answers with BadFrame"
            );
        }
    }

    #[test]
    fn a_batch_past_the_frame_limit_is_refused_with_every_steps_spends() {
        let spent = |seq| TokenId::new(LedgerId::new(), seq);
        let (first, later) = (spent(1), spent(2));
        let mut batch = Reply::new(
            Outcome::Value(Blob::from(vec![0; 1 << 10])),
            Some(Manifest::default()),
            [first].into_iter().collect(),
        );
        let big = Reply::new(
            Outcome::Value(Blob::from(vec![0; Limits::DEFAULT_MAX_FRAME_BYTES])),
            Some(Manifest::default()),
            [later].into_iter().collect::<LedgerDelta>(),
        );
        batch.more = vec![big];

        let refusal = Reply::from_bytes(batch.into_bytes());
        match refusal.outcome {
            Outcome::Failed(DispatchError::BadFrame { reason }) => {
                assert!(reason.contains("over the limit"), "{reason}")
            }
            other => panic!("expected BadFrame, got {other:?}"),
        }
        assert!(refusal.more.is_empty());
        assert!(refusal.delta.contains(&first) && refusal.delta.contains(&later));
    }
}
