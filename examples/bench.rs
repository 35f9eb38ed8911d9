//! skein's benchmark, with wool's case names, beside baselines from the same run.
//!
//!     cargo run --release --example bench -- [--quick] [--mode local] [--pin] [--subscriber]
//!     cargo run --release --features cluster --example bench -- [--mode local|process|all]
//!
//! Prints one JSON line per case: `case`, `mode`, `p50_us`, `p99_us`, `per_s`, plus
//! case-specific fields. Every figure is meant to be read as a ratio against the
//! baseline printed in the same run: `baseline_ractor_call` for the in-process pool
//! (`local`); `baseline_remote_call` (a bare ractor_cluster remote call between the same
//! processes) and `loopback_rtt` (a 64-byte TCP ping-pong) for the pool of 2 worker
//! processes (`process`). `--pin` re-runs everything on CPU 0 (`taskset -c 0`); worker
//! processes inherit it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::stream::FuturesUnordered;
use futures::StreamExt;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use skein::actors::{Ledger, LedgerId, TokenId};
use skein::{ContextVar, ErrorMessage, Never, Pool, PoolBuilder, Routine, StreamRoutine};

/// Counts live heap bytes, for the ledger memory case. A global allocator is the only
/// way to see what a data structure really holds; it forwards to the system allocator.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call forwards to `System` with the caller's own layout and pointer.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size(), Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(new_size, Ordering::Relaxed);
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

struct Add;
impl Routine for Add {
    const NAME: &'static str = "bench.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = Never;
    async fn run((x, y): (i64, i64)) -> Result<i64, Never> {
        Ok(x + y)
    }
}

struct NestedAdd;
impl Routine for NestedAdd {
    const NAME: &'static str = "bench.nested_add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = ErrorMessage;
    async fn run(args: (i64, i64)) -> Result<i64, ErrorMessage> {
        skein::call::<Add>(args).await.map_err(ErrorMessage::from)
    }
}

const TENANT_VALUE: &str = "tenant-acme-0001";
static TENANT: ContextVar<String> =
    ContextVar::with_default("woolbench", "tenant", || "none".into());
static COUNTER: ContextVar<i64> = ContextVar::with_default("woolbench", "counter", || -1);

struct AddReadCtx;
impl Routine for AddReadCtx {
    const NAME: &'static str = "bench.add_read_ctx";
    type Args = (i64, i64);
    type Output = i64;
    type Error = ErrorMessage;
    async fn run((x, y): (i64, i64)) -> Result<i64, ErrorMessage> {
        match TENANT.get() {
            Some(tenant) if tenant == TENANT_VALUE => Ok(x + y),
            other => Err(format!("context not propagated: {other:?}").into()),
        }
    }
}

struct AddSetCtx;
impl Routine for AddSetCtx {
    const NAME: &'static str = "bench.add_set_ctx";
    type Args = (i64, i64);
    type Output = i64;
    type Error = ErrorMessage;
    async fn run((x, y): (i64, i64)) -> Result<i64, ErrorMessage> {
        let _ = COUNTER.set(x).map_err(ErrorMessage::from)?;
        Ok(x + y)
    }
}

struct Count;
impl StreamRoutine for Count {
    const NAME: &'static str = "bench.stream";
    type Args = u64;
    type Item = u64;
    type Error = Never;
    fn run(n: u64) -> impl futures::Stream<Item = Result<u64, Never>> + Send + 'static {
        futures::stream::iter((0..n).map(Ok))
    }
}

/// The baseline: a bare ractor actor answering a `call`.
struct Echo;

struct Ping(i64, RpcReplyPort<i64>);

// Under skein's `cluster` feature ractor asks every message type to say whether it can
// cross nodes; without it, every type is a message.
#[cfg(feature = "cluster")]
impl ractor::Message for Ping {}

impl Actor for Echo {
    type Msg = Ping;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        Ping(x, reply): Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let _ = reply.send(x + 1);
        Ok(())
    }
}

/// The remote baseline: a bare actor in each worker process answering a ractor_cluster
/// remote call (32-byte request, 16-byte reply).
#[cfg(feature = "cluster")]
#[derive(skein::actors::RactorClusterMessage)]
enum RemoteEchoMsg {
    #[rpc]
    Ask(Vec<u8>, RpcReplyPort<Vec<u8>>),
}

