//! What a case needs: a factory of stores, and a way to start children.

use std::fmt;
use std::sync::{Arc, Mutex};

pub use fleche_core::Stores;
use fleche_core::{Capabilities, Digest, StoreError, async_trait};

/// Where a store is: text that [`Factory::open`] understands, in this
/// process or in a child (a directory, a URL, a name).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Location(pub String);

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Makes stores for the suite. Each case creates its own store, so cases
/// can run in parallel without seeing each other.
#[async_trait]
pub trait Factory: Send + Sync {
    /// Makes a fresh, empty store that no other case sees, and says where
    /// it is.
    async fn create(&self) -> Result<Location, StoreError>;

    /// Opens the store at `location`: a new handle on the same data. Called
    /// several times per location, also from child processes.
    async fn open(&self, location: &Location) -> Result<Stores, StoreError>;

    /// Removes the store at `location` after a case (files, schemas, key
    /// prefixes). The default does nothing.
    async fn destroy(&self, location: &Location) -> Result<(), StoreError> {
        let _ = location;
        Ok(())
    }

    /// Damages the stored record under `key` behind the store's back — the
    /// way a disk, a half-finished copy or another program would: flips or
    /// cuts its stored bytes, so that reading it cannot give a whole record.
    /// `Ok(true)` if it did; `Ok(false)` (the default) if this factory
    /// cannot, and then the case that checks promise 7's `Corrupt` is
    /// skipped, which `suite!` must be told with `damage: false`.
    async fn damage_record(&self, location: &Location, key: Digest) -> Result<bool, StoreError> {
        let _ = (location, key);
        Ok(false)
    }

    /// A credential that opening `location` uses and that must never appear
    /// in an error message or a store's `Debug` output (promise 7). The
    /// default is the password of `location` when it is a URL that carries
    /// one (`postgres://user:secret@host/db`), else `None`.
    fn secret(&self, location: &Location) -> Option<String> {
        url_password(&location.0)
    }
}

/// The password in `text`, when it is a URL with one: the text between the
/// scheme's `//`, the user name's `:` and the host's `@`, decoded.
fn url_password(text: &str) -> Option<String> {
    let (_, rest) = text.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    let (_, password) = userinfo.split_once(':')?;
    (!password.is_empty()).then(|| percent_decode(password))
}

/// `%XX` escapes decoded (a password may hold reserved characters).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Starts a child process that runs [`crate::child::main`] with the same
/// factory; see the crate docs.
pub type Launcher = Arc<dyn Fn() -> std::process::Command + Send + Sync>;

/// What every case is given.
#[derive(Clone)]
pub struct Harness {
    /// The factory under test.
    pub factory: Arc<dyn Factory>,
    /// How to start a child process, for the cross-process cases.
    pub launcher: Option<Launcher>,
    /// The stores made so far, destroyed after each case.
    pub(crate) created: Arc<Mutex<Vec<Location>>>,
    /// The store's capabilities, asked once: making a store to ask costs
    /// seconds on some backends, and they do not change between cases.
    pub(crate) capabilities: Arc<tokio::sync::OnceCell<Capabilities>>,
}

impl Harness {
    /// A harness without a launcher (cross-process cases are skipped).
    pub fn new(factory: impl Factory + 'static) -> Self {
        Self {
            factory: Arc::new(factory),
            launcher: None,
            created: Arc::default(),
            capabilities: Arc::default(),
        }
    }

    /// Adds a launcher.
    pub fn with_launcher(mut self, launcher: Launcher) -> Self {
        self.launcher = Some(launcher);
        self
    }

    /// Creates and opens a fresh store.
    pub async fn fresh(&self) -> Result<(Location, Stores), CaseError> {
        let at = self
            .factory
            .create()
            .await
            .map_err(|e| CaseError::fail(format!("factory.create failed: {e}")))?;
        self.created
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(at.clone());
        let stores = self.open(&at).await?;
        Ok((at, stores))
    }

    /// Destroys every store made so far; failures are printed, not fatal.
    pub(crate) async fn clean_up(&self) {
        let made: Vec<Location> =
            std::mem::take(&mut *self.created.lock().unwrap_or_else(|e| e.into_inner()));
        for at in made {
            if let Err(e) = self.factory.destroy(&at).await {
                eprintln!("fleche-conformance: could not destroy the store at {at}: {e}");
            }
        }
    }

    /// What the store under test offers: asked of a store made for the
    /// purpose (and destroyed again) the first time, remembered after.
    pub async fn capabilities(&self) -> Result<Capabilities, String> {
        let caps = self
            .capabilities
            .get_or_try_init(|| async {
                let at = self
                    .factory
                    .create()
                    .await
                    .map_err(|e| format!("factory.create failed: {e}"))?;
                let opened = self.factory.open(&at).await;
                let _ = self.factory.destroy(&at).await;
                Ok::<_, String>(
                    opened
                        .map_err(|e| format!("factory.open failed: {e}"))?
                        .calls
                        .capabilities(),
                )
            })
            .await?;
        Ok(*caps)
    }

    /// Opens the store at `at`.
    pub async fn open(&self, at: &Location) -> Result<Stores, CaseError> {
        self.factory
            .open(at)
            .await
            .map_err(|e| CaseError::fail(format!("factory.open({at}) failed: {e}")))
    }
}

/// Why a case did not pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CaseError {
    /// A promise is broken.
    Failed(String),
    /// The store does not offer what the case checks.
    Skipped(String),
}

impl CaseError {
    /// A failure with this message.
    pub fn fail(msg: impl Into<String>) -> Self {
        CaseError::Failed(msg.into())
    }
}

impl From<StoreError> for CaseError {
    fn from(e: StoreError) -> Self {
        CaseError::Failed(format!("unexpected store error: {e}"))
    }
}

impl From<fleche_core::Error> for CaseError {
    fn from(e: fleche_core::Error) -> Self {
        CaseError::Failed(format!("unexpected cache error: {e}"))
    }
}

/// The result of one case.
pub type CaseResult = Result<(), CaseError>;

/// Fails the case with a formatted message unless `cond` holds.
macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err($crate::harness::CaseError::Failed(format!($($msg)+)));
        }
    };
}
pub(crate) use ensure;

#[cfg(test)]
mod tests {
    use super::url_password;

    #[test]
    fn the_password_of_a_url_is_found() {
        assert_eq!(
            url_password("postgres://u:s3cr%40t@h:5432/db?x=1").as_deref(),
            Some("s3cr@t")
        );
        assert_eq!(
            url_password("redis://:pw@127.0.0.1:6379").as_deref(),
            Some("pw")
        );
        assert_eq!(url_password("postgres://u@h/db"), None);
        assert_eq!(url_password("/tmp/dir"), None);
        assert_eq!(url_password("s3://bucket/a@b:c"), None);
    }
}
