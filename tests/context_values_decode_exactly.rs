//! A context variable's value decodes exactly: bytes left over after the value make
//! it a bad value, which the install mode handles like any other bad value (dropped
//! with a warning when lenient, refused with `InstallError` when strict), on a merge
//! and on a worker alike.

mod support;

use skein::actors::{
    Binding, ChainId, Dispatch, DispatchKind, Manifest, Reply, VarEntry, WorkerMsg,
};
use skein::{
    Context, ContextVar, DispatchError, ErrorMessage, GetError, InstallError, InstallMode, Pool,
    Routine,
};
use support::pool_helpers::{within, BOUND};

static NUMBER: ContextVar<u32> = ContextVar::with_default("exact", "number", || 0);
// Used by one test only: it must arrive before it is ever declared.
static EARLY: ContextVar<u32> = ContextVar::new("exact", "early");

/// The case that was found: 64 random bytes whose first, 0x57, is a whole `u32` on
/// its own (the fixint 87), so a decoder that stops after one value reads 87 and
/// ignores the 63 bytes after it.
fn with_trailing_bytes() -> Vec<u8> {
    let mut bytes = vec![0x57];
    // A fixed xorshift, so every run sends the same "random" bytes.
    let mut x: u32 = 0x9e37_79b9;
    while bytes.len() < 64 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x.to_le_bytes()[0]);
    }
    assert_eq!(
        rmp_serde::from_slice::<u32>(&bytes).ok(),
        Some(87),
        "the input is the tricky one: a lax decoder accepts it"
    );
    bytes
}

fn frame_with(bytes: Vec<u8>) -> Manifest {
    Manifest::new(
        Some(ChainId::new()),
        [VarEntry::new(NUMBER.key().clone(), Binding::value(bytes))],
    )
}

#[tokio::test]
async fn lenient_install_drops_a_value_with_trailing_bytes_and_warns() {
    NUMBER.declare().unwrap();
    skein::scope(async {
        let _token = NUMBER.set(5).unwrap();
        let cx = Context::current().unwrap();
        let warnings = cx
            .merge(&frame_with(with_trailing_bytes()), InstallMode::Lenient)
            .expect("a lenient install never refuses");
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert_eq!(warnings[0].key, *NUMBER.key());
        assert!(
            warnings[0].message.contains("63 trailing bytes"),
            "the warning says what was wrong: {:?}",
            warnings[0].message
        );
        assert_eq!(
            NUMBER.get(),
            Some(5),
            "the bad value was dropped, not installed as 87"
        );
    })
    .await;
}

#[tokio::test]
async fn strict_install_refuses_a_value_with_trailing_bytes() {
    NUMBER.declare().unwrap();
    skein::scope(async {
        let _token = NUMBER.set(5).unwrap();
        let cx = Context::current().unwrap();
        let before = cx.snapshot();
        let InstallError { entries } = cx
            .merge(&frame_with(with_trailing_bytes()), InstallMode::Strict)
            .unwrap_err();
        assert_eq!(entries.len(), 1, "{entries:?}");
        assert_eq!(entries[0].key, *NUMBER.key());
        assert!(
            entries[0].message.contains("63 trailing bytes"),
            "{:?}",
            entries[0].message
        );
        assert_eq!(cx.snapshot(), before, "nothing was installed");
        assert_eq!(NUMBER.get(), Some(5));
    })
    .await;
}

#[tokio::test]
async fn the_exact_value_alone_installs() {
    // The same first byte with nothing after it is a good value: 87.
    NUMBER.declare().unwrap();
    skein::scope(async {
        let cx = Context::current().unwrap();
        let warnings = cx
            .merge(&frame_with(vec![0x57]), InstallMode::Strict)
            .expect("an exact value installs");
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(NUMBER.get(), Some(87));
    })
    .await;
}

#[tokio::test]
async fn a_value_with_trailing_bytes_that_arrived_before_its_var_fails_get() {
    // Unknown keys are carried raw, so the check waits for the variable: its `get`.
    let entry = VarEntry::new(EARLY.key().clone(), Binding::value(with_trailing_bytes()));
    let cx = Context::new();
    let warnings = cx
        .merge(
            &Manifest::new(Some(ChainId::new()), [entry]),
            InstallMode::Strict,
        )
        .expect("an unknown key is carried through untouched");
    assert!(warnings.is_empty(), "{warnings:?}");
    cx.scope(async {
        match EARLY.try_get() {
            Err(GetError::Decode { key, message }) => {
                assert_eq!(key, *EARLY.key());
                assert!(message.contains("63 trailing bytes"), "{message:?}");
            }
            other => panic!("expected GetError::Decode, got {other:?}"),
        }
        // S105: the infallible read sees no value rather than a bad one, and never panics.
        assert_eq!(EARLY.get(), None);
    })
    .await;
}

/// Reads `NUMBER` on the worker.
struct ReadNumber;
impl Routine for ReadNumber {
    const NAME: &'static str = "exact.read_number";
    type Args = ();
    type Output = Option<u32>;
    type Error = ErrorMessage;
    async fn run((): ()) -> Result<Option<u32>, ErrorMessage> {
        NUMBER.try_get().map_err(|e| ErrorMessage(e.to_string()))
    }
}

/// Sends `ReadNumber` straight to worker 0 with a hand-built context carrying the
/// value with trailing bytes.
async fn read_on_worker(mode: InstallMode) -> Reply {
    NUMBER.declare().unwrap();
    let pool = within(
        BOUND,
        "build",
        Pool::builder()
            .workers(1)
            .install_mode(mode)
            .routine::<ReadNumber>()
            .build(),
    )
    .await
    .expect("pool builds");
    let worker = pool.workers()[0].clone().expect("worker 0 is live");
    let mut request = skein::request::<ReadNumber>(()).expect("args encode");
    request.manifest = frame_with(with_trailing_bytes());
    within(BOUND, "direct dispatch", async {
        ractor::call!(worker, |reply| WorkerMsg::Dispatch(
            Dispatch::new(request, DispatchKind::Call),
            reply
        ))
    })
    .await
    .expect("the worker answers a direct dispatch")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lenient_worker_drops_a_value_with_trailing_bytes() {
    let reply = read_on_worker(InstallMode::Lenient).await;
    assert_eq!(
        skein::decode_reply::<ReadNumber>(reply),
        Ok(Some(0)),
        "the routine sees the default, not 87"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_strict_worker_refuses_a_value_with_trailing_bytes() {
    let reply = read_on_worker(InstallMode::Strict).await;
    match skein::decode_reply::<ReadNumber>(reply) {
        Err(DispatchError::Context(InstallError { entries })) => {
            assert_eq!(entries.len(), 1, "{entries:?}");
            assert_eq!(entries[0].key, *NUMBER.key());
        }
        other => panic!("expected DispatchError::Context, got {other:?}"),
    }
}