#[cfg(feature = "cluster")]
struct RemoteEcho;
#[cfg(feature = "cluster")]
impl Actor for RemoteEcho {
    type Msg = RemoteEchoMsg;
    type State = ();
    type Arguments = ();
    async fn pre_start(&self, _: ActorRef<Self::Msg>, _: ()) -> Result<(), ActorProcessingErr> {
        Ok(())
    }
    async fn handle(
        &self,
        _: ActorRef<Self::Msg>,
        message: Self::Msg,
        _: &mut (),
    ) -> Result<(), ActorProcessingErr> {
        let RemoteEchoMsg::Ask(request, reply) = message;
        let _ = reply.send(request[..16].to_vec());
        Ok(())
    }
}

#[cfg(feature = "cluster")]
const ECHO_GROUP: &str = "bench.echo";

fn routines() -> PoolBuilder {
    Pool::builder()
        .routine::<Add>()
        .routine::<NestedAdd>()
        .routine::<AddReadCtx>()
        .routine::<AddSetCtx>()
        .stream_routine::<Count>()
        .routine::<Bounce>()
}

struct Config {
    quick: bool,
    mode: String,
    /// Run only the cases whose name contains this (for profiling one case).
    only: Option<String>,
}

impl Config {
    fn wants(&self, case: &str) -> bool {
        // Baselines always run: every case is read as a ratio against them.
        if case.starts_with("baseline_") || case == "loopback_rtt" {
            return true;
        }
        self.only
            .as_ref()
            .is_none_or(|only| case.contains(only.as_str()))
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i].as_secs_f64() * 1e6
}

fn report(
    case: &str,
    mode: &str,
    mut latencies: Vec<Duration>,
    count: usize,
    wall: Duration,
    extra: &str,
) {
    latencies.sort_unstable();
    println!(
        "{{\"case\": \"{case}\", \"mode\": \"{mode}\", \"p50_us\": {:.3}, \"p99_us\": {:.3}, \"per_s\": {:.0}{extra}}}",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        count as f64 / wall.as_secs_f64()
    );
}

/// Times `n` sequential runs of `op`.
async fn sequential<F, Fut>(n: usize, mut op: F) -> (Vec<Duration>, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        op(i).await;
        latencies.push(t.elapsed());
    }
    (latencies, start.elapsed())
}

/// Keeps 64 runs of `op` in flight until `n` are done; latency is per run.
async fn in_flight_64<F, Fut>(n: usize, mut op: F) -> (Vec<Duration>, Duration)
where
    F: FnMut(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut latencies = Vec::with_capacity(n);
    let mut running = FuturesUnordered::new();
    let start = Instant::now();
    let mut next = 0;
    while latencies.len() < n {
        while running.len() < 64 && next < n {
            let fut = op(next);
            running.push(async move {
                let t = Instant::now();
                fut.await;
                t.elapsed()
            });
            next += 1;
        }
        if let Some(latency) = running.next().await {
            latencies.push(latency);
        }
    }
    (latencies, start.elapsed())
}

/// Runs `op` as the sequential case `seq` and as the 64-in-flight case `conc`, each
/// when it is wanted.
async fn seq_and_conc<F, Fut>(
    config: &Config,
    mode: &str,
    n: usize,
    (seq, conc): (&str, &str),
    op: F,
) where
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if config.wants(seq) {
        let (lat, wall) = sequential(n, &op).await;
        report(seq, mode, lat, n, wall, "");
    }
    if config.wants(conc) {
        let (lat, wall) = in_flight_64(n, &op).await;
        report(conc, mode, lat, n, wall, "");
    }
}

async fn local(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let mode = "local";
    let n = if config.quick { 20_000 } else { 200_000 };

    let (echo, _) = Actor::spawn(None, Echo, ()).await?;
    let call = |i: usize| {
        let echo = echo.clone();
        async move {
            let _ = ractor::call!(echo, |reply| Ping(i as i64, reply));
        }
    };
    seq_and_conc(
        config,
        mode,
        n,
        ("baseline_ractor_call", "baseline_ractor_call_conc64"),
        call,
    )
    .await;

    let pool = routines().workers(2).build().await?;
    cases(config, &pool, mode, n).await
}

/// A 64-byte TCP ping-pong on 127.0.0.1 between two blocking threads: the floor of
/// any round trip between processes.
#[cfg(feature = "cluster")]
fn loopback_rtt(n: usize) -> Result<(Vec<Duration>, Duration), std::io::Error> {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let server = std::thread::spawn(move || -> std::io::Result<()> {
        let (mut socket, _) = listener.accept()?;
        socket.set_nodelay(true)?;
        let mut buf = [0u8; 64];
        while socket.read_exact(&mut buf).is_ok() {
            socket.write_all(&buf)?;
        }
        Ok(())
    });
    let mut client = std::net::TcpStream::connect(addr)?;
    client.set_nodelay(true)?;
    let mut buf = [7u8; 64];
    let mut latencies = Vec::with_capacity(n);
    let start = Instant::now();
    for _ in 0..n {
        let t = Instant::now();
        client.write_all(&buf)?;
        client.read_exact(&mut buf)?;
        latencies.push(t.elapsed());
    }
    let wall = start.elapsed();
    drop(client);
    let _ = server.join();
    Ok((latencies, wall))
}

