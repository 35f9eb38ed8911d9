//! Worker processes: children that re-run the current binary as worker nodes, kept
//! alive by a supervisor.
//!
//! A child learns where its parent's node listens from its environment, and reads the
//! cookie from the first line of its stdin; it then keeps reading stdin, and exits as
//! soon as stdin closes. The parent holds the other end: when the parent drops its
//! pool the child is killed, and when the parent process dies (even by SIGKILL) the
//! kernel closes the pipe and the child exits. No orphan outlives its parent.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};

use super::events::SupervisionEvent;
use super::restart::{RestartPolicy, RestartWindow, Verdict};
use super::slots::WorkerSet;

/// The environment variable that tells a process it is a worker process, holding its
/// parent node's address.
pub const PARENT_ENV: &str = "SKEIN_WORKER_PARENT";
/// The environment variable holding a worker process's index among its siblings.
pub const INDEX_ENV: &str = "SKEIN_WORKER_INDEX";
/// The environment variable holding how many in-process workers a worker process runs.
pub const WORKERS_ENV: &str = "SKEIN_WORKER_THREADS";
/// The line a parent writes on a worker process's stdin to have it drain and exit,
/// followed by the grace in milliseconds.
pub const DRAIN_LINE: &str = "drain";
/// The environment variable holding the tags a worker process's workers carry, one
/// per line (set by `PoolBuilder::process_tags`).
pub const TAGS_ENV: &str = "SKEIN_WORKER_TAGS";
/// The tags of each worker process, by its index.
pub type ProcessTags = fn(usize) -> Vec<String>;

