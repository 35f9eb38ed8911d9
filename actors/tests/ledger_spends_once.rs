//! The ledger decides every spend exactly once: checked against a `HashSet` oracle over
//! random sequences of spends, queries and merges (S75, S76), and its run-length
//! storage collapses contiguous spends.

use std::collections::{HashMap, HashSet};

use proptest::prelude::*;
use skein_actors::{codec, Ledger, LedgerDelta, LedgerId, SpendOutcome, TokenId, TOKEN_WEIGHT};

/// A ledger id whose 16 bytes are all `0x30 + index`, so that proptest cases are
/// reproducible.
fn home(index: u8) -> LedgerId {
    let mut body = vec![0xc4, 0x10];
    body.extend_from_slice(&[0x30 + index; 16]);
    codec::decode_body(&body).expect("a bin8 of 16 bytes is a UUID")
}

const HOMES: u8 = 2;
const SEQS: u64 = 64;

fn pool() -> Vec<TokenId> {
    (0..HOMES)
        .flat_map(|h| (0..SEQS).map(move |seq| TokenId::new(home(h), seq)))
        .collect()
}

#[derive(Clone, Debug)]
enum Op {
    Spend(TokenId),
    IsSpent(TokenId),
    Merge(Vec<TokenId>),
    /// A token dropped without ever leaving home: its id closes without a spend.
    Retire(TokenId),
    /// A handle dropped somewhere gives back `TOKEN_WEIGHT >> shift`.
    Release(TokenId, u32),
}

fn token() -> impl Strategy<Value = TokenId> {
    (0..HOMES, 0..SEQS).prop_map(|(h, seq)| TokenId::new(home(h), seq))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => token().prop_map(Op::Spend),
        2 => token().prop_map(Op::IsSpent),
        1 => prop::collection::vec(token(), 0..24).prop_map(Op::Merge),
        2 => token().prop_map(Op::Retire),
        3 => (token(), 1..=2u32).prop_map(|(id, shift)| Op::Release(id, shift)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn ledger_matches_a_set(ops in prop::collection::vec(op(), 0..=500)) {
        let pool = pool();
        let mut ledger = Ledger::new();
        // Every closed id (spent or retired), and how many of them were spends.
        let mut oracle: HashSet<TokenId> = HashSet::new();
        let mut spends = 0u64;
        // The weight given back so far, of ids still open.
        let mut released: HashMap<TokenId, u64> = HashMap::new();

        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Spend(id) => {
                    released.remove(id);
                    let expected = if oracle.insert(*id) { spends += 1; SpendOutcome::Spent } else { SpendOutcome::AlreadySpent };
                    prop_assert_eq!(ledger.spend(*id), expected, "step {}: spend {:?}", step, id);
                }
                Op::IsSpent(id) => {
                    prop_assert_eq!(ledger.is_spent(id), oracle.contains(id), "step {}: is_spent {:?}", step, id);
                }
                Op::Merge(ids) => {
                    let delta: LedgerDelta = ids.iter().copied().collect();
                    for id in delta.iter() {
                        released.remove(id);
                    }
                    let new_here = delta.iter().filter(|id| oracle.insert(**id)).count();
                    spends += new_here as u64;
                    prop_assert_eq!(ledger.merge(&delta), new_here, "step {}: merge {:?}", step, delta);
                }
                Op::Retire(id) => {
                    released.remove(id);
                    prop_assert_eq!(ledger.retire(*id), oracle.insert(*id), "step {}: retire {:?}", step, id);
                }
                Op::Release(id, shift) => {
                    let weight = TOKEN_WEIGHT >> shift;
                    let expected = if oracle.contains(id) {
                        released.remove(id);
                        false
                    } else {
                        let back = released.get(id).copied().unwrap_or(0) + weight;
                        if back >= TOKEN_WEIGHT {
                            released.remove(id);
                            oracle.insert(*id)
                        } else {
                            released.insert(*id, back);
                            false
                        }
                    };
                    prop_assert_eq!(ledger.release(*id, weight), expected, "step {}: release {:?} {}", step, id, weight);
                }
            }
            // Every id of the pool, in (home, seq) order, which also counts the
            // oracle's maximal runs of consecutive seqs.
            let mut oracle_runs = 0;
            let mut previous = false;
            for id in &pool {
                let spent = oracle.contains(id);
                prop_assert_eq!(ledger.is_spent(id), spent, "step {}: is_spent {:?}", step, id);
                if spent && (id.seq() == 0 || !previous) {
                    oracle_runs += 1;
                }
                previous = spent;
            }
            prop_assert_eq!(ledger.len(), spends, "step {}", step);
            prop_assert_eq!(ledger.partly_released(), released.len(), "step {}", step);
            prop_assert_eq!(ledger.len() + ledger.retired(), oracle.len() as u64, "step {}", step);
            prop_assert_eq!(ledger.is_empty(), oracle.is_empty(), "step {}", step);
            // The run storage is exact: one run per maximal block of consecutive seqs.
            prop_assert_eq!(ledger.runs(), oracle_runs, "step {}", step);
        }
    }
}

