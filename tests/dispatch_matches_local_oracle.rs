//! The oracle property (reference R102–R103): any strictly sequential script of
//! set/get/reset on 1–3 variables, each op run in the caller's scope or inside a
//! simulated dispatch nested up to 2 deep, gives the same values after every op and
//! the same reset errors as the same script run in one local scope.

mod support;

use std::future::Future;
use std::pin::Pin;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use skein::{ContextVar, ResetErrorKind, Token};

static V0: ContextVar<i64> = ContextVar::new("oracle", "v0");
static V1: ContextVar<i64> = ContextVar::new("oracle", "v1");
static V2: ContextVar<i64> = ContextVar::with_default("oracle", "v2", || -1);

fn var(index: usize) -> &'static ContextVar<i64> {
    [&V0, &V1, &V2][index]
}

/// One op of a script; `depth` 0 runs it in the caller, 1–2 inside nested dispatches.
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
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum Seen {
    Set,
    Get(Option<i64>),
    Reset(Result<(), u8>),
}

fn code(kind: ResetErrorKind) -> u8 {
    match kind {
        ResetErrorKind::AlreadyUsed => 1,
        ResetErrorKind::WrongVar => 2,
        ResetErrorKind::DifferentContext => 3,
        other => panic!("unexpected reset error in a sequential script: {other:?}"),
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

// ---- the real run: each op as a request that may cross nested dispatches ----

#[derive(Serialize, Deserialize)]
enum Request {
    Set(usize, i64),
    Get(usize),
    Reset(usize, Token<i64>),
}

#[derive(Serialize, Deserialize)]
enum Response {
    Set(Token<i64>),
    Get(Option<i64>),
    Reset(Result<(), (u8, Token<i64>)>),
}

fn run(request: Request, depth: u32) -> Pin<Box<dyn Future<Output = Response>>> {
    Box::pin(async move {
        if depth > 0 {
            return support::dispatch(request, |request| run(request, depth - 1)).await;
        }
        match request {
            Request::Set(v, value) => Response::Set(var(v).set(value).expect("set in scope")),
            Request::Get(v) => Response::Get(var(v).get().expect("get")),
            Request::Reset(v, token) => Response::Reset(
                var(v)
                    .reset(token)
                    .await
                    .map_err(|e| (code(e.kind()), e.into_token())),
            ),
        }
    })
}

async fn real(script: &[Op], vars: usize) -> Vec<(Seen, Vec<Option<i64>>)> {
    // The caller keeps every token and sends a `duplicate()` with each reset, as a
    // Python caller keeps its token object: a spent token then answers `AlreadyUsed`
    // through the ledger, and a refused one can be tried again later.
    let mut tokens: Vec<Token<i64>> = Vec::new();
    let mut trace = Vec::new();
    for op in script {
        let seen = match *op {
            Op::Set { var, value, depth } => match run(Request::Set(var, value), depth).await {
                Response::Set(token) => {
                    tokens.push(token);
                    Seen::Set
                }
                _ => unreachable!(),
            },
            Op::Get { var, depth } => match run(Request::Get(var), depth).await {
                Response::Get(value) => Seen::Get(value),
                _ => unreachable!(),
            },
            Op::Reset { token, var, depth } => match pick(token, tokens.len()) {
                None => Seen::Set,
                Some(index) => {
                    match run(Request::Reset(var, tokens[index].duplicate()), depth).await {
                        Response::Reset(Ok(())) => Seen::Reset(Ok(())),
                        Response::Reset(Err((code, _handed_back))) => Seen::Reset(Err(code)),
                        _ => unreachable!(),
                    }
                }
            },
        };
        let values = (0..vars).map(|v| var(v).get().expect("get")).collect();
        trace.push((seen, values));
    }
    trace
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

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1_000))]

    #[test]
    fn any_sequential_script_matches_one_local_scope((vars, script) in script()) {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let got = runtime.block_on(skein::scope(real(&script, vars)));
        prop_assert_eq!(got, oracle(&script, vars));
    }
}
