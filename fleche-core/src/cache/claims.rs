//! Claims: making workers in other processes wait instead of duplicating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::Cache;
use super::stats::Lead;
use crate::cache::ClaimPolicy;
use crate::claim::{Claim, Owner};
use crate::{CallStore, Digest, Error, bridge, notice};

pub(crate) enum ClaimStep {
    /// While waiting for another worker, its result appeared.
    Hit(Bytes),
    /// Compute, holding this claim (or none: claims off, failed, or waited
    /// too long), and how this caller came to compute.
    Go(Option<ClaimGuard>, Lead),
}

/// A waiter looks for another worker's result after 10 ms, then ever less
/// often, but at least every 250 ms: a result lands at most that long
/// before its waiters see it, and a waiting process costs the store four
/// reads a second (the callers waiting in one process share them).
const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_millis(250);
/// After this long waiting for one claim, the caller says so (once).
const LONG_WAIT: Duration = Duration::from_secs(5);

impl Cache {
    fn uses_claims(&self) -> bool {
        // Asked each time: a store opened in the background
        // (`driver::open_lazy`) offers claims only once it is open.
        let caps = self.inner.calls.capabilities();
        match self.inner.options.claims {
            ClaimPolicy::Never => false,
            ClaimPolicy::Always => caps.claims,
            ClaimPolicy::Auto => caps.claims && caps.shared,
        }
    }

    /// Claims `key`, waiting (bounded, with backoff) while another worker
    /// holds a live claim, and taking over an expired one or one whose
    /// holder is a dead process on this host.
    pub(crate) async fn acquire_claim(&self, key: Digest, force: bool) -> Result<ClaimStep, Error> {
        if !self.uses_claims() {
            return Ok(ClaimStep::Go(None, Lead::default()));
        }
        let opts = &self.inner.options;
        let owner = Owner::new();
        let started = Instant::now();
        let deadline = started + opts.claim_wait;
        let mut backoff = FIRST_BACKOFF;
        let mut said_long_wait = false;
        let mut took_over = false;
        // Freeing a dead holder's claim is tried a few times at most, so a
        // store that keeps answering with it cannot make this loop spin.
        let mut frees = 0;
        loop {
            match self.inner.calls.claim(key, &owner, opts.claim_ttl).await {
                Ok(Claim::Acquired { took_over: expired }) => {
                    let guard = ClaimGuard::start(
                        Arc::clone(&self.inner.calls),
                        key,
                        owner,
                        opts.claim_ttl,
                    );
                    let lead = Lead {
                        took_over: took_over || expired,
                        gave_up: false,
                    };
                    if lead.took_over {
                        tracing::info!(%key, "fleche: took over the claim of a worker that is gone");
                    }
                    return Ok(ClaimStep::Go(Some(guard), lead));
                }
                Ok(Claim::Held { holder, .. }) if frees < 3 && holder.is_dead_here() => {
                    frees += 1;
                    // Its process is gone: free the claim (only if that
                    // holder still has it) and claim again at once.
                    tracing::info!(%key, %holder, "fleche: the holder of this claim is a process that is gone; taking over");
                    if let Err(e) = self.inner.calls.release(key, &holder).await {
                        self.fail_open(e.into())?;
                        return Ok(ClaimStep::Go(None, Lead::default()));
                    }
                    took_over = true;
                }
                Ok(Claim::Held { holder, remaining }) => {
                    let now = Instant::now();
                    if now >= deadline {
                        notice::warning!(%key, %holder, waited = ?now - started, "fleche: waited too long for another worker's claim; computing anyway");
                        let lead = Lead {
                            took_over: false,
                            gave_up: true,
                        };
                        return Ok(ClaimStep::Go(None, lead));
                    }
                    if !said_long_wait && now - started >= LONG_WAIT {
                        said_long_wait = true;
                        say_long_wait(key, &holder, now - started);
                    }
                    tracing::debug!(%key, %holder, "fleche: another worker computes this call; waiting");
                    // Never sleep past the deadline, nor past the lease.
                    let nap = backoff
                        .min(remaining.max(Duration::from_millis(1)))
                        .min(deadline - now);
                    bridge::sleep(nap).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if !force && let Some(bytes) = self.fetch(key).await? {
                        return Ok(ClaimStep::Hit(bytes));
                    }
                }
                Err(e) => {
                    self.fail_open(e.into())?;
                    return Ok(ClaimStep::Go(None, Lead::default()));
                }
            }
        }
    }
}

/// Tells the person waiting who they are waiting for, and since when.
fn say_long_wait(key: Digest, holder: &Owner, waited: Duration) {
    let host = holder.host().unwrap_or("?");
    let pid = holder
        .pid()
        .map_or_else(|| "?".to_owned(), |p| p.to_string());
    let since = holder.since().map_or_else(
        || "an unknown time".to_owned(),
        |t| humantime::format_rfc3339_seconds(t).to_string(),
    );
    notice::warning!(
        %key,
        %holder,
        "fleche: waiting {:.0?} for another worker that computes this call (host {host}, process {pid}, since {since})",
        waited
    );
}

/// A held claim, renewed in the background until released or dropped.
pub(crate) struct ClaimGuard {
    calls: Arc<dyn CallStore>,
    key: Digest,
    owner: Owner,
    renewer: JoinHandle<()>,
    released: bool,
}

impl ClaimGuard {
    fn start(calls: Arc<dyn CallStore>, key: Digest, owner: Owner, ttl: Duration) -> Self {
        let renewer = bridge::spawn(renew_loop(Arc::clone(&calls), key, owner.clone(), ttl));
        Self {
            calls,
            key,
            owner,
            renewer,
            released: false,
        }
    }

    /// Gives up the claim, logging (not returning) failures: the result is
    /// stored already, and an unreleased claim merely expires.
    pub(crate) async fn release(mut self) {
        self.renewer.abort();
        self.released = true;
        match self.calls.release(self.key, &self.owner).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::debug!(key = %self.key, "fleche: claim had been taken over before release")
            }
            Err(e) => {
                notice::warning!(key = %self.key, error = %e, "fleche: could not release claim; it will expire")
            }
        }
    }
}

impl Drop for ClaimGuard {
    fn drop(&mut self) {
        self.renewer.abort();
        if !self.released {
            // The body failed or was cancelled: let others in now rather
            // than when the lease runs out.
            let (calls, key, owner) = (Arc::clone(&self.calls), self.key, self.owner.clone());
            bridge::spawn(async move {
                let _ = calls.release(key, &owner).await;
            });
        }
    }
}

async fn renew_loop(calls: Arc<dyn CallStore>, key: Digest, owner: Owner, ttl: Duration) {
    loop {
        tokio::time::sleep(ttl / 3).await;
        match calls.renew(key, &owner, ttl).await {
            Ok(true) => {}
            Ok(false) => {
                notice::warning!(%key, "fleche: lost the claim (lease expired and taken over); duplicate work may happen");
                return;
            }
            Err(e) => notice::warning!(%key, error = %e, "fleche: could not renew claim"),
        }
    }
}
