// Args are decoded on a worker, with nothing there to borrow from.
#[skein::routine]
async fn greet(name: &str) -> String {
    format!("hello, {name}")
}

#[skein::routine]
async fn total(amounts: &[u64]) -> u64 {
    amounts.iter().sum()
}

fn main() {}
