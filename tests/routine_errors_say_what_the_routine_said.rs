//! A routine's own error says what the routine said: `format!("{e}")` of
//! `DispatchError::Routine(e)` contains the routine's message, so it survives `?` into
//! `Box<dyn Error>` or a log line.

use skein::{DispatchError, Pool, Routine};

struct Refuse;
impl Routine for Refuse {
    const NAME: &'static str = "errors_say.refuse";
    type Args = u32;
    type Output = ();
    type Error = String;
    async fn run(n: u32) -> Result<(), String> {
        Err(format!("order {n} is over the credit limit"))
    }
}

async fn failing_call(pool: &Pool) -> Result<(), Box<dyn std::error::Error>> {
    pool.call::<Refuse>(7).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routines_message_is_in_the_error() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Refuse>()
        .build()
        .await
        .expect("pool builds");
    let error = pool.call::<Refuse>(7).await.expect_err("refused");
    assert!(matches!(&error, DispatchError::Routine(message) if message.contains("credit limit")));
    let shown = error.to_string();
    assert!(
        shown.contains("order 7 is over the credit limit"),
        "the routine's message is shown: {shown}"
    );
    let boxed = failing_call(&pool).await.expect_err("refused");
    assert!(
        boxed
            .to_string()
            .contains("order 7 is over the credit limit"),
        "and survives `?` into Box<dyn Error>: {boxed}"
    );
}