#[cfg(not(feature = "cluster"))]
async fn process(_: &Config) -> Result<(), Box<dyn std::error::Error>> {
    Err("the process mode needs worker processes: run with --features cluster".into())
}

#[cfg(feature = "cluster")]
async fn process(config: &Config) -> Result<(), Box<dyn std::error::Error>> {
    let mode = "process";
    let n = if config.quick { 5_000 } else { 20_000 };

    let (lat, wall) = tokio::task::spawn_blocking(move || loopback_rtt(n)).await??;
    report("loopback_rtt", mode, lat, n, wall, "");

    let pool = routines().processes(2).build().await?;
    pool.wait_for_workers(2, Duration::from_secs(30)).await?;

    // The bare remote call, to the echo actors the two worker processes started.
    let deadline = Instant::now() + Duration::from_secs(30);
    let echoes = loop {
        let echoes: Vec<ActorRef<RemoteEchoMsg>> = ractor::pg::get_members(&ECHO_GROUP.to_string())
            .into_iter()
            .filter(|cell| !cell.get_id().is_local())
            .map(ActorRef::from)
            .collect();
        if echoes.len() >= 2 {
            break echoes;
        }
        if Instant::now() > deadline {
            return Err("the worker processes' echo actors never appeared".into());
        }
        tokio::task::yield_now().await;
    };
    let ask = |echo: &ActorRef<RemoteEchoMsg>| {
        let echo = echo.clone();
        async move {
            match echo
                .call(|reply| RemoteEchoMsg::Ask(vec![1u8; 32], reply), None)
                .await
            {
                Ok(ractor::rpc::CallResult::Success(answer)) => assert_eq!(answer.len(), 16),
                other => panic!("remote echo failed: {other:?}"),
            }
        }
    };
    let names = ("baseline_remote_call", "baseline_remote_call_conc64");
    seq_and_conc(config, mode, n, names, |i| ask(&echoes[i % echoes.len()])).await;

    cases(config, &pool, mode, n).await?;
    if config.wants("ledger_soak_remote") {
        ledger_soak_remote(&pool, if config.quick { 20_000 } else { 100_000 }).await;
    }
    Ok(())
}

