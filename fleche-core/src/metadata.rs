//! Call metadata: runtime, environment, tags and custom providers.
//!
//! Metadata is recorded with each computed call and can be queried, but is
//! never part of the call key: two runs of the same call on different hosts
//! share one entry.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use cpu_time::ThreadTime;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::{Digest, Metadata, Timestamp};

/// The namespace of [`Runtime`] metadata.
pub const RUNTIME: &str = "runtime";
/// The namespace of [`Environment`] metadata.
pub const ENVIRONMENT: &str = "environment";
/// The namespace of tags.
pub const TAGS: &str = "tags";

/// When and how long a call's body ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Runtime {
    /// When the body started.
    pub start: Timestamp,
    /// When the body ended.
    pub end: Timestamp,
    /// Wall-clock seconds.
    pub wall_s: f64,
    /// CPU seconds spent by the body on the threads that ran it (for an
    /// `async fn`, summed over its polls).
    pub cpu_s: f64,
}

/// Where a call ran.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Environment {
    /// Host name.
    pub host: String,
    /// User name (`$USER` or `$USERNAME`), empty if unknown.
    pub user: String,
    /// Process id.
    pub pid: u32,
    /// Operating system (`std::env::consts::OS`).
    pub os: String,
    /// CPU architecture.
    pub arch: String,
    /// Version of fleche-core.
    pub fleche_version: String,
    /// Name of the crate that defines the function.
    pub package: String,
    /// Version of that crate.
    pub package_version: String,
}

/// This machine's host name, read once (empty if unknown).
pub fn host_name() -> &'static str {
    static HOST: LazyLock<String> = LazyLock::new(|| {
        hostname::get()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    &HOST
}

impl Environment {
    /// The environment of this process, for a function of `package`.
    pub fn current(package: &str, package_version: &str) -> Self {
        Self {
            host: host_name().to_owned(),
            user: std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_default(),
            pid: std::process::id(),
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
            fleche_version: env!("CARGO_PKG_VERSION").to_owned(),
            package: package.to_owned(),
            package_version: package_version.to_owned(),
        }
    }
}

/// What a [`MetadataProvider`] may look at.
#[derive(Debug)]
#[non_exhaustive]
pub struct CallInfo<'a> {
    /// The function's name.
    pub function: &'a str,
    /// The call key.
    pub key: Digest,
    /// When and how long the body ran.
    pub runtime: &'a Runtime,
}

/// Adds custom metadata to every call made in a scope that carries it.
///
/// ```
/// use fleche_core::metadata::{CallInfo, MetadataProvider};
/// #[derive(Debug)]
/// struct GitCommit(&'static str);
/// impl MetadataProvider for GitCommit {
///     fn namespace(&self) -> &str { "git" }
///     fn collect(&self, _call: &CallInfo<'_>) -> Option<serde_json::Value> {
///         Some(serde_json::json!({ "commit": self.0 }))
///     }
/// }
/// ```
pub trait MetadataProvider: Send + Sync + fmt::Debug {
    /// The namespace (top-level metadata key) this provider fills.
    fn namespace(&self) -> &str;
    /// The value for one call, or `None` to add nothing.
    fn collect(&self, call: &CallInfo<'_>) -> Option<Value>;
}

/// Tags and providers carried by a scope, merged into each record.
#[derive(Clone, Default)]
pub struct ScopeMetadata {
    pub(crate) tags: BTreeMap<String, String>,
    pub(crate) providers: Vec<Arc<dyn MetadataProvider>>,
}

impl fmt::Debug for ScopeMetadata {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeMetadata")
            .field("tags", &self.tags)
            .field("providers", &self.providers)
            .finish()
    }
}

/// Measures a body's wall and CPU time.
pub(crate) struct Stopwatch {
    start: Timestamp,
    started: Instant,
    cpu: Duration,
}

impl Stopwatch {
    pub(crate) fn start() -> Self {
        Self {
            start: Timestamp::now(),
            started: Instant::now(),
            cpu: Duration::ZERO,
        }
    }

    /// Times a synchronous body on this thread.
    pub(crate) fn time<R>(&mut self, body: impl FnOnce() -> R) -> R {
        let cpu = ThreadTime::try_now().ok();
        let out = body();
        if let Some(cpu) = cpu.and_then(|c| c.try_elapsed().ok()) {
            self.cpu += cpu;
        }
        out
    }

    pub(crate) fn stop(self) -> Runtime {
        let wall = self.started.elapsed();
        let start = self.start;
        let end = Timestamp::from_micros(
            start.as_micros() + i64::try_from(wall.as_micros()).unwrap_or(i64::MAX),
        );
        Runtime {
            start,
            end,
            wall_s: wall.as_secs_f64(),
            cpu_s: self.cpu.as_secs_f64(),
        }
    }
}

/// A future that sums the thread CPU time of its polls into a stopwatch.
pub(crate) struct Timed<'a, F> {
    pub(crate) fut: Pin<Box<F>>,
    pub(crate) watch: &'a mut Stopwatch,
}

impl<F: Future> Future for Timed<'_, F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let fut = &mut this.fut;
        this.watch.time(|| fut.as_mut().poll(cx))
    }
}

/// The metadata of one computed call.
pub(crate) fn build(
    function: &str,
    key: Digest,
    package: (&str, &str),
    runtime: Runtime,
    scope: &ScopeMetadata,
) -> Metadata {
    static BASE: LazyLock<Environment> = LazyLock::new(|| Environment::current("", ""));
    let mut env = BASE.clone();
    env.package = package.0.to_owned();
    env.package_version = package.1.to_owned();

    let mut md = Metadata::new();
    for provider in &scope.providers {
        let info = CallInfo {
            function,
            key,
            runtime: &runtime,
        };
        if let Some(v) = provider.collect(&info) {
            md.insert(provider.namespace().to_owned(), v);
        }
    }
    if !scope.tags.is_empty() {
        md.insert(TAGS.to_owned(), json!(scope.tags));
    }
    md.insert(
        ENVIRONMENT.to_owned(),
        serde_json::to_value(env).unwrap_or(Value::Null),
    );
    md.insert(
        RUNTIME.to_owned(),
        serde_json::to_value(runtime).unwrap_or(Value::Null),
    );
    md
}
