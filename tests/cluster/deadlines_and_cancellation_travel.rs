//! Deadlines and cancellation travel across processes: a chain of three hops, each in
//! a worker process of its own, ends on every hop when the caller's scope deadline
//! passes (S118), and is cancelled on every hop when the caller goes away (S119).
//!
//! Each hop appends what happens to it to a log file the test reads: its start, and
//! how it ended (its nested call's failure, or `dropped` when its cleanup ran without
//! it ending), with the wall-clock time, which every process on this host shares.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use skein::{DispatchError, ErrorMessage, Pool, Route, Routine};

use crate::routines;
use crate::support::{within, BOUND};

/// How many hops a chain has; the last one sleeps.
const HOPS: usize = 3;

/// One hop of a chain: `(log, which hop, whether the last hop sleeps)`. Hop `i` runs
/// in worker process `i`, the only one tagged [`hop_tag`]`(i)`: it records its start,
/// calls the next hop there (`skein::call_on`), and records how that call ended; the
/// last hop sleeps, or answers at once. Its drop guard records `dropped` if it never
/// got to record an end. An empty log records nothing.
pub struct Hop;
impl Routine for Hop {
    const NAME: &'static str = "cluster.deadline_hop";
    type Args = (String, usize, bool);
    type Output = ();
    type Error = ErrorMessage;
    async fn run((log, hop, sleep): (String, usize, bool)) -> Result<(), ErrorMessage> {
        let mut record = Record {
            log: log.clone(),
            hop,
            ended: false,
        };
        record.event("start");
        if hop + 1 == HOPS {
            if sleep {
                tokio::time::sleep(Duration::from_secs(60)).await;
            }
            record.end("slept");
            return Ok(());
        }
        let next = skein::call_on::<Hop>(&route_to(hop + 1), (log, hop + 1, sleep)).await;
        match &next {
            Ok(()) => record.end("ok"),
            Err(e) => record.end(e.kind()),
        }
        next.map_err(ErrorMessage::from)
    }
}

/// The tag of worker process `index`, where hop `index` runs.
fn hop_tag(index: usize) -> Vec<String> {
    vec![format!("hop-{index}")]
}

/// The route to the worker process where hop `hop` runs.
fn route_to(hop: usize) -> Route {
    hop_tag(hop)
        .into_iter()
        .fold(Route::any(), |route, tag| route.tag(tag))
}

/// A hop's lines in the log; dropped before it recorded an end, it records `dropped`.
struct Record {
    log: String,
    hop: usize,
    ended: bool,
}

impl Record {
    fn event(&self, what: &str) {
        if self.log.is_empty() {
            return;
        }
        let line = format!(
            "{} {} {what} {}\n",
            self.hop,
            std::process::id(),
            unix_micros()
        );
        // One small write to a file opened to append: lines of processes never mix.
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&self.log)
            .expect("the test's log opens");
        file.write_all(line.as_bytes())
            .expect("the log takes a line");
    }

    fn end(&mut self, how: &str) {
        self.ended = true;
        self.event(how);
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        if !self.ended {
            self.event("dropped");
        }
    }
}

fn unix_micros() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is past 1970");
    u64::try_from(since.as_micros()).expect("micros fit")
}

/// One line of the log.
#[derive(Debug, Clone)]
struct Event {
    hop: usize,
    pid: u32,
    what: String,
    at: u64,
}

fn read_log(path: &Path) -> Vec<Event> {
    let text = std::fs::read_to_string(path).expect("the log reads");
    text.lines()
        .map(|line| {
            let parts: Vec<&str> = line.split(' ').collect();
            let [hop, pid, what, at] = parts[..] else {
                panic!("a log line of four fields: {line:?}");
            };
            Event {
                hop: hop.parse().expect("hop"),
                pid: pid.parse().expect("pid"),
                what: what.to_string(),
                at: at.parse().expect("time"),
            }
        })
        .collect()
}

/// Polls the log (bounded by [`BOUND`], failing loudly) until `done` holds of it.
async fn wait_for_log(path: &Path, what: &str, done: impl Fn(&[Event]) -> bool) -> Vec<Event> {
    let deadline = Instant::now() + BOUND;
    loop {
        let events = read_log(path);
        if done(&events) {
            return events;
        }
        assert!(
            Instant::now() < deadline,
            "{what}: after {BOUND:?} the log is {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn starts(events: &[Event]) -> Vec<&Event> {
    events.iter().filter(|e| e.what == "start").collect()
}

fn ends(events: &[Event]) -> Vec<&Event> {
    events.iter().filter(|e| e.what != "start").collect()
}

/// A fresh, empty log for one test.
fn new_log(test: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "skein-{test}-{}-{}.log",
        std::process::id(),
        unix_micros()
    ));
    std::fs::File::create(&path).expect("the log is created");
    path
}

