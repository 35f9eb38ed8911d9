// Args travel to a worker as MessagePack: a type without serde impls cannot.
pub struct Order {
    pub amount: u64,
}

#[skein::routine]
async fn price(order: Order, discount: u64) -> u64 {
    order.amount - discount
}

fn main() {}
