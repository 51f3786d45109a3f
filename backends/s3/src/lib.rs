//! # fleche-s3
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) in object storage, through
//! [`object_store`]: Amazon S3 and S3-compatible servers (MinIO, Ceph, R2,
//! moto, …) from an `s3://bucket/prefix` URL, and any other
//! `Arc<dyn ObjectStore>` (GCS, Azure, `InMemory`) given directly. The
//! cold, cheap, durable tier that a whole cluster shares.
//!
//! ## URL
//!
//! | URL | store |
//! |---|---|
//! | `s3://bucket/prefix` | the objects under `prefix/` in `bucket` (the bucket must exist) |
//! | `s3://bucket` | the objects of the whole bucket |
//! | `s3://bucket/prefix?endpoint=http://127.0.0.1:5055&allow_http=true` | the same on an S3-compatible server over plain HTTP |
//!
//! The prefix is percent-decoded (`%20` for a space). Credentials never go
//! in the URL's user part: they come from the environment or the options
//! below. The driver is [`S3Driver`]; the `fleche` crate registers it
//! (feature `s3`). [`S3Store::open`] opens a store by URL without a cache,
//! [`S3Store::from_object_store`] one on any `ObjectStore`.
//!
//! ## Options
//!
//! Credentials, region and endpoint come from the usual environment
//! variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
//! `AWS_SESSION_TOKEN`, `AWS_REGION`, `AWS_ENDPOINT`, `AWS_ALLOW_HTTP`, …),
//! and URL options override them: `endpoint`, `region`, `allow_http`,
//! `access_key_id`, `secret_access_key`, `session_token`,
//! `virtual_hosted_style_request`, `skip_signature`. The client's behaviour
//! is set by [`S3Options`], in code or in the URL: `timeout_ms` (one
//! request, 30 s), `connect_timeout_ms` (5 s), `max_retries` (3, with
//! exponential backoff), `retry_timeout_ms` (15 s) and `concurrency` (16
//! objects at once). [`S3Options::URL_OPTIONS`] lists them all; an unknown
//! option is an error, and an `http://` endpoint without `allow_http=true`
//! is refused rather than failing later. Credentials never appear in
//! errors, logs or `Debug` output: the URL is shown with every credential
//! option, the access key id included, as `***`.
//!
//! ## Guarantees
//!
//! - **Whole objects, last writer wins.** Every value, record and claim is
//!   one object written by one `PUT`, which S3 applies atomically: a reader
//!   sees the old object or the new one, never a part. Records are plain
//!   overwrites, so the write that the server finishes last stays.
//! - **A hit is one request.** A `GET` of the record, which holds results
//!   up to the cache's inline limit; larger results cost a second `GET`.
//! - **Verified reads.** A value whose BLAKE3 digest is not its key, or a
//!   record that does not decode or names another key, is
//!   [`ErrorKind::Corrupt`](fleche_core::ErrorKind::Corrupt); the cache
//!   treats it as a miss and its recomputation overwrites it.
//! - **Queries** by function read the function's index entries
//!   (`functions/<fn>/`); other queries read every record. Either way
//!   the listing streams page by page and records are fetched
//!   [`S3Options::concurrency`] at a time; queries in `Order::Any` stream
//!   their results (and stop at the limit), ordered queries collect the
//!   matches first. The index entry is written *before* the record, so a
//!   completed `put` is always found; entries of records since deleted or
//!   rewritten for another function are skipped when read, and left in
//!   place (a deleted record's entry costs a listing entry and one missed
//!   `GET` per query by that function).
//! - **Claims by conditional writes.** A claim is created with
//!   `If-None-Match: *` ([`PutMode::Create`](object_store::PutMode)), so of
//!   many claimers exactly one wins. An expired or released claim is
//!   replaced with `If-Match: <ETag>` (`PutMode::Update`), so exactly one
//!   of many takes it over; renew and release are conditional on the ETag
//!   of the claim the owner wrote last (one request while nobody else
//!   touched it) or, failing that, read, so a stale owner changes nothing.
//!   Every claim body carries a fresh nonce, so two claims never share an
//!   ETag. A release overwrites the claim with a released marker (a delete
//!   could not be made conditional); the next claimer replaces it.
//! - **Honest capabilities.** When the store opens it probes, on a scratch
//!   object, that the server refuses a second create and a write on a
//!   stale ETag. A server (or `ObjectStore`) that ignores or lacks
//!   conditional writes reports `Capabilities::claims = false`, and the
//!   cache falls back to single-flight within each process.
//! - **Typed failures.** A server that cannot be reached, times out or
//!   answers 5xx is retried by the client (with backoff, bounded by
//!   [`S3Options::max_retries`] and [`S3Options::retry_timeout`]), then
//!   reported as [`ErrorKind::Unavailable`](fleche_core::ErrorKind::Unavailable),
//!   with the client's error as the source.
//!
//! ## Deployment
//!
//! The layout under the prefix:
//!
//! ```text
//! PREFIX/values/ab/<hex>           a value's bytes, under their digest
//! PREFIX/calls/ab/<hex>            a call record (deterministic CBOR)
//! PREFIX/functions/<fn>/<hex>      empty index entry: record <hex> was
//!                                  written for the function whose name's
//!                                  BLAKE3 digest is <fn>
//! PREFIX/claims/ab/<hex>           a claim: JSON {owner, expires_at_ms,
//!                                  ttl_ms, nonce, released}
//! ```
//!
//! `ab` is the first two hex digits of the key: a listing by key prefix
//! reads one shard, and the server spreads the load over key ranges.
//! [`S3Store::destroy`] removes every object under the prefix.
//!
//! **Clocks.** A lease ends at `expires_at_ms`, which the claimer computes
//! on its own wall clock; others compare it with theirs. So the machines
//! sharing claims need clocks that agree to well within the lease (NTP
//! does; the cache's default lease is 30 s and is renewed while the body
//! runs). As a guard against a claimer whose clock runs far ahead, a lease
//! also ends at the latest one second (the resolution of `Last-Modified`)
//! plus its TTL after the server's `Last-Modified` of the claim object,
//! measured on the reader's clock. Skew never returns wrong data: at worst
//! two machines compute the same result, and the last record written stays.
//!
//! ## Limits
//!
//! Every operation is a request: a hit costs a round trip to the server
//! (milliseconds, not microseconds), and a miss several. Claim objects stay,
//! one small object per key ever claimed. A deleted record's index entry
//! stays until [`S3Store::destroy`]. With the defaults an operation on an
//! unreachable or hung server fails within about 45 s (a refused
//! connection within about a second); lower `timeout_ms` and
//! `retry_timeout_ms` for a faster verdict.
//!
//! ```no_run
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! // Credentials and region from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
//! // AWS_REGION (and AWS_ENDPOINT, AWS_ALLOW_HTTP for other servers), or
//! // from the URL's options.
//! let store = fleche_s3::S3Store::open(
//!     "s3://my-bucket/team/cache?endpoint=http://127.0.0.1:5055&allow_http=true",
//! )
//! .await
//! .unwrap();
//! # });
//! ```
//!
//! Any `ObjectStore` works, here the in-memory one:
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use fleche_core::{Bytes, CallStore, Digest, ValueStore};
//! use fleche_s3::{S3Options, S3Store};
//!
//! let memory = Arc::new(object_store::memory::InMemory::new());
//! let store = S3Store::from_object_store_with(memory, "cache", S3Options::in_process())
//!     .await
//!     .unwrap();
//! assert!(store.capabilities().claims); // InMemory has conditional writes
//! let bytes = Bytes::from_static(b"hello");
//! ValueStore::put(&store, Digest::of(&bytes), bytes.clone()).await.unwrap();
//! assert_eq!(ValueStore::get(&store, Digest::of(&bytes)).await.unwrap(), Some(bytes));
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod client;
mod driver;
mod error;
mod layout;
mod objects;
mod options;
mod probe;
mod store;
mod values;

/// The `object_store` this crate is built on, for building stores to pass
/// to [`S3Store::from_object_store`].
pub use object_store;

pub use driver::S3Driver;
pub use options::S3Options;
pub use store::S3Store;
