//! The oracle property (reference R102–R103, DESIGN §9) through a real pool: any
//! strictly sequential script of set/get/reset on 1–3 variables, each op run in the
//! caller's scope, on a worker (`pool.call`, depth 1) or on a worker called from a
//! worker (`skein::call` inside a routine, depth 2), gives the same values after every
//! op and the same reset errors as the same script run in one local scope.
//!
//! The op and oracle model is the one of `tests/dispatch_matches_local_oracle.rs`,
//! where the dispatch is simulated; here every hop is a real dispatch on 4 workers.

use std::future::Future;
use std::pin::Pin;
use std::sync::OnceLock;
use std::time::Duration;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use skein::{ContextVar, Never, Pool, ResetErrorKind, Routine, Token};
use tokio::runtime::Runtime;

static V0: ContextVar<i64> = ContextVar::new("pool_oracle", "v0");
static V1: ContextVar<i64> = ContextVar::new("pool_oracle", "v1");
static V2: ContextVar<i64> = ContextVar::with_default("pool_oracle", "v2", || -1);

fn var(index: usize) -> &'static ContextVar<i64> {
    [&V0, &V1, &V2][index]
}

/// One op of a script; `depth` 0 runs it in the caller, 1–2 on the pool.
#[derive(Clone, Debug)]
enum Op {
    Set {
        var: usize,
        value: i64,
        depth: u32,
    },
    Get {
        var: usize,
        depth: u32,
    },
    Reset {
        token: usize,
        var: usize,
        depth: u32,
    },
}

fn op(vars: usize) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..vars, -5i64..5, 0u32..3).prop_map(|(var, value, depth)| Op::Set { var, value, depth }),
        (0..vars, 0u32..3).prop_map(|(var, depth)| Op::Get { var, depth }),
        (0usize..12, 0..vars, 0u32..3).prop_map(|(token, var, depth)| Op::Reset {
            token,
            var,
            depth
        }),
    ]
}

fn script() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=3).prop_flat_map(|vars| (Just(vars), prop::collection::vec(op(vars), 1..=12)))
}

/// What an op observed, compared between the oracle and the real run.
#[derive(Clone, Debug, PartialEq)]
enum Seen {
    Set,
    Get(Option<i64>),
    Reset(Result<(), u8>),
}

/// A reset error as it travels back; 9 is never produced by the oracle, so an
/// unexpected kind (`NoScope`, `LedgerUnavailable`) shows up as a mismatch.
fn code(kind: ResetErrorKind) -> u8 {
    match kind {
        ResetErrorKind::AlreadyUsed => 1,
        ResetErrorKind::WrongVar => 2,
        ResetErrorKind::DifferentContext => 3,
        _ => 9,
    }
}

// ---- the oracle: stdlib contextvars semantics in one context ----

struct OracleToken {
    var: usize,
    old: Option<i64>,
    used: bool,
}

struct Oracle {
    values: [Option<i64>; 3],
    tokens: Vec<OracleToken>,
}

impl Oracle {
    fn get(&self, var: usize) -> Option<i64> {
        self.values[var].or(if var == 2 { Some(-1) } else { None })
    }

    fn step(&mut self, op: &Op) -> Seen {
        match *op {
            Op::Set { var, value, .. } => {
                self.tokens.push(OracleToken {
                    var,
                    old: self.values[var],
                    used: false,
                });
                self.values[var] = Some(value);
                Seen::Set
            }
            Op::Get { var, .. } => Seen::Get(self.get(var)),
            Op::Reset { token, var, .. } => {
                let Some(index) = pick(token, self.tokens.len()) else {
                    return Seen::Set; // no token yet: the op is skipped on both sides
                };
                let t = &mut self.tokens[index];
                if t.used {
                    Seen::Reset(Err(1))
                } else if t.var != var {
                    Seen::Reset(Err(2))
                } else {
                    t.used = true;
                    self.values[var] = t.old;
                    Seen::Reset(Ok(()))
                }
            }
        }
    }
}

fn pick(token: usize, minted: usize) -> Option<usize> {
    (minted > 0).then(|| token % minted)
}

fn oracle(script: &[Op], vars: usize) -> Vec<(Seen, Vec<Option<i64>>)> {
    let mut oracle = Oracle {
        values: [None; 3],
        tokens: Vec::new(),
    };
    script
        .iter()
        .map(|op| {
            let seen = oracle.step(op);
            (seen, (0..vars).map(|v| oracle.get(v)).collect())
        })
        .collect()
}

// ---- the real run: each op as a request that may cross one or two real dispatches ----

