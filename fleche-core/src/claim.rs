//! Claims: who is computing a key right now, across processes and machines.

use std::fmt;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// The token of a claimer. Unique per claimer: two workers never share one,
/// so a worker whose lease was taken over cannot renew or release the new
/// holder's claim.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Owner(String);

impl Owner {
    /// A fresh token naming who claims: host, process (id, start time and
    /// pid namespace, so that a reused process id or a container is not
    /// mistaken for the holder), when the claim was made, and a random-looking
    /// suffix that makes it unique. Stores keep it as opaque text; the
    /// cache reads it back to tell an operator who holds a claim, and to see
    /// that a holder on this host has died ([`Owner::is_dead_here`]).
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let this = Process::current();
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        let mut h = blake3::Hasher::new();
        h.update(&this.pid.to_le_bytes());
        h.update(&n.to_le_bytes());
        h.update(&now.as_nanos().to_le_bytes());
        h.update(format!("{:?}", std::thread::current().id()).as_bytes());
        let suffix = &h.finalize().to_hex()[..12];
        Self(format!(
            "{}:{}:{}:{}:{}:{suffix}",
            crate::metadata::host_name(),
            this.pid,
            this.started,
            this.namespace,
            now.as_millis(),
        ))
    }

    /// A token from text (as read back from a store).
    pub fn from_string(token: impl Into<String>) -> Self {
        Self(token.into())
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The fields of a token made by [`Owner::new`]; `None` for any other
    /// text (an older token, a store's own). Split from the right, so a
    /// host name with a colon still parses.
    fn fields(&self) -> Option<OwnerFields<'_>> {
        let mut parts = self.0.rsplitn(6, ':');
        let _suffix = parts.next()?;
        let since_ms = parts.next()?.parse().ok()?;
        let namespace = parts.next()?.parse().ok()?;
        let started = parts.next()?.parse().ok()?;
        let pid = parts.next()?.parse().ok()?;
        let host = parts.next()?;
        Some(OwnerFields {
            host,
            process: Process {
                pid,
                started,
                namespace,
            },
            since_ms,
        })
    }

    /// The host the holder runs on, if the token says.
    pub fn host(&self) -> Option<&str> {
        self.fields().map(|f| f.host)
    }

    /// The holder's process id, if the token says.
    pub fn pid(&self) -> Option<u32> {
        self.fields().map(|f| f.process.pid)
    }

    /// When the token was made (the claim's start), if the token says.
    pub fn since(&self) -> Option<SystemTime> {
        let ms = self.fields()?.since_ms;
        SystemTime::UNIX_EPOCH.checked_add(Duration::from_millis(ms))
    }

    /// Whether the holder is a process on this host (and in this process
    /// namespace) that no longer runs: its id is gone, or belongs to a
    /// process started at another time. Such a claim can be taken over at
    /// once instead of when its lease runs out. `false` whenever this
    /// cannot be told: another host, a token of another form, a system
    /// without `/proc`.
    pub fn is_dead_here(&self) -> bool {
        let Some(f) = self.fields() else {
            return false;
        };
        let here = Process::current();
        if f.host != crate::metadata::host_name()
            || here.namespace == 0
            || f.process.namespace != here.namespace
            || f.process.started == 0
        {
            return false;
        }
        match Process::stat(f.process.pid) {
            Stat::Gone => true,
            // Another process with a reused id.
            Stat::Running(started) => started != f.process.started,
            // Hidden from us (`hidepid`): assume it lives.
            Stat::Unknown => false,
        }
    }
}

/// What a token made by [`Owner::new`] holds.
struct OwnerFields<'a> {
    host: &'a str,
    process: Process,
    since_ms: u64,
}

/// What `/proc/<pid>/stat` says of a process.
enum Stat {
    Running(u64),
    Gone,
    Unknown,
}

/// A process as the operating system knows it: id, start time (clock ticks
/// after boot) and pid namespace (an inode number); 0 where unknown.
#[derive(Clone, Copy)]
struct Process {
    pid: u32,
    started: u64,
    namespace: u64,
}

