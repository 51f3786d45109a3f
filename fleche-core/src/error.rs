//! Errors: [`StoreError`] from stores, [`Error`] from the cache.

use std::borrow::Cow;
use std::fmt;

use crate::driver::OpenError;
use crate::{CodecError, Digest, PrefixError};

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What kind of failure a [`StoreError`] is; decides whether a retry can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store cannot be reached now (server down, connection dropped,
    /// timeout). A retry later may succeed.
    Unavailable,
    /// Stored data is damaged: it does not decode, or does not match its
    /// digest.
    Corrupt,
    /// A concurrent change got in the way (a lock not granted in time, a
    /// precondition failed).
    Conflict,
    /// The store does not offer this operation (see [`crate::Capabilities`]).
    Unsupported,
    /// Any other failure of the backend (permissions, full disk, bad schema).
    Backend,
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Corrupt => "corrupt data",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Unsupported => "unsupported operation",
            ErrorKind::Backend => "backend error",
        })
    }
}

/// An error from a [`crate::ValueStore`] or [`crate::CallStore`].
///
/// It says which backend failed, what kind of failure it was, and for which
/// key; the underlying error is its [`source`](std::error::Error::source).
/// Backends must keep credentials out of the message.
///
/// ```
/// use fleche_core::{Digest, ErrorKind, StoreError};
/// let key = Digest::of(b"k");
/// let err = StoreError::new(ErrorKind::Unavailable, "redis", "connection refused").with_key(key);
/// assert!(err.is_transient());
/// assert!(err.to_string().starts_with("redis: unavailable: connection refused (key "));
/// ```
#[derive(Debug)]
pub struct StoreError {
    kind: ErrorKind,
    backend: Cow<'static, str>,
    key: Option<Digest>,
    message: String,
    source: Option<Source>,
}

impl StoreError {
    /// A new error of `kind` from `backend`, saying `message`.
    pub fn new(
        kind: ErrorKind,
        backend: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            kind,
            backend: backend.into(),
            key: None,
            message: message.into(),
            source: None,
        }
    }

    /// The operation is not offered by `backend`.
    pub fn unsupported(backend: impl Into<Cow<'static, str>>, operation: &str) -> Self {
        Self::new(
            ErrorKind::Unsupported,
            backend,
            format!("{operation} is not supported"),
        )
    }

    /// Names the key the failing operation was about.
    pub fn with_key(mut self, key: Digest) -> Self {
        self.key = Some(key);
        self
    }

    /// Attaches the underlying error.
    pub fn with_source(mut self, source: impl Into<Source>) -> Self {
        self.source = Some(source.into());
        self
    }

    /// Attaches a driver's error as the source, so that a report of the
    /// chain says its words once: many client libraries write the error
    /// they wrap into their own message *and* return it from `source()`.
    /// The chain goes on below `source` with the first error whose text
    /// `source` does not already show.
    ///
    /// ```
    /// use fleche_core::{ErrorChain, ErrorKind, StoreError};
    /// #[derive(Debug)]
    /// struct Client(std::io::Error);
    /// impl std::fmt::Display for Client {
    ///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
    ///         write!(f, "request failed: {}", self.0) // the cause, again
    ///     }
    /// }
    /// impl std::error::Error for Client {
    ///     fn source(&self) -> Option<&(dyn std::error::Error + 'static)> { Some(&self.0) }
    /// }
    /// let io = std::io::Error::other("connection reset");
    /// let err = StoreError::new(ErrorKind::Unavailable, "mine", "cannot read the record")
    ///     .with_cause(Client(io));
    /// assert_eq!(
    ///     ErrorChain(&err).to_string(),
    ///     "mine: unavailable: cannot read the record: request failed: connection reset"
    /// );
    /// ```
    pub fn with_cause(self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.with_source(SaidOnce(source))
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The backend that failed (`"memory"`, `"file"`, `"redis"`, …).
    pub fn backend(&self) -> &str {
        &self.backend
    }

    /// The key the operation was about, if any.
    pub fn key(&self) -> Option<Digest> {
        self.key
    }

    /// What went wrong, without the backend, kind and key that `Display`
    /// adds: for wrapping the error in a message of one's own.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Whether retrying later may succeed.
    pub fn is_transient(&self) -> bool {
        self.kind == ErrorKind::Unavailable
    }
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.backend, self.kind)?;
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(key) = self.key {
            write!(f, " (key {key})")?;
        }
        Ok(())
    }
}

impl std::error::Error for StoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|e| e as _)
    }
}

/// A source error whose own sources are skipped while their text is part
/// of its message (see [`StoreError::with_cause`]).
struct SaidOnce<E>(E);