#[derive(Serialize, Deserialize)]
enum OpRequest {
    Set(usize, i64),
    Get(usize),
    Reset(usize, Token<i64>),
}

#[derive(Serialize, Deserialize)]
enum OpResponse {
    Set(Token<i64>),
    Get(Option<i64>),
    Reset(Result<(), (u8, Token<i64>)>),
}

/// Runs one op in the current context: the caller's, or a worker's.
async fn local(request: OpRequest) -> OpResponse {
    match request {
        OpRequest::Set(v, value) => OpResponse::Set(var(v).set(value).expect("set in scope")),
        OpRequest::Get(v) => OpResponse::Get(var(v).get().expect("get")),
        OpRequest::Reset(v, token) => OpResponse::Reset(
            var(v)
                .reset(token)
                .await
                .map_err(|e| (code(e.kind()), e.into_token())),
        ),
    }
}

/// Depth 1: the op runs on a worker.
struct OpRoutine;
impl Routine for OpRoutine {
    const NAME: &'static str = "pool_oracle.op";
    type Args = OpRequest;
    type Output = OpResponse;
    type Error = Never;
    async fn run(request: OpRequest) -> Result<OpResponse, Never> {
        Ok(local(request).await)
    }
}

/// Depth 2: a worker dispatches the op to the pool again (reference R6–R9).
struct NestedOp;
impl Routine for NestedOp {
    const NAME: &'static str = "pool_oracle.nested";
    type Args = OpRequest;
    type Output = OpResponse;
    type Error = String;
    async fn run(request: OpRequest) -> Result<OpResponse, String> {
        skein::call::<OpRoutine>(request)
            .await
            .map_err(|e| e.to_string())
    }
}

fn run(
    pool: &Pool,
    request: OpRequest,
    depth: u32,
) -> Pin<Box<dyn Future<Output = OpResponse> + '_>> {
    Box::pin(async move {
        match depth {
            0 => local(request).await,
            1 => pool
                .call::<OpRoutine>(request)
                .await
                .expect("depth-1 dispatch"),
            _ => pool
                .call::<NestedOp>(request)
                .await
                .expect("depth-2 dispatch"),
        }
    })
}

async fn real(pool: &Pool, script: &[Op], vars: usize) -> Vec<(Seen, Vec<Option<i64>>)> {
    // The caller keeps every token and sends a `duplicate()` with each reset, as a
    // Python caller keeps its token object: a spent token then answers `AlreadyUsed`
    // through the ledger, and a refused one can be tried again later.
    let mut tokens: Vec<Token<i64>> = Vec::new();
    let mut trace = Vec::new();
    for op in script {
        let seen = match *op {
            Op::Set { var, value, depth } => {
                match run(pool, OpRequest::Set(var, value), depth).await {
                    OpResponse::Set(token) => {
                        tokens.push(token);
                        Seen::Set
                    }
                    _ => unreachable!("a set answers Set"),
                }
            }
            Op::Get { var, depth } => match run(pool, OpRequest::Get(var), depth).await {
                OpResponse::Get(value) => Seen::Get(value),
                _ => unreachable!("a get answers Get"),
            },
            Op::Reset { token, var, depth } => match pick(token, tokens.len()) {
                None => Seen::Set,
                Some(index) => {
                    let request = OpRequest::Reset(var, tokens[index].duplicate());
                    match run(pool, request, depth).await {
                        OpResponse::Reset(Ok(())) => Seen::Reset(Ok(())),
                        OpResponse::Reset(Err((code, _handed_back))) => Seen::Reset(Err(code)),
                        _ => unreachable!("a reset answers Reset"),
                    }
                }
            },
        };
        let values = (0..vars).map(|v| var(v).get().expect("get")).collect();
        trace.push((seen, values));
    }
    trace
}

/// One runtime and one pool for every case: building them per case would dominate.
fn env() -> &'static (Runtime, Pool) {
    static ENV: OnceLock<(Runtime, Pool)> = OnceLock::new();
    ENV.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime builds");
        let pool = runtime
            .block_on(
                Pool::builder()
                    .workers(4)
                    .routine::<OpRoutine>()
                    .routine::<NestedOp>()
                    .build(),
            )
            .expect("pool builds");
        (runtime, pool)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_sequential_script_over_a_real_pool_matches_one_local_scope((vars, script) in script()) {
        let (runtime, pool) = env();
        let got = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(10), pool.scope(real(pool, &script, vars)))
                .await
                .expect("hung: a script did not finish within 10 s")
        });
        prop_assert_eq!(got, oracle(&script, vars));
    }
}
