//! A routine's own error says what the routine said: `format!("{e}")` of
//! `DispatchError::Routine(e)` shows the routine's error by its `Display`, and
//! `source()` returns it, so it survives `?` into `Box<dyn Error>` or a log line. The
//! routine's error crossed the wire as MessagePack (every reply does, in-process too),
//! so this is what a caller on another node sees as well.

use std::error::Error;

use skein::{DispatchError, ErrorMessage, Pool, Routine};

struct Refuse;
impl Routine for Refuse {
    const NAME: &'static str = "errors_say.refuse";
    type Args = u32;
    type Output = ();
    type Error = ErrorMessage;
    async fn run(n: u32) -> Result<(), ErrorMessage> {
        Err(format!("order {n} is over the credit limit").into())
    }
}

/// A routine error of the routine's own type, with a message and a field.
#[derive(Debug, PartialEq, serde::Serialize, serde::Deserialize, thiserror::Error)]
#[error("tenant {tenant} is suspended")]
struct Suspended {
    tenant: String,
}

struct Suspend;
impl Routine for Suspend {
    const NAME: &'static str = "errors_say.suspend";
    type Args = String;
    type Output = ();
    type Error = Suspended;
    async fn run(tenant: String) -> Result<(), Suspended> {
        Err(Suspended { tenant })
    }
}

async fn failing_call(pool: &Pool) -> Result<(), Box<dyn Error + Send + Sync>> {
    pool.call::<Refuse>(7).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_routines_message_is_in_the_error() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Refuse>()
        .routine::<Suspend>()
        .build()
        .await
        .expect("pool builds");
    let error = pool.call::<Refuse>(7).await.expect_err("refused");
    assert!(
        matches!(&error, DispatchError::Routine(message) if message.0.contains("credit limit"))
    );
    assert_eq!(
        error.to_string(),
        "the routine returned an error: order 7 is over the credit limit",
        "the routine's message is shown by its Display"
    );
    let source = error.source().expect("the routine's error is the source");
    assert_eq!(
        source.downcast_ref::<ErrorMessage>(),
        Some(&ErrorMessage::from("order 7 is over the credit limit"))
    );
    let boxed = failing_call(&pool).await.expect_err("refused");
    assert!(
        boxed
            .to_string()
            .contains("order 7 is over the credit limit"),
        "and survives `?` into Box<dyn Error>: {boxed}"
    );
    assert!(
        boxed
            .source()
            .and_then(|source| source.downcast_ref::<ErrorMessage>())
            .is_some(),
        "and the chain still reaches the routine's error"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routines_own_error_type_is_displayed_and_is_the_source() {
    let pool = Pool::builder()
        .workers(1)
        .routine::<Suspend>()
        .build()
        .await
        .expect("pool builds");
    let error = pool
        .call::<Suspend>("acme".into())
        .await
        .expect_err("suspended");
    assert_eq!(
        format!("{error}"),
        "the routine returned an error: tenant acme is suspended"
    );
    let source = error.source().expect("the routine's error is the source");
    assert_eq!(
        source.downcast_ref::<Suspended>(),
        Some(&Suspended {
            tenant: "acme".into()
        }),
        "the source is the routine's own value, decoded from the wire"
    );
    // Every other failure wraps nothing of the routine's.
    let pool_without = Pool::builder()
        .workers(1)
        .routine::<Refuse>()
        .build()
        .await
        .expect("pool builds");
    let unknown = pool_without
        .call::<Suspend>("acme".into())
        .await
        .expect_err("not registered there");
    assert!(matches!(unknown, DispatchError::UnknownRoutine { .. }));
    assert!(unknown.source().is_none());
}
