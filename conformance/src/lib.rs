//! # fleche-conformance
//!
//! One suite that every fleche store must pass — the backends of this
//! project and any store you write against
//! [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore). Each case checks one promise of the
//! design: exact round trips, missing keys, last writer wins, concurrent
//! writers (tasks and separate processes), claims, verified reads at the
//! cache level, and persistence.
//!
//! ## Running it on your store
//!
//! Implement [`Factory`] (make a fresh, isolated store; reopen it by its
//! [`Location`]), then in a test file:
//!
//! ```ignore
//! fleche_conformance::suite!(
//!     factory: my_store::TestFactory::new(),
//!     claims: true,      // does the store offer claims?
//!     persistent: true,  // does data survive reopening?
//!     processes: true,   // can separate processes share it?
//!     damage: true,      // does the factory implement `damage_record`?
//! );
//! ```
//!
//! This makes a module `conformance` with one `#[test]` per case, so
//! `cargo test conformance` runs exactly them and `cargo test -- --list`
//! names each. A case for a capability you declare `false` is marked
//! ignored (with the reason), never passed; the generated test
//! `declared_capabilities_match` fails if the flags disagree with the
//! store's [`Capabilities`](fleche_core::Capabilities). The module also
//! holds `__child`, an ignored helper that is not a case (below).
//!
//! The cross-process cases run the test binary again as a child (the
//! generated, ignored test `conformance::__child`), which builds the same
//! factory and opens the store by its [`Location`], passed in the
//! environment. So `Factory::open` must work from a fresh process given only
//! the location's text — a path, a URL, a bucket prefix.
//!
//! Tools that want a report instead of tests call [`run_all`]; a CI that
//! must know every promise was checked requires [`Report::complete`], not
//! just [`Report::passed`] (no failure, skips allowed).

#![forbid(unsafe_code)]

mod cases;
#[doc(hidden)]
pub mod child;
mod harness;
mod report;
mod suite;

pub use cases::{Case, Needs, cases};
pub use harness::{CaseError, CaseResult, Factory, Harness, Launcher, Location, Stores};
pub use report::{Outcome, Report, Row, run_all, run_one};
pub use suite::{REQUIRE_ALL_ENV, launcher_for_test_binary, require, server_url, unique_name};

#[doc(hidden)]
pub mod __private {
    pub use crate::suite::{check_declared, child_test, run_test};
}
