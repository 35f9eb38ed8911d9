//! The context model in one page: a value set here is read "over there", a change
//! made there merges back, and a token spent there is refused here.
//!
//!     cargo run --release --example quickstart

use skein::actors::{Limits, Manifest};
use skein::{payload, Context, ContextVar, InstallMode, Token};

static TENANT: ContextVar<String> = ContextVar::new("quickstart", "tenant");

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let home = Context::new();
    let token = home.scope(async { TENANT.set("acme".to_string()) }).await?;
    let kept = token.duplicate();
    println!(
        "home: set tenant = \"acme\" (chain {})",
        home.chain().expect("armed")
    );

    // Snapshot and encode what travels: the args (the token) and the manifest.
    let args = home.scope(async { payload::encode(&token) }).await?;
    drop(token); // it moved into the args
    let frame = home.take_snapshot().encode()?;
    println!(
        "wire: {} bytes of manifest, {} bytes of args",
        frame.len(),
        args.len()
    );

    // The other side: decode, install in a new context that continues the chain.
    let there = Context::continuation();
    let manifest = Manifest::decode(&frame, &Limits::default())?;
    let (token, _warnings) = there.receive(
        &manifest,
        payload::decode::<Token<String>>(&args)?,
        InstallMode::Lenient,
    )?;
    there
        .scope(async {
            println!("there: tenant = {:?}", TENANT.get()?);
            TENANT.reset(token).await?;
            println!("there: reset the token, tenant = {:?}", TENANT.get()?);
            let _ = TENANT.set("globex".to_string())?;
            println!("there: set tenant = \"globex\"");
            Ok::<_, Box<dyn std::error::Error>>(())
        })
        .await?;

    // Back home: the reply merges before anyone reads it.
    let reply = Manifest::decode(&there.take_snapshot().encode()?, &Limits::default())?;
    home.merge(&reply, InstallMode::Lenient)?;
    home.scope(async {
        println!("home: after merge-back, tenant = {:?}", TENANT.get()?);
        match TENANT.reset(kept).await {
            Ok(()) => Err("a token was spent twice".into()),
            Err(refused) => {
                println!("home: reset of the kept handle refused: {}", refused.kind());
                Ok(())
            }
        }
    })
    .await
}
