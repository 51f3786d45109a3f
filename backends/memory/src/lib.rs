//! # fleche-memory
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) (with claims) in process memory:
//! for tests, and as a fast layer in front of a shared store.
//!
//! ## URL
//!
//! | URL | store |
//! |---|---|
//! | `memory://` | a new, empty store of its own |
//! | `memory://NAME` | the process-wide store called `NAME`: every cache opened with this URL in the process shares it |
//!
//! The driver is [`MemoryDriver`]; the `fleche` crate registers it.
//!
//! ## Options
//!
//! None: a memory store has nothing to configure, and nothing in it can
//! fail (so this crate has no options or error module).
//!
//! ## Guarantees
//!
//! Every promise of the store traits, within the process: a write is one
//! insert under a lock, so readers see whole values and records, and the
//! last writer wins. Claims are leases on the monotonic clock.
//!
//! ## Deployment
//!
//! In one process: tests, a fast layer, a cache that should not outlive
//! the program.
//!
//! ## Limits
//!
//! Data lives as long as the store: nothing survives the process, and
//! nothing is shared with other processes — a cache on this store bound
//! for a worker *process* starts empty there, as in the Python original.
//! Nothing is evicted; [`MemoryStore::destroy`] empties a store.
//!
//! ```
//! use std::sync::Arc;
//! use fleche_core::Cache;
//! use fleche_memory::MemoryStore;
//!
//! let store = Arc::new(MemoryStore::new());
//! let cache = Cache::new(store.clone(), store);
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod driver;
mod store;
mod values;

pub use claims::Claims;
pub use driver::MemoryDriver;
pub use store::MemoryStore;
