// A routine's body runs on a worker as a future: a plain fn is refused.
#[skein::routine]
fn add(x: i64, y: i64) -> i64 {
    x + y
}

fn main() {}