impl Process {
    fn current() -> Process {
        static THIS: OnceLock<Process> = OnceLock::new();
        let read = || Process {
            pid: std::process::id(),
            started: Process::started_at(std::process::id()).unwrap_or(0),
            namespace: Process::namespace().unwrap_or(0),
        };
        let this = *THIS.get_or_init(read);
        // A forked child has another id: read its own.
        if this.pid == std::process::id() {
            this
        } else {
            read()
        }
    }

    /// When process `pid` started: field 22 of `/proc/<pid>/stat`, counted
    /// after the command name (which may hold spaces and parentheses).
    fn started_at(pid: u32) -> Option<u64> {
        match Process::stat(pid) {
            Stat::Running(started) => Some(started),
            Stat::Gone | Stat::Unknown => None,
        }
    }

    fn stat(pid: u32) -> Stat {
        let stat = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Stat::Gone,
            Err(_) => return Stat::Unknown,
        };
        let Some(close) = stat.rfind(')') else {
            return Stat::Unknown;
        };
        let mut fields = stat[close + 1..].split_whitespace();
        match fields.next() {
            // A zombie (killed, not yet reaped by its parent) holds nothing.
            Some("Z" | "X" | "x") => Stat::Gone,
            Some(_) => match fields.nth(18).and_then(|f| f.parse().ok()) {
                Some(started) => Stat::Running(started),
                None => Stat::Unknown,
            },
            None => Stat::Unknown,
        }
    }

    /// The inode of `/proc/self/ns/pid` (`pid:[4026531836]`).
    fn namespace() -> Option<u64> {
        let link = std::fs::read_link("/proc/self/ns/pid").ok()?;
        let text = link.to_str()?;
        text.strip_prefix("pid:[")?.strip_suffix(']')?.parse().ok()
    }
}

impl Default for Owner {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Owner({})", self.0)
    }
}

/// The answer to a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Claim {
    /// The claimer now holds the claim. `took_over` says whether it replaced
    /// an expired claim of another owner.
    Acquired {
        /// Whether an expired claim was replaced.
        took_over: bool,
    },
    /// Someone else holds a live claim.
    Held {
        /// The holder.
        holder: Owner,
        /// How long until the holder's lease expires, unless renewed.
        remaining: Duration,
    },
}

impl Claim {
    /// Whether the claim was acquired.
    pub fn is_acquired(&self) -> bool {
        matches!(self, Claim::Acquired { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(host: &str, p: Process) -> Owner {
        Owner::from_string(format!(
            "{host}:{}:{}:{}:1700000000000:abc",
            p.pid, p.started, p.namespace
        ))
    }

    #[test]
    fn a_token_names_its_host_process_and_time() {
        let owner = Owner::new();
        assert_eq!(owner.host(), Some(crate::metadata::host_name()));
        assert_eq!(owner.pid(), Some(std::process::id()));
        let since = owner.since().unwrap();
        assert!(since.elapsed().unwrap() < Duration::from_secs(60));
        // A host name with colons still parses.
        let odd = token("a:b", Process::current());
        assert_eq!(odd.host(), Some("a:b"));
        assert_eq!(Owner::from_string("someone").host(), None);
    }

    #[test]
    fn only_a_gone_process_of_this_host_is_dead() {
        let here = Process::current();
        let host = crate::metadata::host_name();
        assert!(!Owner::new().is_dead_here());
        assert!(!token(host, here).is_dead_here());
        // The same id, started at another time: the id was reused.
        let reused = Process {
            started: here.started + 1,
            ..here
        };
        assert!(token(host, reused).is_dead_here());
        // Not this host, not this pid namespace, or not known: alive.
        assert!(!token("elsewhere", reused).is_dead_here());
        let other_ns = Process {
            namespace: here.namespace + 1,
            ..reused
        };
        assert!(!token(host, other_ns).is_dead_here());
        assert!(!Owner::from_string("old:123:abcdef").is_dead_here());
    }

    #[test]
    fn a_reaped_child_is_dead() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = Process::started_at(pid);
        child.wait().unwrap();
        let Some(started) = started else {
            return; // it was gone before we looked
        };
        let gone = Process {
            pid,
            started,
            ..Process::current()
        };
        assert!(token(crate::metadata::host_name(), gone).is_dead_here());
    }
}
