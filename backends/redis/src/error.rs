//! Turning driver errors into [`StoreError`]s of the right kind, which
//! say what was being done and leave the driver's words to `source()`.

use fleche_core::{Digest, ErrorKind, StoreError};
use redis::{RedisError, ServerErrorKind};

use crate::RedisStore;

/// The kind of a driver error: whether a retry later can help.
pub(crate) fn kind_of(e: &RedisError) -> ErrorKind {
    use redis::ErrorKind as K;
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return ErrorKind::Unavailable;
    }
    match e.kind() {
        // The server is loading its data, failing over, or asks to retry.
        K::Server(
            ServerErrorKind::BusyLoading
            | ServerErrorKind::TryAgain
            | ServerErrorKind::ClusterDown
            | ServerErrorKind::MasterDown
            | ServerErrorKind::ReadOnly,
        ) => ErrorKind::Unavailable,
        // A reply that does not parse means the connection is out of step.
        K::Parse | K::ClusterConnectionNotFound => ErrorKind::Unavailable,
        _ => match e.code() {
            // A script too slow to answer, or a replica that lost its master.
            Some("BUSY" | "LOADING" | "MASTERDOWN" | "TRYAGAIN") => ErrorKind::Unavailable,
            // A key holds another type than this store writes there: damage.
            Some("WRONGTYPE") => ErrorKind::Corrupt,
            _ => ErrorKind::Backend,
        },
    }
}

/// A [`StoreError`] for a failed driver call: `cannot {doing}`, about
/// `key` if there is one, with the driver's error as its source (whose
/// messages never contain the connection's password).
pub(crate) fn store_error(doing: &str, key: Option<Digest>, e: RedisError) -> StoreError {
    let err =
        StoreError::new(kind_of(&e), RedisStore::BACKEND, format!("cannot {doing}")).with_cause(e);
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// Stored bytes that do not read as what this store writes.
pub(crate) fn corrupt(key: Digest, what: impl Into<String>) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, RedisStore::BACKEND, what).with_key(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        assert_eq!(kind_of(&io), ErrorKind::Unavailable);
        let timeout = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        assert_eq!(kind_of(&timeout), ErrorKind::Unavailable);
        let client = RedisError::from((redis::ErrorKind::Client, "bad"));
        assert_eq!(kind_of(&client), ErrorKind::Backend);
    }

    #[test]
    fn the_cause_is_the_source_not_the_message() {
        let io = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let cause = io.to_string();
        let e = store_error("read the call record", Some(Digest::of(b"k")), io);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(e.message(), "cannot read the call record");
        assert!(!e.to_string().contains(&cause), "{e}");
        let source = std::error::Error::source(&e).expect("the driver's error");
        assert_eq!(source.to_string(), cause);
        // The driver's error shows the I/O error's words and returns it as
        // its source; the chain says them once.
        assert!(source.source().is_none(), "{:?}", source.source());
    }
}