/// wool's cases, on `pool`.
async fn cases(
    config: &Config,
    pool: &Pool,
    mode: &str,
    n: usize,
) -> Result<(), Box<dyn std::error::Error>> {
    let add = |i: usize| {
        let pool = pool.clone();
        async move {
            pool.call::<Add>((i as i64, 1)).await.expect("add");
        }
    };
    seq_and_conc(config, mode, n, ("seq_add", "conc64_add"), add).await;

    if config.wants("nested_add") {
        let (lat, wall) = sequential(n / 2, |i| {
            let pool = pool.clone();
            async move {
                pool.call::<NestedAdd>((i as i64, 1))
                    .await
                    .expect("nested add");
            }
        })
        .await;
        report("nested_add", mode, lat, n / 2, wall, "");
    }

    // Streams: latency is the gap between consecutive items; per_s is items/s over
    // the whole stream, dispatch included. Exact streams ask for each item when it is
    // wanted; `ahead(64)` lets the worker run 64 steps ahead.
    for (case, ahead) in [("stream_1000", 0), ("stream_1000_ahead64", 64)] {
        if !config.wants(case) {
            continue;
        }
        let streams = if config.quick { 10 } else { 50 };
        let mut gaps = Vec::with_capacity(streams * 1_000);
        let start = Instant::now();
        for _ in 0..streams {
            let mut items = pool.stream::<Count>(1_000).ahead(ahead);
            let mut last = Instant::now();
            while let Some(item) = items.next().await {
                item.expect("item");
                let now = Instant::now();
                gaps.push(now - last);
                last = now;
            }
        }
        report(case, mode, gaps, streams * 1_000, start.elapsed(), "");
    }

    // Context cases: the caller has set a var, so a manifest rides every frame.
    skein::scope(async {
        let _token = TENANT.set(TENANT_VALUE.to_string()).expect("set");
        let read = |i: usize| {
            let pool = pool.clone();
            async move {
                pool.call::<AddReadCtx>((i as i64, 1)).await.expect("ctx");
            }
        };
        seq_and_conc(config, mode, n, ("seq_ctx", "conc64_ctx"), read).await;
    })
    .await;

    // Merge cases: the routine sets a var that merges back into the caller.
    if config.wants("seq_merge") {
        // Every call in one chain.
        let (lat, wall) = skein::scope(sequential(n, |i| {
            let pool = pool.clone();
            async move {
                pool.call::<AddSetCtx>((i as i64, 1)).await.expect("merge");
                assert_eq!(COUNTER.get(), Some(i as i64), "merge-back");
            }
        }))
        .await;
        report("seq_merge", mode, lat, n, wall, "");
    }
    if config.wants("seq_merge_fresh") {
        // Every call in a fresh scope.
        let (lat, wall) = sequential(n, |i| {
            let pool = pool.clone();
            skein::scope(async move {
                pool.call::<AddSetCtx>((i as i64, 1)).await.expect("merge");
                assert_eq!(COUNTER.get(), Some(i as i64), "merge-back");
            })
        })
        .await;
        report("seq_merge_fresh", mode, lat, n, wall, "");
    }
    if config.wants("conc64_merge") {
        // Each concurrent call runs in its own fork, as wool's gather forks tasks.
        let (lat, wall) = in_flight_64(n, |i| {
            let pool = pool.clone();
            skein::fork(async move {
                pool.call::<AddSetCtx>((i as i64, 1)).await.expect("merge");
            })
        })
        .await;
        report("conc64_merge", mode, lat, n, wall, "");
    }

    if config.wants("merge_growth") {
        // Growth: one chain, 100,000 merging calls; p50 of the last 1,000 over the first.
        let (lat, _) = skein::scope(async {
            sequential(if mode == "local" { 100_000 } else { 20_000 }, |i| {
                let pool = pool.clone();
                async move {
                    pool.call::<AddSetCtx>((i as i64, 1)).await.expect("merge");
                }
            })
            .await
        })
        .await;
        let mut first: Vec<Duration> = lat[..1_000].to_vec();
        let mut last: Vec<Duration> = lat[lat.len() - 1_000..].to_vec();
        first.sort_unstable();
        last.sort_unstable();
        let (p_first, p_last) = (percentile(&first, 0.5), percentile(&last, 0.5));
        println!(
            "{{\"case\": \"merge_growth\", \"mode\": \"{mode}\", \"p50_first_1k_us\": {p_first:.3}, \"p50_last_1k_us\": {p_last:.3}, \"ratio\": {:.3}}}",
            p_last / p_first
        );
    }
    Ok(())
}

/// The variable of the ledger soaks.
static SOAK: ContextVar<u64> = ContextVar::new("woolbench", "soak");

/// Sends the token it is given straight back: a token that crosses to a worker and
/// returns.
struct Bounce;
impl Routine for Bounce {
    const NAME: &'static str = "bench.bounce";
    type Args = skein::Token<u64>;
    type Output = skein::Token<u64>;
    type Error = Never;
    async fn run(token: skein::Token<u64>) -> Result<skein::Token<u64>, Never> {
        Ok(token)
    }
}

/// The home ledger when its tokens cross to a worker and back: `n` sets, each token
/// sent to a worker of `pool` and returned, then reset (half) or dropped unspent
/// (half). Every handle gives its weight back when it goes, the worker's over the
/// session, so the ledger should again end as a handful of runs.
#[cfg(feature = "cluster")]
async fn ledger_soak_remote(pool: &Pool, n: u64) {
    let home = skein::actors::home();
    let start = Instant::now();
    for i in 0..n {
        skein::scope(async {
            let token = SOAK.set(i).expect("set");
            let back = pool.call::<Bounce>(token).await.expect("bounce");
            if i % 2 == 0 {
                SOAK.reset(back).await.expect("reset");
            }
        })
        .await;
    }
    let elapsed = start.elapsed();
    // The workers' weight comes back as messages; give the last ones a bounded time.
    let deadline = Instant::now() + Duration::from_secs(5);
    while home.partly_released() > 0 && Instant::now() < deadline {
        tokio::task::yield_now().await;
    }
    println!(
        "{{\"case\": \"ledger_soak_remote\", \"mode\": \"process\", \"sets\": {n}, \"reset\": {}, \"dropped\": {}, \"runs\": {}, \"partly_released\": {}, \"per_s\": {:.0}}}",
        n.div_ceil(2),
        n / 2,
        home.runs(),
        home.partly_released(),
        n as f64 / elapsed.as_secs_f64()
    );
}

