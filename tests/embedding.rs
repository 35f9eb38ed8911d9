//! The pool embedded in other runtimes (S61): inside an actix-rt `System` (a
//! current-thread tokio runtime with a `LocalSet`) and inside a plain multi-thread
//! tokio runtime built by hand, as `#[tokio::main]` builds it. Each runs a call, a
//! nested call (S40) and a context merge-back (S19, S39).

use std::future::Future;
use std::time::Duration;

use skein::{ContextVar, ErrorMessage, Pool, Routine};

static TENANT: ContextVar<String> = ContextVar::new("embedding", "tenant");

struct Add;
impl Routine for Add {
    const NAME: &'static str = "embedding.add";
    type Args = (i64, i64);
    type Output = i64;
    type Error = ErrorMessage;
    async fn run((x, y): (i64, i64)) -> Result<i64, ErrorMessage> {
        x.checked_add(y).ok_or_else(|| "overflow".into())
    }
}

/// Adds through a nested call, and reads and replaces the tenant on the way.
struct AddNested;
impl Routine for AddNested {
    const NAME: &'static str = "embedding.add_nested";
    type Args = (i64, i64);
    type Output = (i64, Option<String>);
    type Error = ErrorMessage;
    async fn run(args: (i64, i64)) -> Result<(i64, Option<String>), ErrorMessage> {
        let sum = skein::call::<Add>(args).await.map_err(|e| e.to_string())?;
        let seen = TENANT.get();
        let _ = TENANT.set("worker".into()).map_err(|e| e.to_string())?;
        Ok((sum, seen))
    }
}

/// Fails loudly instead of hanging.
async fn bounded<F: Future>(future: F) -> F::Output {
    tokio::time::timeout(Duration::from_secs(10), future)
        .await
        .expect("hung: no answer within 10 s")
}

/// The same script in every runtime: a call, a nested call, a merge-back.
async fn exercise() {
    let pool = Pool::builder()
        .workers(2)
        .routine::<Add>()
        .routine::<AddNested>()
        .build()
        .await
        .expect("pool builds");
    assert_eq!(bounded(pool.call::<Add>((2, 3))).await.unwrap(), 5);
    bounded(skein::scope(async {
        let _ = TENANT.set("caller".into()).unwrap();
        let (sum, seen) = pool.call::<AddNested>((40, 2)).await.unwrap();
        assert_eq!(sum, 42, "the nested call answered");
        assert_eq!(
            seen.as_deref(),
            Some("caller"),
            "the worker saw the caller's value"
        );
        assert_eq!(TENANT.get().as_deref(), Some("worker"), "merged back");
    }))
    .await;
}

#[test]
fn a_pool_runs_inside_an_actix_system() {
    actix_rt::System::new().block_on(exercise());
}

#[test]
fn a_pool_serves_tasks_spawned_on_an_actix_arbiter() {
    actix_rt::System::new().block_on(async {
        let pool = Pool::builder()
            .workers(2)
            .routine::<Add>()
            .routine::<AddNested>()
            .build()
            .await
            .expect("pool builds");
        // `actix_rt::spawn` runs a `!Send`-capable local task on the System's thread.
        let local = pool.clone();
        let task = actix_rt::spawn(async move {
            skein::scope(async {
                let _ = TENANT.set("local".into()).unwrap();
                let answer = local.call::<AddNested>((1, 1)).await.unwrap();
                (answer, TENANT.get())
            })
            .await
        });
        let ((sum, seen), after) = bounded(task).await.expect("the local task finished");
        assert_eq!(sum, 2);
        assert_eq!(seen.as_deref(), Some("local"));
        assert_eq!(after.as_deref(), Some("worker"));
    });
}

#[test]
fn a_pool_runs_inside_a_hand_built_tokio_runtime() {
    tokio::runtime::Runtime::new()
        .expect("runtime builds")
        .block_on(exercise());
}

#[test]
fn a_pool_runs_inside_a_current_thread_tokio_runtime() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime builds")
        .block_on(exercise());
}
