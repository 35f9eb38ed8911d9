//! How a manifest is installed and merged back (S1–S3, S6, S18–S20, S23, S24).

mod support;

use skein::actors::{Binding, ChainId, Manifest, VarEntry, VarKey};
use skein::context::{registration, Registration};
use skein::{Context, ContextVar, GetError, InstallMode, SetError};
use support::{dispatch, over_the_wire};

static NAME: ContextVar<String> = ContextVar::new("merge", "name");
static COUNT: ContextVar<u32> = ContextVar::with_default("merge", "count", || 0);
// Used by one test only: it checks the key is unknown before the frame arrives.
static LATE: ContextVar<u32> = ContextVar::with_default("merge", "late", || 99);
static EXTRA: ContextVar<u32> = ContextVar::new("merge", "extra");
static TWIN_A: ContextVar<u32> = ContextVar::new("merge", "twin");
static TWIN_B: ContextVar<u32> = ContextVar::new("merge", "twin");

fn encoded<T: serde::Serialize>(value: &T) -> Binding {
    Binding::value(rmp_serde::to_vec(value).unwrap())
}

#[tokio::test]
async fn the_reply_wins_for_its_keys_and_never_deletes_by_omission() {
    skein::scope(async {
        let _ = NAME.set("caller".into()).unwrap();
        let _ = COUNT.set(1).unwrap();
        dispatch((), |()| async {
            let _ = COUNT.set(2).unwrap();
        })
        .await;
        assert_eq!(NAME.get().as_deref(), Some("caller"));
        assert_eq!(COUNT.get(), Some(2));
    })
    .await;
}

#[tokio::test]
async fn a_reset_to_no_value_travels_back() {
    skein::scope(async {
        let token = COUNT.set(5).unwrap();
        let code: bool = dispatch(
            token,
            |token| async move { COUNT.reset(token).await.is_ok() },
        )
        .await;
        assert!(code);
        assert_eq!(COUNT.get(), Some(0), "no value again: the default shows");
    })
    .await;
}

#[tokio::test]
async fn defaults_never_travel() {
    // S6: only values that were set travel.
    let caller = Context::new();
    caller
        .scope(async { assert_eq!(COUNT.get(), Some(0)) })
        .await;
    assert!(caller.snapshot().is_empty());
}

#[tokio::test]
async fn the_caller_keeps_its_chain_and_an_unarmed_caller_adopts_the_workers() {
    let armed = Context::new();
    let _token = armed.scope(async { NAME.set("x".into()).unwrap() }).await;
    let own = armed.chain().unwrap();
    let foreign = ChainId::new();
    let reply = Manifest::new(
        Some(foreign),
        [VarEntry::new(COUNT.key().clone(), encoded(&3u32))],
    );
    armed.merge(&reply, InstallMode::Lenient).unwrap();
    assert_eq!(
        armed.chain(),
        Some(own),
        "S20: the receiver keeps its own id"
    );

    let unarmed = Context::new();
    unarmed.merge(&reply, InstallMode::Lenient).unwrap();
    assert_eq!(
        unarmed.chain(),
        Some(foreign),
        "S20: an unarmed caller adopts the sender's id"
    );
}

#[tokio::test]
async fn a_manifest_with_no_state_does_not_arm() {
    let cx = Context::new();
    cx.merge(
        &Manifest::new(Some(ChainId::new()), []),
        InstallMode::Lenient,
    )
    .unwrap();
    assert_eq!(cx.chain(), None, "S18");
}

#[tokio::test]
async fn an_unknown_key_is_carried_through_untouched() {
    let key = VarKey::new("merge", "never-declared");
    let raw = Binding::value(vec![0x93, 1, 2, 3]);
    skein::scope(async {
        let cx = Context::current().unwrap();
        cx.merge(
            &Manifest::new(
                Some(ChainId::new()),
                [VarEntry::new(key.clone(), raw.clone())],
            ),
            InstallMode::Lenient,
        )
        .unwrap();
        // Through a nested dispatch and back, the raw bytes still ride along.
        let seen = dispatch((), |()| async {
            dispatch((), |()| async {
                Context::current()
                    .unwrap()
                    .snapshot()
                    .entry(&VarKey::new("merge", "never-declared"))
                    .cloned()
            })
            .await
        })
        .await;
        assert_eq!(
            seen.map(|e| e.binding),
            Some(raw.clone()),
            "the worker saw the raw bytes"
        );
        assert_eq!(
            cx.snapshot().entry(&key).unwrap().binding,
            raw,
            "and the caller still carries them"
        );
    })
    .await;
    assert_eq!(
        registration(&key),
        Some(Registration::Stub),
        "S2: a stub holds the key"
    );
}

