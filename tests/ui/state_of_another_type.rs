// An argument whose type is named `State<...>` is the pool's `skein::State`, fetched on
// the worker: a type of the user's own by that name is refused, saying so.
#[derive(serde::Serialize, serde::Deserialize)]
struct State<T>(T);

#[skein::routine]
async fn count(state: State<u64>) -> u64 {
    state.0
}

fn main() {}
