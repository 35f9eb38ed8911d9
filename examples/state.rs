//! A pool's state: a small pool of SQLite connections, given to the pool builder once
//! and read by every routine as a `State<Db>` argument, with no `static` and no
//! `OnceLock`. A connection cannot travel, so the state never does: each process that
//! builds the pool opens its own.
//!
//!     cargo run --release --example state
//!     cargo run --release --features cluster --example state   # and on 2 worker processes
//!
//! With `cluster` the pool re-runs this binary as its worker processes, which build
//! the pool from the same `routines()` and so open their own connections to the same
//! file: the notes one process writes, the other reads.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::Connection;
use skein::{ErrorMessage, Pool, PoolBuilder, State};

/// Where the database file is, handed down to the worker processes, which inherit it.
const DB_ENV: &str = "SKEIN_STATE_EXAMPLE_DB";

/// A connection pool: idle connections kept for the next routine, and new ones opened
/// when every idle one is taken. It lives once per process, beside the pool.
struct Db {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Db {
    fn open(path: &Path) -> rusqlite::Result<Db> {
        let first = Db::connect(path)?;
        first.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE IF NOT EXISTS notes (id INTEGER PRIMARY KEY, pid INTEGER, text TEXT);",
        )?;
        Ok(Db {
            path: path.to_owned(),
            idle: Mutex::new(vec![first]),
        })
    }

    fn connect(path: &Path) -> rusqlite::Result<Connection> {
        let connection = Connection::open(path)?;
        // Other connections, in this process and in the worker processes, write too.
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        Ok(connection)
    }

    /// Runs `work` on a connection of the pool, on a blocking thread (SQLite blocks),
    /// and puts the connection back for the next one.
    async fn with<T: Send + 'static>(
        db: State<Db>,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, ErrorMessage> {
        // The handle is cheap to clone and `'static`: it moves onto the blocking thread.
        let done = tokio::task::spawn_blocking(move || {
            let taken = db.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
            let connection = match taken {
                Some(connection) => connection,
                None => Db::connect(&db.path)?,
            };
            let result = work(&connection);
            db.idle
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(connection);
            result
        })
        .await
        .map_err(|e| ErrorMessage(e.to_string()))?;
        done.map_err(|e| ErrorMessage(e.to_string()))
    }
}

/// Stores a note, with the pid of the process that stored it; answers its id. The
/// caller sends only the text: `db` is the pool's state, not an arg.
#[skein::routine(name = "notes.add")]
async fn add_note(text: String, db: State<Db>) -> Result<i64, ErrorMessage> {
    Db::with(db, move |connection| {
        connection.execute(
            "INSERT INTO notes (pid, text) VALUES (?1, ?2)",
            (std::process::id(), &text),
        )?;
        Ok(connection.last_insert_rowid())
    })
    .await
}

/// Every note, oldest first, as (pid that wrote it, text), and the pid reading them.
#[skein::routine(name = "notes.list")]
async fn list_notes(db: State<Db>) -> Result<(u32, Vec<(u32, String)>), ErrorMessage> {
    let notes = Db::with(db, |connection| {
        let mut query = connection.prepare("SELECT pid, text FROM notes ORDER BY id")?;
        let rows = query.query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
    })
    .await?;
    Ok((std::process::id(), notes))
}

/// The pool this process and (with `cluster`) every worker process builds: the
/// routines register themselves; the state is the one thing to give. Opening can
/// fail, so it is a `try_state`: a database that does not open fails `build()`.
fn routines() -> PoolBuilder {
    Pool::builder().try_state(|| -> Result<Db, Box<dyn std::error::Error + Send + Sync>> {
        let path = std::env::var_os(DB_ENV).ok_or("main sets the database's path")?;
        Ok(Db::open(Path::new(&path))?)
    })
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    #[cfg(feature = "cluster")]
    skein::serve_if_worker(routines);
    // Only this process gets here (a worker process serves in `serve_if_worker`), and
    // before any other thread starts: the worker processes inherit the variable.
    let dir = std::env::temp_dir().join(format!("skein-state-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    std::env::set_var(DB_ENV, dir.join("notes.db"));
    let ran = tokio::runtime::Runtime::new()?.block_on(run());
    std::fs::remove_dir_all(&dir)?;
    ran
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let pool = routines().workers(2).build().await?;
    for text in ["buy milk", "call home", "water the plants"] {
        let id = pool.call::<AddNote>(text.to_string()).await?;
        println!("in-process: stored {text:?} as note {id}");
    }
    let (_, notes) = pool.call::<ListNotes>(()).await?;
    assert_eq!(notes.len(), 3);
    let idle = pool
        .state::<Db>()
        .map_or(0, |db| db.idle.lock().unwrap().len());
    println!(
        "in-process: {} notes, {idle} connection(s) kept idle",
        notes.len()
    );
    drop(pool);

    #[cfg(feature = "cluster")]
    across_processes().await?;
    Ok(())
}

/// The same routines on 2 worker processes: each opened its own connections when it
/// built its pool, and reads what the other wrote through the shared file.
#[cfg(feature = "cluster")]
async fn across_processes() -> Result<(), Box<dyn std::error::Error>> {
    use std::collections::BTreeSet;

    let pool = routines().processes(2).build().await?;
    pool.wait_for_workers(2, std::time::Duration::from_secs(20))
        .await?;
    let mut writers = BTreeSet::new();
    for i in 0..6 {
        pool.call::<AddNote>(format!("note {i} from a worker process"))
            .await?;
    }
    let mut readers = BTreeSet::new();
    for _ in 0..4 {
        let (reader, notes) = pool.call::<ListNotes>(()).await?;
        readers.insert(reader);
        writers.extend(notes.iter().skip(3).map(|(pid, _)| *pid));
        assert_eq!(notes.len(), 9, "every process sees every note");
    }
    assert!(!writers.contains(&std::process::id()));
    println!(
        "across processes: notes written by pids {writers:?}, read back by pids {readers:?}, \
         each through connections it opened itself"
    );
    Ok(())
}
