//! The auto traits of the public handles, errors and futures, pinned at compile time
//! (in the style of tokio's `tests/async_send_sync.rs`).
//!
//! Every line below states whether a type is `Send`, `Sync` and `Unpin`, and the
//! build fails when one of them changes either way: a handle that stops being `Send`
//! (a future users can no longer `tokio::spawn`, an error that no longer boxes into
//! `Box<dyn Error + Send + Sync>`), or one that becomes `Send` where it must not (an
//! error that leaks `Send` past its routine's error type). A negative is checked with
//! tokio's ambiguity trick: `AmbiguousIfSend::some_item(&x)` is ambiguous, and so
//! does not compile, exactly when `x` is `Send`. Nothing here runs: the checks are
//! `const` closures that are type-checked and never called. The one `#[test]` spawns
//! the futures on a multi-threaded runtime, the way users do.
//!
//! Negatives are of two kinds, marked where they appear:
//!
//! - *deliberate*: the type must not be `Send`/`Sync`, or must pass its parameter's
//!   auto traits through (`DispatchError<E>`, `Incoming<T>`, the scope futures);
//! - *recorded*: the type just is not, today, and gaining the trait would be harmless
//!   (`Events` and `RoutineStream` are `Send` but not `Sync`, because they hold a
//!   `BoxStream`). Such a change still fails here, so that it is seen and the line is
//!   updated on purpose.
//!
//! The public surface has no guards (`Context::lock` and the codec guard are private),
//! so there is no `!Send` guard to pin.
#![warn(rust_2018_idioms)]
#![allow(clippy::type_complexity, clippy::diverging_sub_expression)]

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

use futures::StreamExt;
use skein::actors::{TokenId, WorkerMsg};
use skein::{ContextVar, DispatchError, Never, Pool, Routine, StreamRoutine, Token};

// Parameters with known auto traits, as tokio names them.
// Send: yes, Sync: yes.
#[allow(dead_code)]
struct YY;

// Send: yes, Sync: no.
#[allow(dead_code)]
struct YN {
    _value: Cell<u8>,
}

// Send: no, Sync: no.
#[allow(dead_code)]
struct NN {
    _value: Rc<u8>,
}

#[allow(dead_code)]
type BoxFutureSync<T> = Pin<Box<dyn Future<Output = T> + Send + Sync>>;
#[allow(dead_code)]
type BoxFutureSend<T> = Pin<Box<dyn Future<Output = T> + Send>>;
#[allow(dead_code)]
type BoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

#[allow(dead_code)]
fn require_send<T: Send>(_t: &T) {}
#[allow(dead_code)]
fn require_sync<T: Sync>(_t: &T) {}
#[allow(dead_code)]
fn require_unpin<T: Unpin>(_t: &T) {}
/// What `?` into `Box<dyn Error + Send + Sync>` (and `anyhow`) needs.
#[allow(dead_code)]
fn require_boxable_error<E: std::error::Error + Send + Sync + 'static>() {}

#[allow(dead_code)]
struct Invalid;

#[allow(unused)]
trait AmbiguousIfSend<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfSend<()> for T {}
impl<T: ?Sized + Send> AmbiguousIfSend<Invalid> for T {}

#[allow(unused)]
trait AmbiguousIfSync<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfSync<()> for T {}
impl<T: ?Sized + Sync> AmbiguousIfSync<Invalid> for T {}

#[allow(unused)]
trait AmbiguousIfUnpin<A> {
    fn some_item(&self) {}
}
impl<T: ?Sized> AmbiguousIfUnpin<()> for T {}
impl<T: ?Sized + Unpin> AmbiguousIfUnpin<Invalid> for T {}

macro_rules! into_todo {
    ($typ:ty) => {{
        let x: $typ = todo!();
        x
    }};
}

