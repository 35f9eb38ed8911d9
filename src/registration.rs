//! What `#[skein::routine]` expands to leans on: the registration each marked routine
//! submits, which every pool collects at `build()`, and the checks that report a type
//! that cannot travel in a routine's terms.
//!
//! Nothing here is public API: the generated code reaches it through
//! `skein::__private`.

use std::marker::PhantomData;

use futures::{Stream, StreamExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::executor::Routines;
use crate::routine::{Never, Routine, RoutineError, StreamRoutine};
use crate::state::State;

/// A marked routine, as `inventory` holds it until a pool is built.
#[derive(Debug)]
pub struct Registration {
    /// Adds the routine; `Err(name)` if another routine already holds its name.
    add: fn(&mut Routines) -> Result<(), &'static str>,
}

inventory::collect!(Registration);

impl Registration {
    /// The registration of a marked `async fn`.
    pub const fn call<R: Routine>() -> Registration {
        Registration { add: add_call::<R> }
    }

    /// The registration of a marked streaming `fn`.
    pub const fn stream<R: StreamRoutine>() -> Registration {
        Registration {
            add: add_stream::<R>,
        }
    }
}

fn add_call<R: Routine>(routines: &mut Routines) -> Result<(), &'static str> {
    if routines.add_call::<R>() {
        Ok(())
    } else {
        Err(R::NAME)
    }
}

fn add_stream<R: StreamRoutine>(routines: &mut Routines) -> Result<(), &'static str> {
    if routines.add_stream::<R>() {
        Ok(())
    } else {
        Err(R::NAME)
    }
}

/// Adds every marked routine linked into the program; `Err` with the first name that
/// another routine already holds.
pub(crate) fn add_marked(routines: &mut Routines) -> Result<(), &'static str> {
    let mut duplicate = None;
    for registration in inventory::iter::<Registration> {
        if let Err(name) = (registration.add)(routines) {
            duplicate.get_or_insert(name);
        }
    }
    duplicate.map_or(Ok(()), Err)
}

/// What a routine's argument must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a routine's argument",
    label = "not serializable, or not `Send + 'static`",
    note = "a routine's arguments travel to a worker as MessagePack: each must implement `Serialize` and `Deserialize` (`#[derive(serde::Serialize, serde::Deserialize)]`), and be `Send + 'static`"
)]
pub trait Arg {}

// Not recommended, so a type that is not one is reported with the note above rather
// than with the one serde bound it misses.
#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Arg for T {}

/// What a routine's output (or a stream's item) must be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be a routine's output",
    label = "not serializable, or not `Send + 'static`",
    note = "a routine's output travels back to the caller as MessagePack: it must implement `Serialize` and `Deserialize` (`#[derive(serde::Serialize, serde::Deserialize)]`), and be `Send + 'static`"
)]
pub trait Output {}

#[diagnostic::do_not_recommend]
impl<T: Serialize + DeserializeOwned + Send + 'static> Output for T {}

/// Names `T` where the user wrote an argument's type, so a `T` that is not an [`Arg`]
/// is reported there in its words.
#[derive(Debug)]
pub struct IsArg<T: Arg>(PhantomData<T>);

/// As [`IsArg`], for the output.
#[derive(Debug)]
pub struct IsOutput<T: Output>(PhantomData<T>);

/// As [`IsArg`], for the error; [`RoutineError`] says what is missing.
#[derive(Debug)]
pub struct IsError<E: RoutineError>(PhantomData<E>);

/// A stream of plain items, as a routine's stream that cannot fail.
pub fn infallible<S: Stream>(stream: S) -> impl Stream<Item = Result<S::Item, Never>> {
    stream.map(Ok)
}

/// A marked routine's `State<T>` argument, from the pool whose worker runs it: what
/// the macro asks of an argument whose type is named `State<...>`, so one that is not
/// skein's is reported in these words rather than as a type mismatch.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not `skein::State<T>`",
    label = "read from the pool's state, because its type is named `State`",
    note = "`#[skein::routine]` takes an argument whose type is named `State<T>` as the pool's `skein::State<T>`, fetched on the worker rather than sent: use `skein::State`, or give a type of your own another name to send it as an arg"
)]
pub trait FromPool: Sized {
    /// The state, or a panic naming `routine` and the type if the pool has none,
    /// which the caller gets as `DispatchError::Panicked`: the routine's own error
    /// type may be `Never`, so it cannot carry the failure.
    fn from_pool(routine: &'static str) -> Self;
}

impl<T: Send + Sync + 'static> FromPool for State<T> {
    fn from_pool(routine: &'static str) -> State<T> {
        State::get().unwrap_or_else(|e| {
            panic!(
                "routine `{routine}` takes a `State<{}>`: {e}",
                std::any::type_name::<T>()
            )
        })
    }
}
