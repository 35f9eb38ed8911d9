//! The oracle model (S38), shared by every oracle test: scripts of
//! set/get/reset ops on 1–3 variables, the same script run on stdlib `contextvars`
//! semantics in one context, and a runner that sends each op wherever the test says
//! (`site`) and records what it saw.

use std::future::Future;

use proptest::prelude::*;
use serde::{Deserialize, Serialize};
use skein::{ContextVar, ResetErrorKind, Token};

static V0: ContextVar<i64> = ContextVar::new("oracle", "v0");
static V1: ContextVar<i64> = ContextVar::new("oracle", "v1");
static V2: ContextVar<i64> = ContextVar::with_default("oracle", "v2", || -1);

pub fn var(index: usize) -> &'static ContextVar<i64> {
    [&V0, &V1, &V2][index]
}

/// One op of a script. `site` says where it runs; each test gives it a meaning (0 is
/// always the caller's own scope).
#[derive(Clone, Debug)]
pub enum Op {
    Set { var: usize, value: i64, site: u32 },
    Get { var: usize, site: u32 },
    Reset { token: usize, var: usize, site: u32 },
}

fn op(vars: usize, sites: u32) -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..vars, -5i64..5, 0..sites).prop_map(|(var, value, site)| Op::Set { var, value, site }),
        (0..vars, 0..sites).prop_map(|(var, site)| Op::Get { var, site }),
        (0usize..12, 0..vars, 0..sites).prop_map(|(token, var, site)| Op::Reset {
            token,
            var,
            site
        }),
    ]
}

/// Scripts of up to 12 ops on 1–3 variables, each op at one of `sites` sites.
pub fn script(sites: u32) -> impl Strategy<Value = (usize, Vec<Op>)> {
    (1usize..=3)
        .prop_flat_map(move |vars| (Just(vars), prop::collection::vec(op(vars, sites), 1..=12)))
}

/// What an op observed, and every variable's value after it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum Seen {
    Set,
    Get(Option<i64>),
    Reset(Result<(), u8>),
}

pub type Trace = Vec<(Seen, Vec<Option<i64>>)>;

pub fn code(kind: ResetErrorKind) -> u8 {
    match kind {
        ResetErrorKind::AlreadyUsed => 1,
        ResetErrorKind::WrongVar => 2,
        ResetErrorKind::DifferentContext => 3,
        other => panic!("unexpected reset error in a sequential script: {other:?}"),
    }
}

fn pick(token: usize, minted: usize) -> Option<usize> {
    (minted > 0).then(|| token % minted)
}

// ---- the oracle: stdlib contextvars semantics in one context ----

struct OracleToken {
    var: usize,
    old: Option<i64>,
    used: bool,
}

/// The script run on stdlib semantics in one context.
pub fn oracle(script: &[Op], vars: usize) -> Trace {
    let mut values: [Option<i64>; 3] = [None; 3];
    let mut tokens: Vec<OracleToken> = Vec::new();
    let get = |values: &[Option<i64>; 3], var: usize| {
        values[var].or(if var == 2 { Some(-1) } else { None })
    };
    script
        .iter()
        .map(|op| {
            let seen = match *op {
                Op::Set { var, value, .. } => {
                    tokens.push(OracleToken {
                        var,
                        old: values[var],
                        used: false,
                    });
                    values[var] = Some(value);
                    Seen::Set
                }
                Op::Get { var, .. } => Seen::Get(get(&values, var)),
                Op::Reset { token, var, .. } => match pick(token, tokens.len()) {
                    None => Seen::Set, // no token yet: skipped on both sides
                    Some(index) => {
                        let t = &mut tokens[index];
                        if t.used {
                            Seen::Reset(Err(1))
                        } else if t.var != var {
                            Seen::Reset(Err(2))
                        } else {
                            t.used = true;
                            values[var] = t.old;
                            Seen::Reset(Ok(()))
                        }
                    }
                },
            };
            (seen, (0..vars).map(|v| get(&values, v)).collect())
        })
        .collect()
}

// ---- the real run ----

/// An op on its way to where it runs. Tokens ride inside, as they would in a
/// routine's args.
#[derive(Serialize, Deserialize)]
pub enum Request {
    Set(usize, i64),
    Get(usize),
    Reset(usize, Token<i64>),
}

/// What the op answered; a refused reset hands its token back.
#[derive(Serialize, Deserialize)]
pub enum Response {
    Set(Token<i64>),
    Get(Option<i64>),
    Reset(Result<(), (u8, Token<i64>)>),
}

/// Runs one op in the current context (the caller's, or a worker's).
pub async fn here(request: Request) -> Response {
    match request {
        Request::Set(v, value) => Response::Set(var(v).set(value).expect("set in scope")),
        Request::Get(v) => Response::Get(var(v).get()),
        Request::Reset(v, token) => Response::Reset(
            var(v)
                .reset(token)
                .await
                .map_err(|e| (code(e.kind()), e.into_token())),
        ),
    }
}

/// Runs the script in the current scope, each op through `run(request, site)`.
///
/// The caller keeps every token and sends a `duplicate()` with each reset, as a
/// Python caller keeps its token object: a spent token then answers `AlreadyUsed`
/// through the ledger, and a refused one can be tried again later.
pub async fn real<F, Fut>(script: &[Op], vars: usize, mut run: F) -> Trace
where
    F: FnMut(Request, u32) -> Fut,
    Fut: Future<Output = Response>,
{
    let mut tokens: Vec<Token<i64>> = Vec::new();
    let mut trace = Vec::new();
    for op in script {
        let seen = match *op {
            Op::Set { var, value, site } => match run(Request::Set(var, value), site).await {
                Response::Set(token) => {
                    tokens.push(token);
                    Seen::Set
                }
                _ => unreachable!("a set answers Set"),
            },
            Op::Get { var, site } => match run(Request::Get(var), site).await {
                Response::Get(value) => Seen::Get(value),
                _ => unreachable!("a get answers Get"),
            },
            Op::Reset { token, var, site } => match pick(token, tokens.len()) {
                None => Seen::Set,
                Some(index) => {
                    match run(Request::Reset(var, tokens[index].duplicate()), site).await {
                        Response::Reset(Ok(())) => Seen::Reset(Ok(())),
                        Response::Reset(Err((code, _handed_back))) => Seen::Reset(Err(code)),
                        _ => unreachable!("a reset answers Reset"),
                    }
                }
            },
        };
        let values = (0..vars).map(|v| var(v).get()).collect();
        trace.push((seen, values));
    }
    trace
}