macro_rules! async_assert_fn_send {
    (Send & $(!)?Sync & $(!)?Unpin, $value:expr) => {
        require_send(&$value);
    };
    (!Send & $(!)?Sync & $(!)?Unpin, $value:expr) => {
        AmbiguousIfSend::some_item(&$value);
    };
}
macro_rules! async_assert_fn_sync {
    ($(!)?Send & Sync & $(!)?Unpin, $value:expr) => {
        require_sync(&$value);
    };
    ($(!)?Send & !Sync & $(!)?Unpin, $value:expr) => {
        AmbiguousIfSync::some_item(&$value);
    };
}
macro_rules! async_assert_fn_unpin {
    ($(!)?Send & $(!)?Sync & Unpin, $value:expr) => {
        require_unpin(&$value);
    };
    ($(!)?Send & $(!)?Sync & !Unpin, $value:expr) => {
        AmbiguousIfUnpin::some_item(&$value);
    };
}

/// The future (or value) a call returns: `path::to::fn<Generics>(ArgType, ...)`, with
/// `_` for an argument whose type is inferred (`&self`).
macro_rules! async_assert_fn {
    ($($f:ident $(< $($generic:ty),* > )? )::+($($arg:ty),*): $($tok:tt)*) => {
        #[allow(unreachable_code)]
        #[allow(unused_variables)]
        const _: fn() = || {
            let f = $($f $(::<$($generic),*>)? )::+( $( into_todo!($arg) ),* );
            async_assert_fn_send!($($tok)*, f);
            async_assert_fn_sync!($($tok)*, f);
            async_assert_fn_unpin!($($tok)*, f);
        };
    };
}

macro_rules! assert_value {
    ($type:ty: $($tok:tt)*) => {
        #[allow(unreachable_code)]
        #[allow(unused_variables)]
        const _: fn() = || {
            let f: $type = todo!();
            async_assert_fn_send!($($tok)*, f);
            async_assert_fn_sync!($($tok)*, f);
            async_assert_fn_unpin!($($tok)*, f);
        };
    };
}

macro_rules! assert_boxable_error {
    ($($type:ty),* $(,)?) => {
        const _: fn() = || {
            $(require_boxable_error::<$type>();)*
        };
    };
}

// ---------------------------------------------------------------------------------
// Sample routines.
// ---------------------------------------------------------------------------------

/// A routine whose args, output and error are `Send` and `Sync`.
struct Add;
impl Routine for Add {
    const NAME: &'static str = "send_sync.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

/// A routine whose args, output and error are only `Send`, as much as `Routine`
/// asks: its call futures must still be `Send`.
struct SendOnly;
impl Routine for SendOnly {
    const NAME: &'static str = "send_sync.send_only";
    type Args = Cell<u64>;
    type Output = Cell<u64>;
    type Error = Never;
    async fn run(x: Cell<u64>) -> Result<Cell<u64>, Never> {
        Ok(x)
    }
}

/// A routine that fans out with `skein::call`; `Routine::run` must return a `Send`
/// future, so this compiles only while `skein::call`'s future is `Send`.
struct Nested;
impl Routine for Nested {
    const NAME: &'static str = "send_sync.nested";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run(args: (i64, i64)) -> Result<i64, Never> {
        Ok(skein::call::<Add>(args).await.unwrap_or(-1))
    }
}

/// A streaming routine.
struct Count;
impl StreamRoutine for Count {
    const NAME: &'static str = "send_sync.count";
    type Args = u64;
    type Item = u64;
    type Error = Never;
    fn run(n: u64) -> impl futures::Stream<Item = Result<u64, Never>> + Send + 'static {
        futures::stream::iter((0..n).map(Ok))
    }
}

static VAR: ContextVar<u64> = ContextVar::new("send_sync", "var");

// ---------------------------------------------------------------------------------
// skein: the pool and its handles.
// ---------------------------------------------------------------------------------

