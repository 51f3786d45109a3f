//! Turning object_store errors into [`StoreError`]s of the right kind,
//! which say what was being done and leave the client's words to
//! `source()`.

use std::error::Error as _;

use fleche_core::{Digest, ErrorKind, StoreError};
use object_store::client::{HttpError, HttpErrorKind};

use crate::S3Store;

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

/// A [`StoreError`] for a failed client call about `key` (if any):
/// `cannot {doing}`, with the client's error as the source. The client's
/// messages name the object's URL, never credentials (requests are signed
/// in headers).
pub(crate) fn store_error(doing: &str, key: Option<Digest>, e: object_store::Error) -> StoreError {
    let kind = kind_of(&e);
    let message = match kind {
        ErrorKind::Unavailable => {
            format!("cannot {doing}: the server cannot be reached or is failing")
        }
        _ => format!("cannot {doing}"),
    };
    let err = StoreError::new(kind, S3Store::BACKEND, message).with_cause(e);
    match key {
        Some(key) => err.with_key(key),
        None => err,
    }
}

/// Damaged data under `key`.
pub(crate) fn corrupt(key: Digest, message: String) -> StoreError {
    StoreError::new(ErrorKind::Corrupt, S3Store::BACKEND, message).with_key(key)
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

    #[test]
    fn the_cause_is_said_once() {
        let e = generic(
            "Error performing PUT http://x/b/k - Server returned non-2xx status code: 503 Service Unavailable",
        );
        let cause = e.to_string();
        let err = store_error("write the record", None, e);
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert_eq!(
            err.message(),
            "cannot write the record: the server cannot be reached or is failing"
        );
        let source = std::error::Error::source(&err).expect("the client's error");
        assert_eq!(source.to_string(), cause);
        // `Generic` shows its source's words and returns it too.
        assert!(source.source().is_none());
        assert_eq!(
            fleche_core::ErrorChain(&err)
                .to_string()
                .matches("503")
                .count(),
            1
        );
    }
}
