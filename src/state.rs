//! A pool's state: values of any type given to the builder once
//! ([`PoolBuilder::state`](crate::PoolBuilder::state)), built when the pool is built,
//! and read by every routine that runs on the pool's workers through a [`State`]
//! handle. This is where a database pool, a config or an HTTP client lives, instead of
//! a `static`.
//!
//! This file imports nothing of the crate: the pool's `Caller` holds the [`States`],
//! and [`State::get`] is written beside the dispatch frame it reads (`executor.rs`).

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::ops::Deref;
use std::sync::Arc;

/// A handle to one of the pool's states: cheap to clone (one shared value, counted),
/// and a `&T` through [`Deref`].
///
/// In a routine's body, [`State::get`] finds the state of the pool whose worker runs
/// it. A `#[skein::routine]` fn takes it as an argument instead: an argument of type
/// `State<T>` is not one of the routine's args, the routine fetches it from its pool.
///
/// # Examples
///
/// ```
/// use skein::{ErrorMessage, Pool, Routine, State};
///
/// struct Greeting(String);
///
/// /// An explicit routine asks for its state.
/// struct Greet;
/// impl Routine for Greet {
///     const NAME: &'static str = "doc.state.greet";
///     type Args = String;
///     type Output = String;
///     type Error = ErrorMessage;
///     async fn run(name: String) -> Result<String, ErrorMessage> {
///         let greeting = State::<Greeting>::get()?;
///         Ok(format!("{} {name}", greeting.0))
///     }
/// }
///
/// /// A marked routine takes it as an argument; its args are only `name`.
/// #[skein::routine(name = "doc.state.shout")]
/// async fn shout(name: String, greeting: State<Greeting>) -> String {
///     format!("{} {}!", greeting.0.to_uppercase(), name)
/// }
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = Pool::builder()
///     .workers(2)
///     .state(|| Greeting("hello".to_string()))
///     .routine::<Greet>()
///     .build()
///     .await?;
/// assert_eq!(pool.call::<Greet>("ada".to_string()).await?, "hello ada");
/// assert_eq!(pool.call::<Shout>("ada".to_string()).await?, "HELLO ada!");
///
/// // Outside a routine there is no pool to read it from.
/// assert_eq!(
///     State::<Greeting>::get().err(),
///     Some(skein::StateError::NotInRoutine)
/// );
/// // The fn is still a fn: a test gives it a state of its own.
/// assert_eq!(shout("bo".into(), State::new(Greeting("hi".into()))).await, "HI bo!");
/// # Ok(()) }
/// ```
pub struct State<T>(Arc<T>);

impl<T> State<T> {
    /// A handle to a value of its own, outside any pool: for calling a routine's fn
    /// directly, in a unit test say.
    pub fn new(value: T) -> State<T> {
        State(Arc::new(value))
    }

    /// The shared value, to keep or hand on beyond the handle.
    pub fn into_arc(self) -> Arc<T> {
        self.0
    }
}

impl<T> Clone for State<T> {
    fn clone(&self) -> State<T> {
        State(Arc::clone(&self.0))
    }
}

impl<T> Deref for State<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for State<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}

impl<T> From<Arc<T>> for State<T> {
    fn from(value: Arc<T>) -> State<T> {
        State(value)
    }
}

impl<T: fmt::Debug> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("State").field(&*self.0).finish()
    }
}

/// Why [`State::get`] found no state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// The pool whose worker runs the routine was given no state of this type.
    #[error(
        "the routine's pool has no state of type `{type_name}`: give it one with `PoolBuilder::state`"
    )]
    Missing {
        /// The type asked for, as [`std::any::type_name`] spells it.
        type_name: &'static str,
    },
    /// Not called in a routine's body (nor in a stream routine's poll), so there is no
    /// pool to read a state from. A task the routine spawns is outside it too: get the
    /// handle first and move it in.
    #[error("not inside a routine: a pool's state is read in the body of a routine")]
    NotInRoutine,
    /// The routine's pool was dropped while the routine ran: its workers are stopping.
    #[error("the routine's pool was dropped")]
    PoolDropped,
}

/// One state as the pool holds it: the value, and its type's name for `Debug`.
struct Entry {
    type_name: &'static str,
    value: Arc<dyn Any + Send + Sync>,
}

/// A pool's states, one per type. Built once, when the pool is, and read-only after:
/// no lock is taken to read one.
#[derive(Default)]
pub(crate) struct States {
    by_type: HashMap<TypeId, Entry>,
}

impl States {
    /// Adds `value`, replacing a state of the same type.
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.by_type.insert(
            TypeId::of::<T>(),
            Entry {
                type_name: std::any::type_name::<T>(),
                value: Arc::new(value),
            },
        );
    }

    /// The state of type `T`, if the pool has one.
    pub(crate) fn get<T: Send + Sync + 'static>(&self) -> Option<State<T>> {
        let entry = self.by_type.get(&TypeId::of::<T>())?;
        Arc::clone(&entry.value).downcast::<T>().ok().map(State)
    }
}

impl fmt::Debug for States {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.by_type.values().map(|entry| entry.type_name))
            .finish()
    }
}
