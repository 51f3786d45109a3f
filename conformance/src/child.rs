//! The child side of the cross-process cases.
//!
//! A parent case starts a child with [`ENV`] set to a JSON [`Task`]; the
//! child builds the same factory (the `suite!` macro's `__child` test does
//! this), opens the store at the task's location, does its part and prints
//! [`DONE`].

use serde::{Deserialize, Serialize};

use crate::harness::{Factory, Location};

/// The environment variable that carries a child's task.
pub const ENV: &str = "FLECHE_CONFORMANCE_CHILD";

/// What the child prints when it has finished its part.
pub const DONE: &str = "fleche-conformance child: done";

/// What a child prints after each write that returned, with its number:
/// `durable 17`. Printed (and flushed) only once the write's `put`s
/// returned, so every number printed is a write the store called done.
pub const DURABLE: &str = "durable";

/// Which part a child plays.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    /// Writes `count` values and records of its own, and now and then a
    /// record under a key all workers share
    /// (`writers_separate_processes_lose_nothing`).
    #[default]
    Writes,
    /// Checks it sees exactly what the parent wrote, then overwrites,
    /// deletes and writes (`processes_see_each_others_writes`).
    SeeAndChange,
    /// Writes a value and a record at a time, up to `count` times, printing
    /// [`DURABLE`] after each, until the parent kills it
    /// (`processes_killed_after_durable_writes_keep_them`).
    WriteUntilKilled,
}

/// A child's part of a cross-process case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Task {
    /// Where the store is.
    pub location: String,
    /// Which worker this is.
    pub worker: u64,
    /// How many writes to make.
    pub count: u64,
    /// What to do.
    #[serde(default)]
    pub kind: Kind,
}

/// Runs the child's part if this process is a child; returns `false` (and
/// does nothing) otherwise.
///
/// # Panics
/// If the task is malformed or a store operation fails, so that the parent
/// sees a failed child with the reason.
pub async fn main(factory: &dyn Factory) -> bool {
    let Ok(text) = std::env::var(ENV) else {
        return false;
    };
    let task: Task =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("malformed {ENV}: {e}: {text}"));
    let stores = factory
        .open(&Location(task.location.clone()))
        .await
        .unwrap_or_else(|e| panic!("child {} cannot open {}: {e}", task.worker, task.location));
    let done = match task.kind {
        Kind::Writes => crate::cases::child_writes(&stores, &task)
            .await
            .map_err(|e| format!("failed to write: {e}")),
        Kind::SeeAndChange => crate::cases::child_see_and_change(&stores).await,
        Kind::WriteUntilKilled => crate::cases::child_write_until_killed(&stores, &task).await,
    };
    if let Err(e) = done {
        panic!("child {} ({:?}): {e}", task.worker, task.kind);
    }
    println!("{DONE}");
    true
}
