//! What `parallel_matrix.rs` needs around its tests: a fresh place in each
//! store (a temp directory, a SQLite file, a PostgreSQL schema, a Redis
//! namespace, an S3 prefix) that is removed again afterwards, and worker
//! processes — this test binary run again — that are waited for with a
//! deadline and killed if the test gives up on them.

#![allow(dead_code, unreachable_pub)]

use std::fmt;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fleche::bridge;

/// The stores of the matrix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Memory,
    File,
    Sqlite,
    Postgres,
    Redis,
    S3,
}

impl Kind {
    /// Every store, in the order the summaries list them.
    pub const ALL: [Kind; 6] = [
        Kind::Memory,
        Kind::File,
        Kind::Sqlite,
        Kind::Postgres,
        Kind::Redis,
        Kind::S3,
    ];

    /// The stores that separate processes share.
    pub const SHARED: [Kind; 5] = [
        Kind::File,
        Kind::Sqlite,
        Kind::Postgres,
        Kind::Redis,
        Kind::S3,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Memory => "memory",
            Kind::File => "file",
            Kind::Sqlite => "sqlite",
            Kind::Postgres => "postgres",
            Kind::Redis => "redis",
            Kind::S3 => "s3",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.name())
    }
}

/// A fresh, empty place in one store, named by a URL without cache
/// options; what a server keeps of it is destroyed when this is dropped,
/// even when the test fails.
pub struct Place {
    pub kind: Kind,
    url: String,
    /// Holds the file store's directory and the SQLite file; also the
    /// test's own files (the log of body runs, the workers' output).
    pub scratch: tempfile::TempDir,
}

impl Place {
    /// A fresh place in `kind`, or `None` (with a loud `SKIPPED` line, or a
    /// panic under `FLECHE_TEST_REQUIRE_ALL=1`) when its server is not
    /// named in the environment. The file store's directory does not exist
    /// yet: the first worker to open the store makes it.
    pub fn new(kind: Kind, what: &str) -> Option<Self> {
        let scratch = tempfile::tempdir().expect("a temp directory");
        let namespace = fleche_conformance::unique_name(&format!("matrix_{what}"));
        let url = match kind {
            Kind::Memory => format!("memory://{namespace}"),
            Kind::File => format!("file://{}", scratch.path().join("store").display()),
            Kind::Sqlite => format!("sqlite://{}", scratch.path().join("cache.db").display()),
            Kind::Postgres => {
                let base = fleche_conformance::server_url("FLECHE_TEST_POSTGRES_URL")?;
                with_options(&base, &format!("schema={namespace}"))
            }
            Kind::Redis => {
                let base = fleche_conformance::server_url("FLECHE_TEST_REDIS_URL")?;
                format!("{}/0?namespace={namespace}", base.trim_end_matches('/'))
            }
            Kind::S3 => {
                let endpoint = fleche_conformance::server_url("FLECHE_TEST_S3_URL")?;
                let bucket = std::env::var("FLECHE_TEST_S3_BUCKET")
                    .ok()
                    .filter(|b| !b.is_empty())
                    .unwrap_or_else(|| "fleche-test".to_owned());
                let http = if endpoint.starts_with("http://") {
                    "&allow_http=true"
                } else {
                    ""
                };
                format!("s3://{bucket}/{namespace}?endpoint={endpoint}{http}")
            }
        };
        Some(Self { kind, url, scratch })
    }

    /// The store's URL with the cache options `options` (`k=v&…`) added.
    pub fn url(&self, options: &str) -> String {
        with_options(&self.url, options)
    }

