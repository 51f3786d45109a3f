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

/// A child's part of a cross-process case.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Task {
    /// Where the store is.
    pub location: String,
    /// Which worker this is.
    pub worker: u64,
    /// How many writes to make.
    pub count: u64,
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
    if let Err(e) = crate::cases::child_writes(&stores, &task).await {
        panic!("child {} failed to write: {e}", task.worker);
    }
    println!("{DONE}");
    true
}
