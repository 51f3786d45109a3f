//! Isolated runs: a fresh scratch directory for each run of a body.
//!
//! The Python original changes the process's working directory, which is
//! unsafe with threads. Here a body reaches its directory through
//! [`scratch_dir`] (and can pass it to the files it writes), so isolated
//! calls run in parallel safely; with [`Isolate::Chdir`] the working
//! directory is changed too, and such bodies are serialized in the process.

use std::future::Future;
use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::{Error, Isolate, bridge};

tokio::task_local! {
    /// The running isolated body's directory: set while an async body is
    /// polled (`scope`) and while a sync body runs (`sync_scope`). One
    /// slot for both, so the innermost run's directory is the one seen
    /// however sync and async runs nest; with a thread-local of its own for
    /// sync bodies, a sync run inside an async one was given its caller's
    /// directory.
    static SCRATCH: PathBuf;
}

/// Held while a body runs with the working directory changed, because the
/// working directory belongs to the whole process.
static CHDIR: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The scratch directory of the isolated call running on this thread or
/// task, if any.
///
/// ```
/// assert!(fleche_core::isolate::scratch_dir().is_none());
/// ```
pub fn scratch_dir() -> Option<PathBuf> {
    SCRATCH.try_with(|p| p.clone()).ok()
}

fn make_dir() -> Result<TempDir, Error> {
    tempfile::Builder::new()
        .prefix("fleche-isolate-")
        .tempdir()
        .map_err(Error::Isolate)
}

/// Restores the working directory when dropped, even if the body panics.
struct Cwd(PathBuf);

impl Cwd {
    fn enter(dir: &Path) -> Result<Self, Error> {
        let old = std::env::current_dir().map_err(Error::Isolate)?;
        std::env::set_current_dir(dir).map_err(Error::Isolate)?;
        Ok(Self(old))
    }
}

impl Drop for Cwd {
    fn drop(&mut self) {
        if let Err(e) = std::env::set_current_dir(&self.0) {
            tracing::error!(error = %e, dir = %self.0.display(), "fleche: cannot restore the working directory");
        }
    }
}

/// Runs a synchronous body as `isolate` says.
pub(crate) fn run_blocking<R>(isolate: Isolate, body: impl FnOnce() -> R) -> Result<R, Error> {
    if isolate == Isolate::No {
        return Ok(body());
    }
    let dir = make_dir()?;
    let _lock = (isolate == Isolate::Chdir).then(|| bridge::block_on(CHDIR.lock()));
    let _cwd = if isolate == Isolate::Chdir {
        Some(Cwd::enter(dir.path())?)
    } else {
        None
    };
    let out = SCRATCH.sync_scope(dir.path().to_owned(), body);
    drop((_cwd, _lock));
    remove(dir);
    Ok(out)
}

/// Runs an async body as `isolate` says.
pub(crate) async fn run_async<F: Future>(isolate: Isolate, body: F) -> Result<F::Output, Error> {
    if isolate == Isolate::No {
        return Ok(body.await);
    }
    let dir = make_dir()?;
    let lock = if isolate == Isolate::Chdir {
        Some(CHDIR.lock().await)
    } else {
        None
    };
    let cwd = if isolate == Isolate::Chdir {
        Some(Cwd::enter(dir.path())?)
    } else {
        None
    };
    let out = SCRATCH.scope(dir.path().to_owned(), body).await;
    drop((cwd, lock));
    remove(dir);
    Ok(out)
}

fn remove(dir: TempDir) {
    let path = dir.path().to_owned();
    if let Err(e) = dir.close() {
        crate::notice::warning!(error = %e, dir = %path.display(), "fleche: cannot remove an isolated call's scratch directory");
    }
}