/// Every hop started once, in a worker process of its own.
fn assert_crossed_processes(events: &[Event]) {
    let starts = starts(events);
    let hops: Vec<usize> = starts.iter().map(|e| e.hop).collect();
    assert_eq!(hops.len(), HOPS, "each hop started once: {events:#?}");
    let pids: BTreeSet<u32> = starts.iter().map(|e| e.pid).collect();
    assert_eq!(
        pids.len(),
        HOPS,
        "each hop in a process of its own: {events:#?}"
    );
    assert!(
        !pids.contains(&std::process::id()),
        "no hop ran in the test's process"
    );
}

/// A pool of worker processes that have met each other. Siblings dial each other as
/// they start, and two simultaneous dials are reduced to one session (a brief
/// `Disconnected` in between, failing what is in flight on it): so chains that answer
/// at once are run until 8 in a row cross every process, before a test's own chain.
async fn settled_pool() -> Pool {
    let pool = routines()
        .processes(HOPS)
        .process_tags(hop_tag)
        .build()
        .await
        .expect("pool builds");
    pool.wait_for_workers(HOPS, BOUND)
        .await
        .expect("every worker process joined");
    let pool = pool.on(route_to(0));
    let deadline = Instant::now() + BOUND;
    let mut in_a_row = 0;
    while in_a_row < 8 {
        assert!(
            Instant::now() < deadline,
            "the worker processes did not all reach each other within {BOUND:?}"
        );
        let probe = pool.call::<Hop>((String::new(), 0, false));
        in_a_row = match within(BOUND, "a probe chain", probe).await {
            Ok(()) => in_a_row + 1,
            Err(_) => 0,
        };
    }
    pool
}

pub async fn a_deadline_ends_every_hop_of_a_chain_across_processes() {
    let pool = settled_pool().await;
    let log = new_log("deadline");
    let args = (log.display().to_string(), 0, true);
    let started_at = unix_micros();
    let started = Instant::now();
    let result = within(
        BOUND,
        "a chain under a 200 ms deadline",
        skein::with_deadline(Duration::from_millis(200), pool.call::<Hop>(args)),
    )
    .await;
    let took = started.elapsed();
    assert_eq!(result, Err(DispatchError::Timeout), "the caller's end");
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_millis(300),
        "the caller ends at its deadline: {took:?}"
    );
    let events = wait_for_log(&log, "every hop ends", |events| ends(events).len() == HOPS).await;
    assert_crossed_processes(&events);
    for end in ends(&events) {
        // A hop's own deadline is its caller's plus the time its request took to
        // arrive, and its caller's cancel arrives about then too: it ends either by
        // its nested call's `Timeout` or by being dropped, and nothing else.
        let fine = if end.hop + 1 == HOPS {
            end.what == "dropped"
        } else {
            end.what == "timeout" || end.what == "dropped"
        };
        assert!(fine, "hop {} ended {:?}: {events:#?}", end.hop, end.what);
        assert!(
            end.at.saturating_sub(started_at) < 300_000,
            "hop {} ended within 300 ms: {} µs",
            end.hop,
            end.at - started_at
        );
    }
    let _ = std::fs::remove_file(&log);
}

pub async fn dropping_the_caller_cancels_every_hop_across_processes() {
    let pool = settled_pool().await;
    let log = new_log("cancel");
    let args = (log.display().to_string(), 0, true);
    let mut call = Box::pin(pool.call::<Hop>(args));
    let formed = wait_for_log(&log, "the chain forms", |events| {
        starts(events).len() == HOPS
    });
    tokio::select! {
        result = &mut call => panic!("the chain ended before it was dropped: {result:?}"),
        _ = formed => {}
    }
    let dropped_at = unix_micros();
    drop(call);
    let events = wait_for_log(&log, "every hop is cancelled", |events| {
        ends(events).len() == HOPS
    })
    .await;
    assert_crossed_processes(&events);
    for end in ends(&events) {
        assert_eq!(
            end.what, "dropped",
            "hop {} was cancelled: its cleanup ran: {events:#?}",
            end.hop
        );
        assert!(
            end.at.saturating_sub(dropped_at) < 100_000,
            "hop {} cancelled within 100 ms of the drop: {} µs",
            end.hop,
            end.at.saturating_sub(dropped_at)
        );
    }
    let _ = std::fs::remove_file(&log);
}