impl<E: fmt::Display> fmt::Display for SaidOnce<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl<E: fmt::Debug> fmt::Debug for SaidOnce<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl<E: std::error::Error> std::error::Error for SaidOnce<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let shown = self.0.to_string();
        let mut below = self.0.source();
        while let Some(e) = below {
            if !shown.contains(&e.to_string()) {
                return Some(e);
            }
            below = e.source();
        }
        None
    }
}

/// An error from the cache: from a store, from encoding, or from setting up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A store operation failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An argument or result could not be encoded or decoded.
    #[error("{what}")]
    Codec {
        /// What was being encoded or decoded.
        what: String,
        /// The codec's complaint.
        #[source]
        source: CodecError,
    },
    /// A digest or prefix could not be resolved.
    #[error(transparent)]
    Prefix(#[from] PrefixError),
    /// The scratch directory of an isolated call could not be made.
    #[error("cannot prepare the isolated working directory")]
    Isolate(#[source] std::io::Error),
    /// A cache could not be opened: its URL is wrong, or its store did not
    /// open. What went wrong is the [`source`](std::error::Error::source).
    #[error("cannot open cache {url}{}", .origin.as_ref().map(|o| format!(" ({o})")).unwrap_or_default())]
    Open {
        /// The URL, without its secrets.
        url: String,
        /// Where the URL came from, if not from the program itself (`from
        /// $FLECHE_CACHE`).
        origin: Option<String>,
        /// Why (boxed: it is large, and errors are passed around often).
        #[source]
        cause: Box<OpenError>,
    },
    /// No scope names a cache and no default is set up.
    #[error(
        "no cache in scope and no default cache; enter a Scope with a cache, call fleche_core::context::set_default_cache, or use the `fleche` crate, which opens one"
    )]
    NoCache,
    /// A scope handed over in the environment ([`crate::SCOPE_ENV`]) is not
    /// one that [`Scope::to_env`](crate::Scope::to_env) wrote.
    #[error("cannot read the scope in ${var}: it is not what Scope::to_env writes")]
    BadScope {
        /// The variable.
        var: &'static str,
        /// What did not parse.
        #[source]
        source: serde_json::Error,
    },
    /// A function cannot travel to another process as a [`crate::Task`], or
    /// a task that arrived names no function of this program.
    #[error("function `{function}` {problem}")]
    Task {
        /// The function's name (or type, for a function that is not registered).
        function: String,
        /// What is wrong.
        problem: String,
    },
    /// The cache was built from stores directly and has no configuration to
    /// hand to another process.
    #[error(
        "this cache was built from stores, not opened from a URL, so it cannot be reopened elsewhere"
    )]
    NotReopenable,
}

impl Error {
    /// The error of opening the cache at `url` (shown without secrets).
    pub fn open(url: &str, cause: impl Into<OpenError>) -> Self {
        Error::Open {
            url: crate::redact_url(url),
            origin: None,
            cause: Box::new(cause.into()),
        }
    }

    /// Says where the URL of an [`Error::Open`] came from (`"from
    /// $FLECHE_CACHE"`); other errors are returned as they are.
    pub fn with_origin(self, origin: impl Into<String>) -> Self {
        match self {
            Error::Open { url, cause, .. } => Error::Open {
                url,
                origin: Some(origin.into()),
                cause,
            },
            other => other,
        }
    }

    /// The kind of the store failure behind this error, if a store failed
    /// (when using it, or when opening it).
    pub fn store_kind(&self) -> Option<ErrorKind> {
        match self {
            Error::Store(e) => Some(e.kind()),
            Error::Open { cause, .. } => match &**cause {
                OpenError::Store(e) => Some(e.kind()),
                _ => None,
            },
            _ => None,
        }
    }

    pub(crate) fn codec(what: impl Into<String>, source: CodecError) -> Self {
        Error::Codec {
            what: what.into(),
            source,
        }
    }
}

/// Shows an error with its chain of causes, `what: why: deeper why`, as
/// reporters such as `anyhow` do: every error of fleche says what failed
/// and leaves the cause to [`source`](std::error::Error::source), so
/// `Display` alone gives only the first link.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// let err = fleche_core::driver::open("memory://?strict=maybe").await.unwrap_err();
/// assert_eq!(err.to_string(), "cannot open cache memory://?strict=maybe");
/// assert_eq!(
///     fleche_core::ErrorChain(&err).to_string(),
///     "cannot open cache memory://?strict=maybe: option `strict` takes true or false, not `maybe`"
/// );
/// # });
/// ```
#[derive(Clone, Copy)]
pub struct ErrorChain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(e) = cause {
            write!(f, ": {e}")?;
            cause = e.source();
        }
        Ok(())
    }
}

impl fmt::Debug for ErrorChain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