#[test]
fn spending_in_order_collapses_into_one_run() {
    let h = home(0);
    let mut ledger = Ledger::new();
    for seq in 0..1000 {
        assert_eq!(ledger.spend(TokenId::new(h, seq)), SpendOutcome::Spent);
    }
    assert_eq!(ledger.runs(), 1);
    assert_eq!(ledger.len(), 1000);
}

#[test]
fn filling_the_gaps_joins_the_runs() {
    let h = home(0);
    let mut ledger = Ledger::new();
    for seq in (0..1000).step_by(2) {
        assert_eq!(ledger.spend(TokenId::new(h, seq)), SpendOutcome::Spent);
    }
    assert_eq!(ledger.runs(), 500);
    assert_eq!(ledger.len(), 500);
    for seq in (1..1000).step_by(2) {
        assert_eq!(ledger.spend(TokenId::new(h, seq)), SpendOutcome::Spent);
    }
    assert_eq!(ledger.runs(), 1);
    assert_eq!(ledger.len(), 1000);
    for seq in 0..1000 {
        assert_eq!(
            ledger.spend(TokenId::new(h, seq)),
            SpendOutcome::AlreadySpent
        );
    }
    assert_eq!(ledger.len(), 1000);
}

#[test]
fn spending_in_reverse_collapses_too() {
    let h = home(0);
    let mut ledger = Ledger::new();
    for seq in (0..1000).rev() {
        ledger.spend(TokenId::new(h, seq));
    }
    assert_eq!(ledger.runs(), 1);
}

#[test]
fn runs_are_per_home() {
    let mut ledger = Ledger::new();
    for seq in 0..10 {
        ledger.spend(TokenId::new(home(0), seq));
        ledger.spend(TokenId::new(home(1), seq));
    }
    assert_eq!(ledger.runs(), 2);
    assert!(!ledger.is_spent(&TokenId::new(home(2), 0)));
}

#[test]
fn the_top_of_the_seq_range_is_handled() {
    let h = home(0);
    let mut ledger = Ledger::new();
    assert_eq!(ledger.spend(TokenId::new(h, u64::MAX)), SpendOutcome::Spent);
    assert_eq!(
        ledger.spend(TokenId::new(h, u64::MAX - 1)),
        SpendOutcome::Spent
    );
    assert_eq!(
        ledger.spend(TokenId::new(h, u64::MAX)),
        SpendOutcome::AlreadySpent
    );
    assert_eq!(ledger.runs(), 1);
    assert!(!ledger.is_spent(&TokenId::new(h, u64::MAX - 2)));
    assert_eq!(ledger.spend(TokenId::new(h, 0)), SpendOutcome::Spent);
    assert_eq!(ledger.runs(), 2);
}

#[test]
fn merge_returns_the_count_of_newly_spent_ids() {
    let h = home(0);
    let id = |seq| TokenId::new(h, seq);
    let mut ledger = Ledger::new();
    ledger.spend(id(1));
    ledger.spend(id(2));

    let delta: LedgerDelta = [1, 2, 3, 4, 5].into_iter().map(id).collect();
    assert_eq!(ledger.merge(&delta), 3);
    assert_eq!(ledger.len(), 5);
    // Merging the same delta again spends nothing new.
    assert_eq!(ledger.merge(&delta), 0);
    assert_eq!(ledger.len(), 5);
    // An empty delta changes nothing.
    assert_eq!(ledger.merge(&LedgerDelta::new()), 0);
    // After a merge the merged ids are refused like any spent id.
    assert_eq!(ledger.spend(id(4)), SpendOutcome::AlreadySpent);
    assert_eq!(ledger.spend(id(6)), SpendOutcome::Spent);
}