#[tokio::test]
async fn a_stub_is_promoted_and_keeps_its_value() {
    // S2: the value arrives before the variable is first used in this process.
    assert_eq!(registration(LATE.key()), None);
    let cx = Context::new();
    let frame = Manifest::new(
        Some(ChainId::new()),
        [VarEntry::new(LATE.key().clone(), encoded(&41u32))],
    );
    cx.merge(&over_the_wire(&frame), InstallMode::Lenient)
        .unwrap();
    assert_eq!(registration(LATE.key()), Some(Registration::Stub));
    cx.scope(async { assert_eq!(LATE.get(), Some(41)) }).await;
    assert!(matches!(
        registration(LATE.key()),
        Some(Registration::Declared { .. })
    ));
}

#[tokio::test]
async fn a_second_var_with_the_same_key_collides() {
    // S1, whatever the types or defaults.
    TWIN_A.declare().unwrap();
    assert!(TWIN_B.declare().is_err());
    assert!(matches!(TWIN_B.try_get(), Err(GetError::Collision(_))));
    // S105: the infallible read of a colliding variable is no value, with a warning.
    assert_eq!(TWIN_B.get(), None);
    skein::scope(async {
        assert!(matches!(TWIN_B.set(1), Err(SetError::Collision(_))));
        let _ = TWIN_A.set(1).expect("the first declaration still works");
    })
    .await;
}

fn bad_frame(spent_token: skein::actors::TokenId) -> Manifest {
    let mut bad_count = VarEntry::new(COUNT.key().clone(), encoded(&"not a number"));
    bad_count.spent = vec![spent_token];
    Manifest::new(
        Some(ChainId::new()),
        [
            bad_count,
            VarEntry::new(NAME.key().clone(), encoded(&7u64)),
            VarEntry::new(EXTRA.key().clone(), encoded(&3u32)),
        ],
    )
}

#[tokio::test]
async fn lenient_install_drops_only_bad_values_and_keeps_their_spends() {
    // S23: a bad value never hides a spend.
    COUNT.declare().unwrap();
    NAME.declare().unwrap();
    EXTRA.declare().unwrap();
    skein::scope(async {
        let token = COUNT.set(1).unwrap();
        let cx = Context::current().unwrap();
        let warnings = cx
            .merge(&bad_frame(token.id()), InstallMode::Lenient)
            .unwrap();
        let mut bad: Vec<_> = warnings.iter().map(|w| w.key.clone()).collect();
        bad.sort();
        assert_eq!(bad, vec![COUNT.key().clone(), NAME.key().clone()]);
        assert_eq!(COUNT.get(), Some(1), "the bad value was dropped");
        assert_eq!(EXTRA.get(), Some(3), "the good value was installed");
        assert_eq!(
            COUNT.reset(token).await.unwrap_err().kind(),
            skein::ResetErrorKind::AlreadyUsed,
            "the spend that rode with the bad value still counts"
        );
    })
    .await;
}

#[tokio::test]
async fn strict_install_refuses_the_frame_listing_every_bad_entry() {
    COUNT.declare().unwrap();
    NAME.declare().unwrap();
    skein::scope(async {
        let token = COUNT.set(1).unwrap();
        let cx = Context::current().unwrap();
        let before = cx.snapshot();
        let err = cx
            .merge(&bad_frame(token.id()), InstallMode::Strict)
            .unwrap_err();
        assert_eq!(err.entries.len(), 2, "{err}");
        assert!(
            err.to_string()
                .starts_with("2 context variable(s) failed to decode"),
            "{err}"
        );
        assert_eq!(cx.snapshot(), before, "nothing was installed");
    })
    .await;
}