assert_value!(skein::Pool: Send & Sync & Unpin);
assert_value!(skein::PoolBuilder: Send & Sync & Unpin);
// Recorded: a `BoxStream` is `Send` but not `Sync`.
assert_value!(skein::Events: Send & !Sync & Unpin);
// Polled by hand, it holds no boxed stream: `Sync` when its args are.
assert_value!(skein::RoutineStream<Count>: Send & Sync & Unpin);
assert_value!(skein::DispatchInfo: Send & Sync & Unpin);
assert_value!(skein::RestartPolicy: Send & Sync & Unpin);
assert_value!(skein::SupervisionEvent: Send & Sync & Unpin);
assert_value!(skein::Never: Send & Sync & Unpin);
// A state is shared by every routine of the pool, on any thread: `T` is `Send + Sync`.
assert_value!(skein::State<String>: Send & Sync & Unpin);
assert_value!(skein::StateError: Send & Sync & Unpin);

/// Every stream routine's stream is `Send` and `Unpin` (so `StreamExt::next` works
/// on it, and it can move into a spawned task), whatever its item type.
#[allow(dead_code)]
fn routine_stream_is_send_and_unpin_for_every_routine<R: StreamRoutine>(
    stream: &skein::RoutineStream<R>,
) {
    require_send(stream);
    require_unpin(stream);
}

// The futures users spawn. `Pool::call` borrows the pool, so it is `Sync` only while
// the args are.
async_assert_fn!(skein::Pool::call<Add>(_, (i64, i64)): Send & Sync & !Unpin);
async_assert_fn!(skein::Pool::call<SendOnly>(_, Cell<u64>): Send & !Sync & !Unpin);
async_assert_fn!(skein::Pool::call_timeout<Add>(_, (i64, i64), Duration): Send & Sync & !Unpin);
async_assert_fn!(skein::Pool::call_timeout<SendOnly>(_, Cell<u64>, Duration): Send & !Sync & !Unpin);
// Recorded: it holds an `Events` across its await.
async_assert_fn!(skein::Pool::wait_for_workers(_, usize, Duration): Send & !Sync & !Unpin);
async_assert_fn!(skein::call<Add>((i64, i64)): Send & Sync & !Unpin);
async_assert_fn!(skein::call<SendOnly>(Cell<u64>): Send & !Sync & !Unpin);
async_assert_fn!(skein::PoolBuilder::build(skein::PoolBuilder): Send & Sync & !Unpin);

/// The call futures are `Send` for every routine, with nothing but `Routine`'s own
/// bounds (`Args: Send`): checked generically, so no routine can be written whose
/// call cannot be spawned.
#[allow(dead_code)]
fn call_futures_are_send_for_every_routine<R: Routine>(pool: &Pool, args: R::Args) {
    require_send(&pool.call::<R>(args));
}
#[allow(dead_code)]
fn call_timeout_futures_are_send_for_every_routine<R: Routine>(pool: &Pool, args: R::Args) {
    require_send(&pool.call_timeout::<R>(args, Duration::ZERO));
}
#[allow(dead_code)]
fn nested_call_futures_are_send_for_every_routine<R: Routine>(args: R::Args) {
    require_send(&skein::call::<R>(args));
}
/// A call under a scope deadline can be spawned too: `with_deadline` adds only an
/// instant to the future it wraps.
#[allow(dead_code)]
fn deadline_scoped_call_futures_are_send_for_every_routine<R: Routine>(pool: &Pool, args: R::Args) {
    require_send(&skein::with_deadline(Duration::ZERO, pool.call::<R>(args)));
}
#[allow(dead_code)]
fn deadline_scoped_nested_call_futures_are_send_for_every_routine<R: Routine>(args: R::Args) {
    require_send(&skein::with_deadline_at(
        std::time::Instant::now(),
        skein::call::<R>(args),
    ));
}

// ---------------------------------------------------------------------------------
// skein: contexts, variables and tokens.
// ---------------------------------------------------------------------------------

