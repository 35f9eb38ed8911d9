// A stream lives on a worker's task between pulls: it must say `Send + 'static`.
use futures::Stream;

#[skein::routine(stream)]
fn count(n: u64) -> impl Stream<Item = u64> {
    futures::stream::iter(0..n)
}

fn main() {}