/// The tags a worker process was started with ([`TAGS_ENV`]), none if unset.
pub fn tags_from_env() -> Vec<String> {
    std::env::var(TAGS_ENV)
        .map(|tags| {
            tags.lines()
                .filter(|tag| !tag.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The argument worker processes are started with. A binary that did not call the
/// entry hook (a test harness, say) refuses an unknown argument and exits, instead of
/// running its own main again.
pub const WORKER_ARG: &str = "--skein-worker";

/// What the process supervisor starts with.
#[derive(Debug, Clone)]
pub(crate) struct ProcessArgs {
    /// The binary to run: the current one.
    pub(crate) exe: PathBuf,
    /// How many worker processes.
    pub(crate) count: usize,
    /// In-process workers in each.
    pub(crate) workers_each: usize,
    /// Where the parent's node listens.
    pub(crate) parent: String,
    /// The cluster's cookie, handed over on stdin.
    pub(crate) cookie: String,
    /// The tags of each child's workers, by index.
    pub(crate) tags: Option<ProcessTags>,
    /// How crashed children are restarted.
    pub(crate) policy: RestartPolicy,
    /// The pool's workers: where events go, and the failed flag.
    pub(crate) set: WorkerSet,
}

/// Messages of the process supervisor.
#[derive(Debug)]
pub(crate) enum ProcessMsg {
    /// Child `index` exited with this status (sent by its watcher task).
    Exited(usize, u64, String),
    /// Start child `index` (sent to itself after a backoff).
    Start(usize),
    /// The pool is shutting down: tell every child to drain within `grace` and exit,
    /// restart none, and answer once every child has exited.
    Drain(Duration, RpcReplyPort<()>),
}

impl ractor::Message for ProcessMsg {}

/// Supervises the worker processes.
#[derive(Debug, Default)]
pub(crate) struct ProcessSupervisor;

/// The process supervisor's state: one slot per child.
#[derive(Debug)]
pub(crate) struct ProcessState {
    args: ProcessArgs,
    /// The pid of each running child, with the generation that tells a stale exit
    /// report from a current one.
    children: Vec<Option<(u32, u64)>>,
    generation: u64,
    window: RestartWindow,
    /// Kill handles: dropping one kills its child (`kill_on_drop`).
    handles: Vec<Option<tokio::task::JoinHandle<()>>>,
    /// Each child's stdin: closing it tells the child its parent is gone, and a drain
    /// is asked for on it.
    stdins: Vec<Option<ChildStdin>>,
    /// Set once the pool shuts down: the answer due when the last child has exited.
    draining: Option<Option<RpcReplyPort<()>>>,
}

impl ProcessState {
    fn emit(&self, event: SupervisionEvent) {
        self.args.set.emit(event);
    }

    async fn start(
        &mut self,
        index: usize,
        myself: &ActorRef<ProcessMsg>,
    ) -> Result<(), ActorProcessingErr> {
        let tags = self.args.tags.map(|tags| tags(index)).unwrap_or_default();
        let mut child = Command::new(&self.args.exe)
            .arg(WORKER_ARG)
            .env(TAGS_ENV, tags.join("\n"))
            .env(PARENT_ENV, &self.args.parent)
            .env(INDEX_ENV, index.to_string())
            .env(WORKERS_ENV, self.args.workers_each.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let pid = child.id().unwrap_or_default();
        let mut stdin = child.stdin.take().ok_or("the child has no stdin")?;
        stdin
            .write_all(format!("{}\n", self.args.cookie).as_bytes())
            .await?;
        self.generation += 1;
        let generation = self.generation;
        self.children[index] = Some((pid, generation));
        self.stdins[index] = Some(stdin);
        let report = myself.clone();
        // The watcher owns the child, and so its kill-on-drop.
        let watcher = tokio::spawn(async move {
            let status = watch(&mut child).await;
            let _ = report.cast(ProcessMsg::Exited(index, generation, status));
        });
        if let Some(old) = self.handles[index].replace(watcher) {
            old.abort();
        }
        self.emit(SupervisionEvent::ProcessStarted {
            process: index,
            pid,
        });
        Ok(())
    }

    /// Asks every child to drain within `grace` and exit: a line on its stdin, which
    /// it reads as its parent's word (see `skein::serve_if_worker`).
    async fn drain(&mut self, grace: Duration, reply: RpcReplyPort<()>) {
        let line = format!("{DRAIN_LINE} {}\n", grace.as_millis());
        for stdin in self.stdins.iter_mut().flatten() {
            // A child whose stdin is gone has exited, or is about to: its exit is
            // reported either way.
            let _ = stdin.write_all(line.as_bytes()).await;
        }
        self.draining = Some(Some(reply));
        self.answer_if_drained();
    }

    /// Answers the drain once no child is left.
    fn answer_if_drained(&mut self) {
        if self.children.iter().all(Option::is_none) {
            if let Some(reply) = self.draining.as_mut().and_then(Option::take) {
                let _ = reply.send(());
            }
        }
    }
}

async fn watch(child: &mut Child) -> String {
    match child.wait().await {
        Ok(status) => status.to_string(),
        Err(e) => e.to_string(),
    }
}

impl Actor for ProcessSupervisor {
    type Msg = ProcessMsg;
    type State = ProcessState;
    type Arguments = ProcessArgs;

    async fn pre_start(
        &self,
        myself: ActorRef<ProcessMsg>,
        args: ProcessArgs,
    ) -> Result<ProcessState, ActorProcessingErr> {
        let count = args.count;
        let mut state = ProcessState {
            window: RestartWindow::new(args.policy),
            args,
            children: vec![None; count],
            generation: 0,
            handles: (0..count).map(|_| None).collect(),
            stdins: (0..count).map(|_| None).collect(),
            draining: None,
        };
        for index in 0..count {
            state.start(index, &myself).await?;
        }
        Ok(state)
    }

    async fn post_stop(
        &self,
        _myself: ActorRef<ProcessMsg>,
        state: &mut ProcessState,
    ) -> Result<(), ActorProcessingErr> {
        // Aborting a watcher drops its child, which kills it.
        for handle in state.handles.iter_mut().filter_map(Option::take) {
            handle.abort();
        }
        Ok(())
    }

    async fn handle(
        &self,
        myself: ActorRef<ProcessMsg>,
        message: ProcessMsg,
        state: &mut ProcessState,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            ProcessMsg::Drain(grace, reply) => state.drain(grace, reply).await,
            ProcessMsg::Start(index) => {
                if state.children[index].is_none() && state.draining.is_none() {
                    state.start(index, &myself).await?;
                }
            }
            ProcessMsg::Exited(index, generation, status) => {
                if state.children[index].map(|(_, g)| g) != Some(generation) {
                    return Ok(()); // a report from a child already replaced
                }
                state.children[index] = None;
                state.stdins[index] = None;
                if state.draining.is_some() {
                    // Asked to: no restart.
                    tracing::info!(process = index, %status, "skein worker process drained");
                    state.answer_if_drained();
                    return Ok(());
                }
                tracing::warn!(process = index, %status, "skein worker process exited");
                state.emit(SupervisionEvent::ProcessExited {
                    process: index,
                    status: status.clone(),
                });
                match state.window.on_death(index) {
                    Verdict::GiveUp { in_window } => {
                        let reason = format!(
                            "worker process {index} exited ({status}) after {in_window} restarts within {:?}",
                            state.window.within()
                        );
                        state.args.set.fail(reason.clone());
                        myself.stop(Some(reason));
                    }
                    Verdict::Restart { after, .. } => {
                        // Never at once: a child that dies on start would spin.
                        myself.send_after(after.max(Duration::from_millis(1)), move || {
                            ProcessMsg::Start(index)
                        });
                    }
                }
            }
        }
        Ok(())
    }
}
