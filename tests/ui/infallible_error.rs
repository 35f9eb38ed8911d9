// `std::convert::Infallible` has no serde impls, so it cannot travel back from a
// worker: a routine that cannot fail uses `skein::Never`.
use std::convert::Infallible;

#[skein::routine]
async fn double(x: u64) -> Result<u64, Infallible> {
    Ok(x * 2)
}

// Written by hand, the same mistake.
struct Triple;
impl skein::Routine for Triple {
    const NAME: &'static str = "ui.triple";
    type Args = u64;
    type Output = u64;
    type Error = Infallible;
    async fn run(x: u64) -> Result<u64, Infallible> {
        Ok(x * 3)
    }
}

fn main() {}
