//! An admission hook: the pool's workers ask it, before each routine runs, whether to
//! run it. It reads the caller's context (here the tenant) and the worker's load, and
//! a call it rejects ends at the caller with `DispatchError::Rejected`: nothing ran,
//! nothing was spent, nothing merged back.
//!
//!     cargo run --release --example admission

use std::sync::{Arc, LazyLock};

use skein::{AdmissionRequest, ContextVar, DispatchError, Never, Pool, Routine, Verdict};
use tokio::sync::{Barrier, Semaphore};

static TENANT: ContextVar<String> = ContextVar::new("example.admission", "tenant");
static BALANCE: ContextVar<u64> = ContextVar::new("example.admission", "balance");

/// Tenants the service has shut out.
const BLOCKED: &[&str] = &["mallory"];
/// Report runs one worker takes on at once; the rest are turned away, not queued.
const MAX_REPORTS: usize = 2;

/// Decides on the worker, before the routine, inside the caller's context.
fn admit(request: &AdmissionRequest<'_>) -> Verdict {
    if let Some(tenant) = TENANT.get().filter(|t| BLOCKED.contains(&t.as_str())) {
        return Verdict::reject(format!("tenant {tenant} is blocked"));
    }
    // Shed load on the slow routine; a nested call (one with a caller) always goes
    // through, so a routine already running is never cut off half-way.
    let load = request.load();
    if request.routine() == Report::NAME
        && request.caller().is_none()
        && load.in_flight >= MAX_REPORTS
    {
        return Verdict::reject(format!("{} reports running: try later", load.in_flight));
    }
    Verdict::Admit
}

/// Charges the caller: takes `amount` off its balance, in its context.
struct Charge;
impl Routine for Charge {
    const NAME: &'static str = "example.charge";
    type Args = u64;
    type Output = u64;
    type Error = Never;
    async fn run(amount: u64) -> Result<u64, Never> {
        let left = BALANCE.get().unwrap_or(0).saturating_sub(amount);
        let _ = BALANCE.set(left).expect("a routine runs in a context");
        Ok(left)
    }
}

/// A slow report: it says it started, and waits until the example lets it finish.
struct Report;
impl Routine for Report {
    const NAME: &'static str = "example.report";
    type Args = ();
    type Output = String;
    type Error = Never;
    async fn run(_: ()) -> Result<String, Never> {
        STARTED.wait().await;
        FINISH.acquire().await.expect("never closed").forget();
        Ok("the report".into())
    }
}

/// Met by the running reports and `main`, once they are all on the worker.
static STARTED: LazyLock<Barrier> = LazyLock::new(|| Barrier::new(MAX_REPORTS + 1));
/// A permit per report allowed to finish.
static FINISH: Semaphore = Semaphore::const_new(0);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Charge>()
        .routine::<Report>()
        .admission_hook(admit)
        .build()
        .await?;

    skein::scope(async {
        let _balance = BALANCE.set(100)?;
        let _tenant = TENANT.set("acme".into())?;
        println!(
            "acme is charged 30, 70 left: {:?}",
            pool.call::<Charge>(30).await
        );

        let blocked = TENANT.set("mallory".into())?;
        let refused = pool.call::<Charge>(30).await;
        println!("mallory: {refused:?}");
        assert!(matches!(refused, Err(DispatchError::Rejected { .. })));
        assert_eq!(
            BALANCE.get(),
            Some(70),
            "a rejected call merged nothing back"
        );
        // The caller's context is as it was: its own token resets as it would have.
        TENANT.reset(blocked).await?;
        println!("back to {:?}", TENANT.get());
        Ok::<_, skein::Error>(())
    })
    .await?;

    // Two reports run; the third finds the worker busy and is turned away at once.
    let pool = Arc::new(pool);
    let running: Vec<_> = (0..MAX_REPORTS)
        .map(|_| {
            let pool = pool.clone();
            tokio::spawn(async move { pool.call::<Report>(()).await })
        })
        .collect();
    STARTED.wait().await;
    let third = pool.call::<Report>(()).await;
    println!("a third report: {third:?}");
    assert!(matches!(third, Err(DispatchError::Rejected { .. })));
    FINISH.add_permits(MAX_REPORTS);
    for report in running {
        println!("a report: {:?}", report.await.expect("the task"));
    }
    Ok(())
}
