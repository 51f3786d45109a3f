//! Turning driver errors into [`StoreError`]s of the right kind.

use fleche_core::{Digest, ErrorKind, StoreError};
use redis::{RedisError, ServerErrorKind};

use crate::REDIS;

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

/// A [`StoreError`] for a failed driver call about `key`. The driver's
/// messages never contain the connection URL or its password.
pub(crate) fn store_error(e: RedisError, key: Option<Digest>) -> StoreError {
    let err = StoreError::new(kind_of(&e), REDIS, e.to_string()).with_source(e);
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// Stored bytes that do not read as what this store writes.
pub(crate) fn corrupt(key: Digest, what: impl Into<String>) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, REDIS, what).with_key(key)
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
}
