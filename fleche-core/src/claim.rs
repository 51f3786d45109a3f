//! Claims: who is computing a key right now, across processes and machines.

use std::fmt;
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
    /// A fresh token: host, process id and a 64-bit random-looking suffix,
    /// so that an operator can see who holds a claim.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let mut h = blake3::Hasher::new();
        h.update(&std::process::id().to_le_bytes());
        h.update(&n.to_le_bytes());
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        h.update(&now.as_nanos().to_le_bytes());
        h.update(format!("{:?}", std::thread::current().id()).as_bytes());
        let suffix = &h.finalize().to_hex()[..16];
        Self(format!(
            "{}:{}:{}",
            crate::metadata::host_name(),
            std::process::id(),
            suffix
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
