//! A redis-server of the test's own, on a free loopback port: for tests
//! that stop the server or set a password, which must not disturb the
//! shared server of `FLECHE_TEST_REDIS_URL`.

#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running redis-server, killed when dropped.
pub struct Server {
    child: Option<Child>,
    pub port: u16,
    args: Vec<String>,
}

/// Whether redis-server can be run. When it cannot, says so loudly and
/// returns `false`, or panics under `FLECHE_TEST_REQUIRE_ALL=1`.
pub fn available() -> bool {
    tool(
        "redis-server",
        "--version",
        "apt-get install redis-server, or scripts/services up",
    )
}

/// Whether `name --version`-like `probe` runs; when not, the same loud skip
/// (or panic) as [`available`].
pub fn tool(name: &str, probe: &str, install: &str) -> bool {
    let found = Command::new(name)
        .arg(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    fleche_conformance::require(found, &format!("{name} is not installed ({install})"))
}

/// A port nothing listens on now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl Server {
    /// Starts redis-server on a free port, without persistence, with
    /// `extra` arguments (such as `--requirepass`).
    pub fn start(extra: &[&str]) -> Self {
        Self::start_on(free_port(), extra)
    }

    /// Starts redis-server on `port`, as [`Server::start`] does.
    pub fn start_on(port: u16, extra: &[&str]) -> Self {
        let mut args: Vec<String> = [
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let mut server = Self {
            child: None,
            port,
            args,
        };
        server.restart();
        server
    }

    /// Starts redis-server with TLS only (no plain port) on a free port,
    /// presenting `cert` and `key`.
    pub fn start_tls(cert: &str, key: &str) -> Self {
        let port = free_port();
        let args = [
            "--port",
            "0",
            "--tls-port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--tls-cert-file",
            cert,
            "--tls-key-file",
            key,
            "--tls-auth-clients",
            "no",
            "--save",
            "",
            "--appendonly",
            "no",
        ]
        .iter()
        .map(|s| (*s).to_owned())
        .collect();
        let mut server = Self {
            child: None,
            port,
            args,
        };
        server.restart();
        server
    }

    /// Kills the server and waits until it is gone.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP): connections stay open, nothing answers.
    pub fn pause(&self) {
        self.signal("-STOP");
    }

    /// Lets a frozen server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, which: &str) {
        let pid = self.child.as_ref().expect("the server runs").id();
        let status = Command::new("kill")
            .args([which, &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill {which} {pid} failed");
    }

    /// Starts the server again on the same port, and waits until it
    /// answers.
    pub fn restart(&mut self) {
        self.kill();
        let child = Command::new("redis-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not listen on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT/0`, with `auth` (`user:password@`) if given.
    pub fn url(&self, auth: &str) -> String {
        format!("redis://{auth}127.0.0.1:{}/0", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}
