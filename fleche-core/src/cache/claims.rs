//! Claims: making workers in other processes wait instead of duplicating.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::task::JoinHandle;

use super::Cache;
use crate::cache::ClaimPolicy;
use crate::claim::{Claim, Owner};
use crate::{CallStore, Digest, Error, bridge};

pub(crate) enum ClaimStep {
    /// While waiting for another worker, its result appeared.
    Hit(Bytes),
    /// Compute, holding this claim (or none: claims off, failed, or waited
    /// too long).
    Go(Option<ClaimGuard>),
}

const FIRST_BACKOFF: Duration = Duration::from_millis(10);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

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
    /// holds a live claim, and taking over an expired one.
    pub(crate) async fn acquire_claim(&self, key: Digest, force: bool) -> Result<ClaimStep, Error> {
        if !self.uses_claims() {
            return Ok(ClaimStep::Go(None));
        }
        let opts = &self.inner.options;
        let owner = Owner::new();
        let deadline = Instant::now() + opts.claim_wait;
        let mut backoff = FIRST_BACKOFF;
        loop {
            match self.inner.calls.claim(key, &owner, opts.claim_ttl).await {
                Ok(Claim::Acquired { .. }) => {
                    let guard = ClaimGuard::start(
                        Arc::clone(&self.inner.calls),
                        key,
                        owner,
                        opts.claim_ttl,
                    );
                    return Ok(ClaimStep::Go(Some(guard)));
                }
                Ok(Claim::Held { holder, remaining }) => {
                    if Instant::now() >= deadline {
                        tracing::warn!(%key, %holder, "fleche: waited too long for another worker's claim; computing anyway");
                        return Ok(ClaimStep::Go(None));
                    }
                    tracing::debug!(%key, %holder, "fleche: another worker computes this call; waiting");
                    bridge::sleep(backoff.min(remaining.max(Duration::from_millis(1)))).await;
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    if !force && let Some(bytes) = self.fetch(key).await? {
                        return Ok(ClaimStep::Hit(bytes));
                    }
                }
                Err(e) => {
                    self.fail_open(e.into())?;
                    return Ok(ClaimStep::Go(None));
                }
            }
        }
    }
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
                tracing::warn!(key = %self.key, error = %e, "fleche: could not release claim; it will expire")
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
                tracing::warn!(%key, "fleche: lost the claim (lease expired and taken over); duplicate work may happen");
                return;
            }
            Err(e) => tracing::warn!(%key, error = %e, "fleche: could not renew claim"),
        }
    }
}