assert_value!(skein::Context: Send & Sync & Unpin);
// Deliberate: a variable is a `static`, and it holds bytes, never a `T`
// (`PhantomData<fn() -> T>`), so it is `Send` and `Sync` whatever `T` is.
assert_value!(skein::ContextVar<u64>: Send & Sync & Unpin);
assert_value!(skein::ContextVar<NN>: Send & Sync & Unpin);
// Deliberate: a token holds the replaced value as bytes, never a `T`, so it travels
// (inside routine args, across tasks) whatever `T` is; so does the error that hands
// it back.
assert_value!(skein::Token<u64>: Send & Sync & Unpin);
assert_value!(skein::Token<NN>: Send & Sync & Unpin);
assert_value!(skein::ResetError<u64>: Send & Sync & Unpin);
assert_value!(skein::ResetError<NN>: Send & Sync & Unpin);
assert_value!(skein::ResetErrorKind: Send & Sync & Unpin);
assert_value!(skein::SetError: Send & Sync & Unpin);
assert_value!(skein::GetError: Send & Sync & Unpin);
assert_value!(skein::InstallError: Send & Sync & Unpin);
assert_value!(skein::InstallMode: Send & Sync & Unpin);
assert_value!(skein::context::Registration: Send & Sync & Unpin);
assert_value!(skein::context::CollisionError: Send & Sync & Unpin);
assert_value!(skein::payload::PayloadError: Send & Sync & Unpin);
// Deliberate: a decoded payload passes its value's auto traits through.
assert_value!(skein::payload::Incoming<YY>: Send & Sync & Unpin);
assert_value!(skein::payload::Incoming<YN>: Send & !Sync & Unpin);
assert_value!(skein::payload::Incoming<NN>: !Send & !Sync & Unpin);

async_assert_fn!(skein::ContextVar<u64>::reset(_, Token<u64>): Send & Sync & !Unpin);