    /// A file in this place's scratch directory.
    pub fn file(&self, name: &str) -> PathBuf {
        self.scratch.path().join(name)
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        let (kind, url) = (self.kind, self.url.clone());
        let destroyed = bridge::block_on(async move {
            let done: Result<(), String> = match kind {
                // Removed with the temp directory; memory dies with its
                // process.
                Kind::Memory | Kind::File | Kind::Sqlite => Ok(()),
                Kind::Postgres => match fleche_sql::PgStore::open(&url).await {
                    Ok(s) => s.destroy().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Kind::Redis => match fleche_redis::RedisStore::open(&url).await {
                    Ok(s) => s.destroy().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
                Kind::S3 => match fleche_s3::S3Store::open(&url).await {
                    Ok(s) => s.destroy().await.map_err(|e| e.to_string()),
                    Err(e) => Err(e.to_string()),
                },
            };
            done
        });
        if let Err(e) = destroyed {
            eprintln!(
                "could not remove the test's {} store {}: {e}",
                self.kind,
                fleche::redact_url(&self.url)
            );
        }
    }
}

/// `url` with `options` (`k=v&…`) appended to its query string.
pub fn with_options(url: &str, options: &str) -> String {
    if options.is_empty() {
        return url.to_owned();
    }
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{options}")
}

/// Wall-clock nanoseconds since the Unix epoch: comparable between the
/// processes of one host.
pub fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos()
}

/// Waits until `path` exists; `false` at the deadline.
pub fn wait_for_file(path: &Path, deadline: Instant) -> bool {
    while !path.exists() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    true
}

/// A worker process: this test binary running one ignored test, its
/// stdout and stderr going to files (so a chatty worker never blocks on a
/// full pipe). Killed if dropped while it runs.
pub struct Worker {
    pub name: String,
    child: Option<Child>,
    stdout: PathBuf,
    stderr: PathBuf,
    status: Option<ExitStatus>,
}

impl Worker {
    /// Starts `test` (an `#[ignore]`d test of this binary, by its full
    /// name) with `env` set; its output goes to files named after `name`
    /// in `dir`.
    pub fn start(dir: &Path, name: &str, test: &str, env: &[(&str, String)]) -> Self {
        let stdout = dir.join(format!("{name}.stdout"));
        let stderr = dir.join(format!("{name}.stderr"));
        let mut cmd = Command::new(std::env::current_exe().expect("the test binary's path"));
        cmd.args([
            "--exact",
            test,
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_remove("FLECHE_CACHE")
        .stdin(Stdio::null())
        .stdout(File::create(&stdout).expect("the worker's stdout file"))
        .stderr(File::create(&stderr).expect("the worker's stderr file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("a worker process starts");
        Self {
            name: name.to_owned(),
            child: Some(child),
            stdout,
            stderr,
            status: None,
        }
    }

    /// Whether the process has ended (reaping it if so).
    pub fn exited(&mut self) -> bool {
        if self.status.is_some() {
            return true;
        }
        let child = self.child.as_mut().expect("a worker process");
        match child.try_wait() {
            Ok(Some(status)) => {
                self.status = Some(status);
                true
            }
            Ok(None) => false,
            Err(e) => panic!("cannot wait for worker {}: {e}", self.name),
        }
    }

    /// Sends SIGKILL (on Unix `Child::kill` does) and reaps the process.
    pub fn kill(&mut self) {
        if let Some(child) = self.child.as_mut()
            && self.status.is_none()
        {
            let _ = child.kill();
            self.status = child.wait().ok();
        }
    }

    /// Waits for the process to end; kills it at the deadline. Its exit
    /// status, or `None` if it had to be killed.
    pub fn wait(&mut self, deadline: Instant) -> Option<ExitStatus> {
        while !self.exited() {
            if Instant::now() >= deadline {
                self.kill();
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        self.status
    }

    pub fn succeeded(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    /// What went wrong, for a failure message: the exit status, the
    /// worker's own lines (reports and errors, the first few), its panic
    /// messages and warnings — or, if it said none of these, the tails of
    /// its output.
    pub fn report(&self) -> String {
        let status = match self.status {
            Some(s) => s.to_string(),
            None => "killed at the deadline".to_owned(),
        };
        let (stdout, stderr) = (self.stdout(), self.stderr());
        let said: Vec<&str> = stdout
            .lines()
            .filter_map(|l| l.find("matrix worker").map(|at| &l[at..]))
            .take(6)
            .collect();
        let mut problems: Vec<&str> = Vec::new();
        let mut in_panic = false;
        for line in stderr.lines() {
            if line.contains("panicked at") {
                in_panic = true;
            } else if line.starts_with("stack backtrace:") || line.starts_with("note:") {
                in_panic = false;
                continue;
            }
            if in_panic || line.contains(" WARN ") {
                problems.push(line);
            }
        }
        problems.truncate(12);
        if said.is_empty() && problems.is_empty() {
            return format!(
                "worker {} ({status})\n--- stdout\n{}\n--- stderr\n{}",
                self.name,
                tail(&stdout, 20),
                tail(&stderr, 20)
            );
        }
        format!(
            "worker {} ({status})\n    {}",
            self.name,
            said.iter()
                .chain(&problems)
                .map(|l| &l[..l.len().min(600)])
                .collect::<Vec<_>>()
                .join("\n    ")
        )
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The last `n` lines of `text`.
pub fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Writes `line` to stderr directly: the test harness captures
/// `eprintln!` of passing tests, and the summaries are for CI's log.
pub fn show(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "{line}");
}
