//! # fleche-core
//!
//! The core of fleche, a persistent, content-addressed cache for function
//! results: [`Digest`]s and the deterministic [`codec`], the two store
//! traits ([`ValueStore`], [`CallStore`]), the [`Cache`] with single-flight
//! and claims, the context ([`Scope`], [`bind`]) and [`metadata`].
//!
//! Stores are named by URLs and opened by [`driver`]s, which backend crates
//! export and a program registers.
//!
//! Most users want the `fleche` crate, which adds the `#[fleche]` attribute,
//! the backends and `open(url)`. Backend authors implement the two traits
//! here, export a [`driver::Driver`], and prove their store with
//! `fleche-conformance`.

#![forbid(unsafe_code)]

pub mod bridge;
mod cache;
mod claim;
pub mod codec;
pub mod context;
mod digest;
pub mod driver;
mod error;
mod flight;
pub mod isolate;
pub mod metadata;
mod notice;
mod query;
mod record;
mod spec;
mod store;
pub mod submit;
pub mod task;

#[doc(hidden)]
pub mod rt;

pub use cache::{
    Always, CACHE_OPTIONS, Cache, CacheBuilder, CacheConfig, CacheOptions, CacheStats, ClaimPolicy,
    Entry, OkOnly, Strategy,
};
pub use claim::{Claim, Owner};
pub use codec::CodecError;
pub use context::{Bound, Callable, SCOPE_ENV, Scope, ScopeConfig, bind};
pub use digest::{Digest, MIN_PREFIX_LEN, PrefixError};
pub use driver::{Driver, OpenError, StoreUrl, Stores, UrlError, UrlOption, redact_url};
pub use error::{Error, ErrorChain, ErrorKind, StoreError};
pub use query::{Order, Query};
pub use record::{ArgDigest, CallRecord, Metadata, RECORD_FORMAT, RecordHead, Timestamp, ValueRef};
pub use spec::{CALL_KEY_CONTEXT, FnSpec, Isolate, arg_digest};
pub use store::{CallStore, Capabilities, ValueStore};
pub use submit::{Join, Submitted};
pub use task::Task;

/// Re-exported so backends and the attribute name one version.
pub use async_trait::async_trait;
pub use bytes::Bytes;
