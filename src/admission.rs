//! A pool's admission hook: a function the pool's workers ask, before a routine
//! runs, whether to run it at all (S120–S124).
//!
//! The hook runs on the worker, in the task the dispatch starts, after the caller's
//! context is installed there and before the tokens that came in the args are
//! anchored. So it reads the caller's values with [`ContextVar::get`](crate::ContextVar::get),
//! and a call it rejects has anchored nothing, run nothing and spent nothing: its reply
//! carries no manifest and an empty delta, and the tokens of its args are dropped on
//! the worker as orphans, which hands their weight back to their home (S77 holds).
//!
//! The fixed limits of a worker (`max_concurrency`, `max_queue`, which
//! [`skein::actors::Admission`](crate::actors::Admission) names) are checked first, in
//! the worker's table; a dispatch the hook is asked about has a slot.

use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use skein_actors::{DispatchError, DispatchId, DispatchKind, Failure, Load, Manifest};

use crate::context::payload::Incoming;
use crate::context::{Context, InstallMode};
use crate::routine::panic_message;

/// What an admission hook is asked about: one dispatch, as it is about to start on a
/// worker. See [`PoolBuilder::admission_hook`](crate::PoolBuilder::admission_hook).
#[derive(Clone, Copy, Debug)]
pub struct AdmissionRequest<'a> {
    routine: &'a str,
    dispatch: DispatchId,
    caller: Option<DispatchId>,
    kind: DispatchKind,
    load: Load,
}

impl AdmissionRequest<'_> {
    /// The name of the routine the dispatch would run.
    pub fn routine(&self) -> &str {
        self.routine
    }

    /// The dispatch's id.
    pub fn dispatch(&self) -> DispatchId {
        self.dispatch
    }

    /// The dispatch whose routine made this call, for a nested call
    /// ([`skein::call`](crate::call)); `None` for a root call.
    pub fn caller(&self) -> Option<DispatchId> {
        self.caller
    }

    /// Whether it is a call or a stream being opened.
    pub fn kind(&self) -> DispatchKind {
        self.kind
    }

    /// The worker's load as the dispatch starts: `in_flight` counts the dispatches
    /// running beside it (not itself), `queued` the root dispatches waiting.
    pub fn load(&self) -> Load {
        self.load
    }
}

/// An admission hook's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Run the routine.
    Admit,
    /// Do not run it: the caller gets [`DispatchError::Rejected`] with this reason.
    Reject {
        /// Why, as the caller will read it.
        reason: String,
    },
}

impl Verdict {
    /// A rejection for `reason`.
    pub fn reject(reason: impl Into<String>) -> Verdict {
        Verdict::Reject {
            reason: reason.into(),
        }
    }
}

/// The hook's type, erased.
type HookFn = dyn Fn(&AdmissionRequest<'_>) -> Verdict + Send + Sync;

/// A pool's admission hook, shared by its workers (and cloned into each dispatch only
/// when one is installed).
#[derive(Clone)]
pub(crate) struct AdmissionHook(Arc<HookFn>);

impl fmt::Debug for AdmissionHook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdmissionHook")
    }
}

impl AdmissionHook {
    pub(crate) fn new(
        hook: impl Fn(&AdmissionRequest<'_>) -> Verdict + Send + Sync + 'static,
    ) -> AdmissionHook {
        AdmissionHook(Arc::new(hook))
    }
}

/// What the worker's executor keeps of a dispatch for the hook, when the pool has
/// one: boxed, so a pool without a hook carries one pointer's worth in each
/// dispatch's task, and pays nothing else.
pub(crate) fn gate(
    hook: Option<&AdmissionHook>,
    routine: &'static str,
    request: &skein_actors::Request,
    kind: DispatchKind,
    load: Load,
) -> Option<Box<Gate>> {
    hook.map(|hook| {
        Box::new(Gate {
            hook: hook.clone(),
            routine,
            dispatch: request.id,
            caller: request.caller,
            kind,
            load,
        })
    })
}

/// One dispatch waiting for the hook's verdict.
pub(crate) struct Gate {
    hook: AdmissionHook,
    routine: &'static str,
    dispatch: DispatchId,
    caller: Option<DispatchId>,
    kind: DispatchKind,
    load: Load,
}

impl Gate {
    /// Asks the hook inside `cx`. A hook that panics rejects the dispatch (S123): the
    /// worker lives on, and the panic is one ERROR event, as a routine's is.
    fn ask(&self, cx: &Context) -> Result<(), Failure> {
        let request = AdmissionRequest {
            routine: self.routine,
            dispatch: self.dispatch,
            caller: self.caller,
            kind: self.kind,
            load: self.load,
        };
        let verdict = cx
            .sync_scope(|| std::panic::catch_unwind(AssertUnwindSafe(|| (self.hook.0)(&request))));
        match verdict {
            Ok(Verdict::Admit) => Ok(()),
            Ok(Verdict::Reject { reason }) => Err(DispatchError::Rejected { reason }),
            Err(panic) => {
                let message = panic_message(panic);
                tracing::error!(
                    routine = self.routine,
                    dispatch = %self.dispatch,
                    panic = %message,
                    "skein admission hook panicked"
                );
                Err(DispatchError::Rejected {
                    reason: format!("the admission hook panicked: {message}"),
                })
            }
        }
    }
}

/// Installs the caller's frame in `cx` as [`Context::receive`] does, with the gate's
/// hook (if any) asked in between: the frame is merged, the hook reads it, and only an
/// admitted dispatch anchors the tokens of its args. A rejected one drops them as
/// orphans, so their weight goes home and nothing is marked spent (S121).
pub(crate) fn receive<T>(
    cx: &Context,
    gate: Option<Box<Gate>>,
    manifest: &Manifest,
    incoming: Incoming<T>,
    mode: InstallMode,
) -> Result<T, Failure> {
    let Some(gate) = gate else {
        return cx
            .receive(manifest, incoming, mode)
            .map(|(value, _warnings)| value)
            .map_err(DispatchError::Context);
    };
    cx.merge(manifest, mode).map_err(DispatchError::Context)?;
    gate.ask(cx)?;
    Ok(cx.anchor(incoming))
}