/// `reset` is `Send` for every variable, whatever its type (it holds the token and
/// bytes, never a `T`, across its await).
#[allow(dead_code)]
fn reset_futures_are_send_for_every_var<T>(var: &'static ContextVar<T>, token: Token<T>)
where
    T: serde::Serialize + serde::de::DeserializeOwned + 'static,
{
    require_send(&var.reset(token));
}

// Deliberate: a scope (or fork) is `Send`/`Sync` exactly when the future it runs is,
// so `skein::spawn` and `tokio::spawn` accept it whenever they accept the future.
async_assert_fn!(skein::scope(BoxFutureSync<()>): Send & Sync & !Unpin);
async_assert_fn!(skein::scope(BoxFutureSend<()>): Send & !Sync & !Unpin);
async_assert_fn!(skein::scope(BoxFuture<()>): !Send & !Sync & !Unpin);
async_assert_fn!(skein::fork(BoxFutureSync<()>): Send & Sync & !Unpin);
async_assert_fn!(skein::fork(BoxFutureSend<()>): Send & !Sync & !Unpin);
async_assert_fn!(skein::fork(BoxFuture<()>): !Send & !Sync & !Unpin);
async_assert_fn!(skein::Context::scope(_, BoxFutureSend<()>): Send & !Sync & !Unpin);
async_assert_fn!(skein::Context::scope(_, BoxFuture<()>): !Send & !Sync & !Unpin);

// ---------------------------------------------------------------------------------
// skein: errors. Each must box into `Box<dyn Error + Send + Sync>` for `?`.
// ---------------------------------------------------------------------------------

assert_value!(skein::DispatchError: Send & Sync & Unpin);
assert_value!(skein::DispatchError<skein::ErrorMessage>: Send & Sync & Unpin);
assert_value!(skein::DispatchError<Never>: Send & Sync & Unpin);
// Deliberate: the routine's own error's auto traits pass through, no more.
assert_value!(skein::DispatchError<YY>: Send & Sync & Unpin);
assert_value!(skein::DispatchError<YN>: Send & !Sync & Unpin);
assert_value!(skein::DispatchError<NN>: !Send & !Sync & Unpin);
assert_value!(skein::actors::Failure: Send & Sync & Unpin);
assert_value!(skein::BuildError: Send & Sync & Unpin);
assert_value!(skein::WaitError: Send & Sync & Unpin);
assert_value!(skein::RequestError: Send & Sync & Unpin);
assert_value!(skein::Error: Send & Sync & Unpin);
assert_value!(skein::RoutineFailure: Send & Sync & Unpin);

assert_boxable_error!(
    skein::DispatchError<skein::ErrorMessage>,
    skein::DispatchError<Never>,
    skein::BuildError,
    skein::WaitError,
    skein::RequestError,
    skein::StateError,
    skein::SetError,
    skein::GetError,
    skein::ResetError<u64>,
    skein::ResetError<NN>,
    skein::InstallError,
    skein::payload::PayloadError,
    skein::context::CollisionError,
    skein::Error,
    skein::RoutineFailure,
);

// ---------------------------------------------------------------------------------
// skein::actors: supervision, workers and the wire.
// ---------------------------------------------------------------------------------

assert_value!(skein::actors::WorkerSet: Send & Sync & Unpin);
assert_value!(skein::actors::Supervisor: Send & Sync & Unpin);
assert_value!(skein::actors::SupervisorBuilder: Send & Sync & Unpin);
assert_value!(skein::actors::StartError: Send & Sync & Unpin);
assert_value!(skein::actors::Admission: Send & Sync & Unpin);
assert_value!(skein::actors::WorkerMsg: Send & Sync & Unpin);
assert_value!(ractor::ActorRef<WorkerMsg>: Send & Sync & Unpin);
assert_value!(skein::actors::Dispatch: Send & Sync & Unpin);
assert_value!(skein::actors::DispatchKind: Send & Sync & Unpin);
assert_value!(skein::actors::Pull: Send & Sync & Unpin);
assert_value!(skein::actors::Reply: Send & Sync & Unpin);
assert_value!(skein::actors::Request: Send & Sync & Unpin);
assert_value!(skein::actors::Outcome: Send & Sync & Unpin);
assert_value!(skein::actors::Manifest: Send & Sync & Unpin);
assert_value!(skein::actors::VarEntry: Send & Sync & Unpin);
assert_value!(skein::actors::VarKey: Send & Sync & Unpin);
assert_value!(skein::actors::Binding: Send & Sync & Unpin);
assert_value!(skein::actors::Blob: Send & Sync & Unpin);
assert_value!(skein::actors::EntryWarning: Send & Sync & Unpin);
assert_value!(skein::actors::Limits: Send & Sync & Unpin);
assert_value!(skein::actors::EncodeError: Send & Sync & Unpin);
assert_value!(skein::actors::DecodeError: Send & Sync & Unpin);
assert_value!(skein::actors::ChainId: Send & Sync & Unpin);
assert_value!(skein::actors::DispatchId: Send & Sync & Unpin);
assert_value!(skein::actors::LedgerId: Send & Sync & Unpin);
assert_value!(skein::actors::TokenId: Send & Sync & Unpin);
assert_value!(skein::actors::Ledger: Send & Sync & Unpin);
assert_value!(skein::actors::LedgerDelta: Send & Sync & Unpin);
assert_value!(skein::actors::SpendOutcome: Send & Sync & Unpin);
assert_value!(skein::actors::LedgerUnavailable: Send & Sync & Unpin);
assert_value!(skein::actors::HomeLedger: Send & Sync & Unpin);
assert_value!(&'static skein::actors::HomeLedger: Send & Sync & Unpin);
// The executor is shared by every worker: `Send + Sync` by its supertraits. A stream
// session is owned by the one task that drives it: deliberately `Send` only.
assert_value!(std::sync::Arc<dyn skein::actors::Executor>: Send & Sync & Unpin);
assert_value!(Box<dyn skein::actors::StreamSession>: Send & !Sync & Unpin);

async_assert_fn!(skein::actors::spend(TokenId): Send & Sync & !Unpin);
async_assert_fn!(skein::actors::is_spent(TokenId): Send & Sync & !Unpin);
async_assert_fn!(skein::actors::crash(&ractor::ActorRef<WorkerMsg>, String): Send & Sync & !Unpin);
async_assert_fn!(skein::actors::SupervisorBuilder::start(skein::actors::SupervisorBuilder): Send & Sync & !Unpin);

assert_boxable_error!(
    skein::actors::StartError,
    skein::actors::EncodeError,
    skein::actors::DecodeError,
    skein::actors::LedgerUnavailable,
);

// ---------------------------------------------------------------------------------
// Nodes (feature `cluster`).
// ---------------------------------------------------------------------------------

#[cfg(feature = "cluster")]
mod cluster {
    use super::*;

    assert_value!(skein::Node: Send & Sync & Unpin);
    assert_value!(skein::NodeBuilder: Send & Sync & Unpin);
    assert_value!(skein::NodeError: Send & Sync & Unpin);
    assert_value!(skein::ConnectError: Send & Sync & Unpin);
    assert_value!(skein::NodeEvent: Send & Sync & Unpin);
    assert_value!(skein::actors::Tls: Send & Sync & Unpin);
    // With the `cluster` feature the pool's builder holds a node too.
    assert_value!(skein::PoolBuilder: Send & Sync & Unpin);

    async_assert_fn!(skein::NodeBuilder::build(skein::NodeBuilder): Send & Sync & !Unpin);
    async_assert_fn!(skein::Node::connect(_, std::net::SocketAddr): Send & Sync & !Unpin);

    assert_boxable_error!(skein::NodeError, skein::ConnectError);
}

// ---------------------------------------------------------------------------------
// The one test: the futures and streams, spawned as users spawn them.
// ---------------------------------------------------------------------------------

/// The checks above are compile-time; this spawns the handles' futures and streams
/// onto a multi-threaded runtime (which needs `Send + 'static`), and checks they run.
#[test]
fn handles_spawn_onto_a_multi_threaded_runtime() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime builds");
    runtime.block_on(async {
        let bound = Duration::from_secs(10);
        let pool = tokio::spawn(
            Pool::builder()
                .workers(2)
                .routine::<Add>()
                .routine::<Nested>()
                .stream_routine::<Count>()
                .build(),
        )
        .await
        .expect("the build task ends")
        .expect("pool builds");

        let p = pool.clone();
        let call = tokio::spawn(async move { p.call::<Add>((1, 2)).await });
        let p = pool.clone();
        let nested = tokio::spawn(async move { p.call::<Nested>((3, 4)).await });
        let p = pool.clone();
        let timed = tokio::spawn(async move { p.call_timeout::<Add>((5, 6), bound).await });
        let p = pool.clone();
        let wait = tokio::spawn(async move { p.wait_for_workers(2, bound).await });
        let outside = tokio::spawn(skein::call::<Add>((7, 8)));
        let stream = pool.stream::<Count>(3);
        let items = tokio::spawn(stream.collect::<Vec<_>>());
        let events = pool.events();
        let events = tokio::spawn(async move { drop(events) });
        let reset = skein::spawn(async {
            let token = VAR.set(1).expect("set inside a fork");
            VAR.reset(token).await.map_err(|e| e.kind())
        });

        let joined = tokio::time::timeout(bound, async {
            (
                call.await,
                nested.await,
                timed.await,
                wait.await,
                outside.await,
                items.await,
                events.await,
                reset.await,
            )
        })
        .await
        .expect("every spawned task ends within the bound");
        let (call, nested, timed, wait, outside, items, events, reset) = joined;
        assert_eq!(call.expect("call task"), Ok(3));
        assert_eq!(nested.expect("nested task"), Ok(7));
        assert_eq!(timed.expect("timed task"), Ok(11));
        assert_eq!(wait.expect("wait task"), Ok(()));
        assert_eq!(
            outside.expect("outside task"),
            Err(DispatchError::NotInRoutine)
        );
        assert_eq!(items.expect("stream task"), vec![Ok(0), Ok(1), Ok(2)]);
        events.expect("events task");
        assert_eq!(reset.expect("reset task"), Ok(()));
    });
}
