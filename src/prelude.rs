//! What nearly every program that uses skein names, in one import.
//!
//! `use skein::prelude::*;` brings in the pool, context variables, the routine traits
//! and their error types, a pool's [`State`], [`scope`] and [`call`], and, with the
//! `macros` feature (on by default), the [`routine`] attribute. Everything else stays
//! at the crate root, so a glob import of the prelude does not fill a module with
//! names it rarely uses.
//!
//! # Examples
//!
//! ```
//! use skein::prelude::*;
//!
//! static TENANT: ContextVar<String> = ContextVar::new("prelude", "tenant");
//!
//! #[routine]
//! async fn greet(name: String) -> Result<String, ErrorMessage> {
//!     let tenant = TENANT.get().ok_or("no tenant")?;
//!     Ok(format!("hello {name} of {tenant}"))
//! }
//!
//! # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let pool = Pool::builder().workers(1).build().await?;
//! let greeting = scope(async {
//!     let _token = TENANT.set("acme".into())?;
//!     Ok::<_, Box<dyn std::error::Error>>(pool.call::<Greet>("ada".into()).await?)
//! })
//! .await?;
//! assert_eq!(greeting, "hello ada of acme");
//! # Ok(()) }
//! ```

pub use crate::context::{scope, ContextVar};
pub use crate::executor::call;
pub use crate::pool::Pool;
pub use crate::routine::{ErrorMessage, Never, Routine, StreamRoutine};
pub use crate::state::State;
pub use skein_actors::DispatchError;

#[cfg(feature = "macros")]
pub use skein_macros::routine;
