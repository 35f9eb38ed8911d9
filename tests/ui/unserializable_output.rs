// The output travels back to the caller; the error must be a routine error.
pub struct Receipt;

#[skein::routine]
async fn checkout(amount: u64) -> Receipt {
    let _ = amount;
    Receipt
}

#[skein::routine]
async fn refund(amount: u64) -> Result<u64, String> {
    Ok(amount)
}

fn main() {}
