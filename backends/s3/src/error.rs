//! Turning object_store errors into [`StoreError`]s of the right kind.

use std::error::Error as _;

use fleche_core::{Digest, ErrorKind, StoreError};
use object_store::client::{HttpError, HttpErrorKind};

use crate::BACKEND;

/// The kind of a client error: whether a retry later can help.
pub(crate) fn kind_of(e: &object_store::Error) -> ErrorKind {
    use object_store::Error as E;
    match e {
        E::AlreadyExists { .. } | E::Precondition { .. } | E::NotModified { .. } => {
            ErrorKind::Conflict
        }
        E::NotImplemented { .. } | E::NotSupported { .. } => ErrorKind::Unsupported,
        E::Generic { .. } if transient(e) => ErrorKind::Unavailable,
        _ => ErrorKind::Backend,
    }
}

/// Whether the error chain shows a failure that later may not repeat: the
/// connection (refused, reset, timed out), or a server that answered 5xx,
/// 429 or 408. The client has retried it already, with backoff.
fn transient(e: &object_store::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = e.source();
    while let Some(c) = cause {
        if let Some(http) = c.downcast_ref::<HttpError>() {
            return !matches!(http.kind(), HttpErrorKind::Unknown);
        }
        cause = c.source();
    }
    // Status failures come as text only (the client's retry error is not
    // public): "Server returned non-2xx status code: 503 Service Unavailable".
    let text = e.to_string();
    text.split("status code: ")
        .skip(1)
        .filter_map(|rest| rest.get(..3)?.parse::<u16>().ok())
        .any(|status| status >= 500 || status == 429 || status == 408)
}

/// A [`StoreError`] for a failed client call about `key` (if any), saying
/// what was being done. The client's messages name the object's URL, never
/// credentials (requests are signed in headers).
pub(crate) fn store_error(what: &str, key: Option<Digest>, e: object_store::Error) -> StoreError {
    let kind = kind_of(&e);
    let message = match kind {
        ErrorKind::Unavailable => format!("{what}: the server cannot be reached or is failing"),
        _ => format!("{what}: {}", short(&e)),
    };
    let err = StoreError::new(kind, BACKEND, message).with_source(e);
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// The client error's first line: what failed, without the cause that
/// `source()` carries.
fn short(e: &object_store::Error) -> String {
    use object_store::Error as E;
    match e {
        E::NotFound { path, .. } => format!("{path} not found"),
        E::AlreadyExists { path, .. } => format!("{path} already exists"),
        E::Precondition { path, .. } => format!("precondition failed for {path}"),
        E::NotImplemented {
            operation,
            implementer,
        } => format!("{implementer} does not implement {operation}"),
        E::PermissionDenied { path, .. } => format!("permission denied for {path}"),
        E::Unauthenticated { path, .. } => format!("not authenticated for {path}"),
        other => other.to_string(),
    }
}

/// Damaged data under `key`.
pub(crate) fn corrupt(key: Digest, message: String) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, BACKEND, message).with_key(key)
}

/// Whether the client error says the object is not there.
pub(crate) fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(msg: &str) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source: msg.to_owned().into(),
        }
    }

    #[test]
    fn kinds() {
        assert_eq!(
            kind_of(&generic(
                "Error performing PUT http://x/b/k in 1s, after 3 retries - Server returned non-2xx status code: 503 Service Unavailable: "
            )),
            ErrorKind::Unavailable
        );
        assert_eq!(
            kind_of(&generic(
                "Server returned non-2xx status code: 400 Bad Request"
            )),
            ErrorKind::Backend
        );
        let e = object_store::Error::Precondition {
            path: "p".into(),
            source: "412".into(),
        };
        assert_eq!(kind_of(&e), ErrorKind::Conflict);
        let e = object_store::Error::NotImplemented {
            operation: "put".into(),
            implementer: "X".into(),
        };
        assert_eq!(kind_of(&e), ErrorKind::Unsupported);
    }
}
