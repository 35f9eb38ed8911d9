//! Shared test helpers: a simulated dispatch that takes every step a real one takes.
#![allow(dead_code)]

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use skein::actors::{Limits, Manifest};
use skein::{payload, Context, InstallMode};

/// Encodes a manifest to bytes and decodes it back, as the wire would.
pub fn over_the_wire(manifest: &Manifest) -> Manifest {
    let bytes = manifest.encode().expect("manifest encodes");
    Manifest::decode(&bytes, &Limits::default()).expect("manifest decodes")
}

/// Runs `body(args)` as a dispatch from the current context would run: the args and
/// the caller's snapshot are encoded and decoded, a fresh continuation installs them,
/// the body runs there, and its result and snapshot come back the same way and merge
/// into the caller before the result is returned.
pub async fn dispatch<A, R, F, Fut>(args: A, body: F) -> R
where
    A: Serialize + DeserializeOwned,
    R: Serialize + DeserializeOwned,
    F: FnOnce(A) -> Fut,
    Fut: Future<Output = R>,
{
    let caller = Context::current().expect("dispatch runs inside a scope");
    // Args first: encoding pins the tokens they carry, so the snapshot lists them.
    let arg_bytes = payload::encode(&args).expect("args encode");
    drop(args);
    let request = over_the_wire(&caller.take_snapshot());

    let worker = Context::continuation();
    let incoming = payload::decode::<A>(&arg_bytes).expect("args decode");
    let (args, _) = worker
        .receive(&request, incoming, InstallMode::Lenient)
        .expect("lenient install");
    let result_bytes = worker
        .scope(async {
            let result = body(args).await;
            payload::encode(&result).expect("result encodes")
        })
        .await;
    let reply = over_the_wire(&worker.take_snapshot());

    let incoming = payload::decode::<R>(&result_bytes).expect("result decodes");
    let (result, _) = caller
        .receive(&reply, incoming, InstallMode::Lenient)
        .expect("lenient merge");
    result
}
