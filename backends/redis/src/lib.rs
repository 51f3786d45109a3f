//! # fleche-redis
//!
//! A [`ValueStore`](fleche_core::ValueStore) and
//! [`CallStore`](fleche_core::CallStore) on Redis (or any server that speaks
//! its protocol and runs Lua scripts, such as Valkey): the shared hot tier
//! of many workers on many machines.
//!
//! ## URL
//!
//! | URL | store |
//! |---|---|
//! | `redis://host:6379/0` | database 0 of a server, namespace `fleche` |
//! | `redis://:password@host:6379/0?namespace=team` | with a password (or `user:password@` for an ACL user), in the namespace `team` |
//! | `rediss://host:6380/0` | the same over TLS (feature `tls`; the system's certificates) |
//! | `rediss://host:6380/0#insecure` | TLS without checking the server's certificate |
//!
//! The port defaults to 6379 and the database to 0; a password with `@`,
//! `:` or `%` in it is written percent-encoded (`%40`, `%3A`, `%25`). The
//! driver is [`RedisDriver`]; the `fleche` crate registers it (feature
//! `redis`, and `redis-tls` for `rediss://`). [`RedisStore::open`] opens a
//! store by URL without a cache.
//!
//! ## Options
//!
//! In the query string, or on [`RedisOptions`]
//! ([`RedisOptions::URL_OPTIONS`]):
//!
//! | option | default | what |
//! |---|---|---|
//! | `namespace` | `fleche` | prefix of every key; caches in different namespaces never see each other |
//! | `ttl_ms` | none | records and values expire this long after they were last written |
//! | `connect_timeout_ms` | 1000 | the longest wait to open a connection |
//! | `response_timeout_ms` | 2000 | the longest wait for the answer to one command |
//! | `reconnect_retries` | 1 | quick reconnection attempts before a command fails as unavailable |
//!
//! An unknown option is an error that lists the known ones.
//!
//! **Expiry.** With a TTL, every record and value expires that long after
//! it was last written (a record written again starts over, and so does the
//! value it points at). Queries skip index entries whose record has expired
//! and remove them as they go; an index itself expires with the newest
//! record in it. A record that outlives its value (written by a store
//! without the TTL, say) reads as a miss and is recomputed. Nothing needs
//! collecting: expired data is gone, and what is left is consistent.
//! Claims always expire with their lease.
//!
//! ## Guarantees
//!
//! - **A hit is one round trip**: one `EVALSHA` that returns the record and,
//!   when the result is not inline, the value's bytes with it.
//! - **A miss's writes are pipelined**: the value (when the result is too
//!   big to inline) and then the record, each in one command; many values
//!   in one pipeline with `put_many`.
//! - **Last writer wins, never half a record**: a record and its index
//!   entries change together in one script, which Redis runs atomically.
//! - **Queries** by function and time range run on sorted sets in Redis
//!   (page by page); arguments and metadata are then checked here.
//! - **Claims** are `SET NX PX` leases measured on the server's clock, with
//!   scripts that check the owner token before they renew or release, so a
//!   stale owner can do nothing.
//! - **Failures are typed**: a server that is down, restarting, loading or
//!   too slow (past [`RedisOptions::response_timeout`]) is
//!   [`ErrorKind::Unavailable`](fleche_core::ErrorKind::Unavailable), and
//!   the connection comes back by itself when the server does. A refused
//!   connection is reported at once, with the driver's cause as the
//!   error's source. Data that does not read as a record is `Corrupt`.
//!   URLs, errors and `Debug` never show a password.
//!
//! ## Deployment
//!
//! Every key starts with the namespace in a hash tag, `{NS}:` (default
//! `{fleche}:`), so all keys of one cache fall in one Redis Cluster slot and
//! a script may touch any of them.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `{NS}:v:<hex>` | string | the bytes of the value whose digest is `<hex>` |
//! | `{NS}:c:<hex>` | hash | the call record of key `<hex>`: field `r` its CBOR ([`CallRecord::to_bytes`](fleche_core::CallRecord::to_bytes)), `f` its function, `v` its result's digest when the result is not inline |
//! | `{NS}:i` | sorted set | every record's key (hex), scored by `created_at` in µs |
//! | `{NS}:f:<function>` | sorted set | the keys of one function's records, scored likewise |
//! | `{NS}:l:<hex>` | string | the owner token of a live claim; it expires with the lease |
//! | `{NS}:h:<hex>` | string | the last owner that claimed `<hex>` and did not release, kept an hour past the lease, so a takeover can say so |
//!
//! Without a TTL, data stays until deleted ([`RedisStore::destroy`] removes
//! a whole namespace), or until Redis evicts it under a `maxmemory`
//! policy — configure `noeviction` or a `volatile-*` policy if the cache
//! must not lose index entries. Redis persists only as configured (RDB,
//! AOF); a server without persistence starts empty after a restart, which
//! the cache survives as a run of misses.
//!
//! ## Limits
//!
//! This crate connects to one server, a standalone Redis or Valkey (or a
//! cluster behind a cluster-aware proxy); it does not follow `MOVED`
//! redirections itself. One cache lives on one node of a cluster (the price
//! of its one hash tag); use several namespaces to spread several caches.
//!
//! ```no_run
//! # fleche_core::bridge::block_on(async {
//! use fleche_core::{CallStore, Digest};
//! let store = fleche_redis::RedisStore::open("redis://127.0.0.1:6379/0?namespace=demo")
//!     .await
//!     .unwrap();
//! assert_eq!(CallStore::get(&store, Digest::of(b"nothing")).await.unwrap(), None);
//! # });
//! ```

#![forbid(unsafe_code)]

mod calls;
mod claims;
mod connect;
mod driver;
mod error;
mod keys;
mod options;
mod query;
mod scripts;
mod store;
mod values;

pub use driver::RedisDriver;
pub use options::{DEFAULT_NAMESPACE, RedisOptions};
pub use store::RedisStore;