/// The home ledger over a long life: `n` sets, each in a scope of its own (as a
/// service's requests would be), half reset and half dropped unspent. A dropped token
/// never left this process, so its id is closed at home; the ledger should end as a
/// handful of runs, whatever `n` is.
async fn ledger_soak(n: u64) {
    let before = LIVE.load(Ordering::Relaxed) as i64;
    let start = Instant::now();
    for i in 0..n {
        skein::scope(async {
            let token = SOAK.set(i).expect("set");
            if i % 2 == 0 {
                SOAK.reset(token).await.expect("reset");
            }
        })
        .await;
    }
    let elapsed = start.elapsed();
    let grew = LIVE.load(Ordering::Relaxed) as i64 - before;
    let home = skein::actors::home();
    println!(
        "{{\"case\": \"ledger_soak\", \"mode\": \"local\", \"sets\": {n}, \"reset\": {}, \"dropped\": {}, \"runs\": {}, \"heap_growth_bytes\": {grew}, \"per_s\": {:.0}}}",
        n.div_ceil(2),
        n / 2,
        home.runs(),
        n as f64 / elapsed.as_secs_f64()
    );
}

fn ledger_memory() {
    let before = LIVE.load(Ordering::Relaxed);
    let mut ledger = Ledger::new();
    let home = LedgerId::new();
    // The worst case for the run-length scheme: every other id spent.
    for seq in 0..1_000_000u64 {
        ledger.spend(TokenId::new(home, seq * 2));
    }
    let bytes = LIVE.load(Ordering::Relaxed) - before;
    println!(
        "{{\"case\": \"ledger_1m_spent\", \"mode\": \"any\", \"bytes\": {bytes}, \"runs\": {}, \"order\": \"every other id (worst case)\"}}",
        ledger.runs()
    );
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Worker processes re-run this binary: serve the routines, plus the bare echo
    // actor of the remote baseline.
    #[cfg(feature = "cluster")]
    skein::serve_if_worker_with(routines, |_node| async {
        if let Ok((echo, _)) = Actor::spawn(None, RemoteEcho, ()).await {
            ractor::pg::join(ECHO_GROUP.to_string(), vec![echo.get_cell()]);
            std::mem::forget(echo); // lives as long as the process
        }
    });
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--subscriber") {
        // A subscriber that records every span (a `tracing_subscriber` registry, no
        // output): what the spans cost when something records them.
        use tracing_subscriber::layer::SubscriberExt;
        tracing::subscriber::set_global_default(
            tracing_subscriber::registry().with(tracing_subscriber::layer::Identity::new()),
        )?;
    }
    let value = |flag: &str| {
        args.iter()
            .position(|a| a == flag)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let config = Config {
        quick: args.iter().any(|a| a == "--quick"),
        mode: value("--mode").unwrap_or_else(|| "local".into()),
        only: value("--case"),
    };
    if args.iter().any(|a| a == "--pin") && std::env::var_os("SKEIN_BENCH_PINNED").is_none() {
        // Re-run the same command on CPU 0 only.
        let status = std::process::Command::new("taskset")
            .args(["-c", "0"])
            .arg(std::env::current_exe()?)
            .args(&args)
            .env("SKEIN_BENCH_PINNED", "1")
            .status()?;
        std::process::exit(status.code().unwrap_or(1));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let mode = config.mode.clone();
    let config_wants_ledger = config.wants("ledger_1m_spent");
    let soak =
        config
            .wants("ledger_soak")
            .then_some(if config.quick { 1_000_000 } else { 10_000_000 });
    let config = std::sync::Arc::new(config);
    // Run the cases on a runtime worker thread: a `block_on` thread would add a
    // cross-thread wake-up to every call, baseline included.
    let run = |which: &'static str| {
        let config = config.clone();
        runtime.block_on(async move {
            tokio::spawn(async move {
                match which {
                    "local" => local(&config).await,
                    _ => process(&config).await,
                }
                .map_err(|e| e.to_string())
            })
            .await
        })
    };
    match mode.as_str() {
        "local" => run("local")??,
        "process" => run("process")??,
        "all" => {
            run("local")??;
            run("process")??;
        }
        other => return Err(format!("unknown mode {other:?}: use local, process or all").into()),
    }
    if let Some(n) = soak {
        runtime.block_on(async { tokio::spawn(ledger_soak(n)).await })?;
    }
    if config_wants_ledger {
        ledger_memory();
    }
    Ok(())
}
