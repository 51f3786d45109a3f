//! Claims: one winner, expiry, renewal, stale owners, release.

use std::sync::Arc;
use std::time::Duration;

use fleche_core::{Claim, Digest, Owner};
use tokio::sync::Barrier;
use tokio::time::{Instant, sleep_until};

use super::fixtures::key;
use crate::harness::{CaseError, CaseResult, Harness, Stores, ensure};

/// How far a store's answer may stray from the exact lease: clocks read
/// in whole milliseconds, on either side.
const SLACK: Duration = Duration::from_millis(5);

/// How long after a lease's end a claim is sure to be taken over.
const MARGIN: Duration = Duration::from_millis(400);

/// Claims `k` from `n` owners at once; returns the answers.
async fn race(
    s: &Stores,
    k: fleche_core::Digest,
    n: usize,
    ttl: Duration,
) -> Result<Vec<(Owner, Claim)>, crate::CaseError> {
    let barrier = Arc::new(Barrier::new(n));
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (s, barrier) = (s.clone(), barrier.clone());
            tokio::spawn(async move {
                let owner = Owner::new();
                barrier.wait().await;
                let claim = s.calls.claim(k, &owner, ttl).await?;
                Ok::<_, fleche_core::StoreError>((owner, claim))
            })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(
            t.await
                .map_err(|e| crate::CaseError::fail(format!("a claimer panicked: {e}")))??,
        );
    }
    Ok(out)
}

/// Of 32 concurrent claimers exactly one wins; the others see it as holder.
pub(crate) async fn claims_one_winner_among_many(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    for round in 0..3 {
        let k = key("claims-one-winner", round);
        let answers = race(&s, k, 32, Duration::from_secs(60)).await?;
        let winners: Vec<&Owner> = answers
            .iter()
            .filter(|(_, c)| c.is_acquired())
            .map(|(o, _)| o)
            .collect();
        ensure!(
            winners.len() == 1,
            "round {round}: {} of 32 concurrent claimers won",
            winners.len()
        );
        for (_, c) in &answers {
            if let Claim::Held { holder, remaining } = c {
                ensure!(
                    holder == winners[0],
                    "a loser was told {holder} holds the claim, not the winner"
                );
                ensure!(
                    *remaining <= Duration::from_secs(60),
                    "remaining lease {remaining:?} exceeds the TTL"
                );
            }
        }
    }
    Ok(())
}

/// A claim whose lease expired is taken over by exactly one of many.
pub(crate) async fn claims_expired_taken_over_once(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("claims-expired", 0);
    let crashed = Owner::new();
    ensure!(
        s.calls
            .claim(k, &crashed, Duration::from_millis(300))
            .await?
            .is_acquired(),
        "the first claim failed"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let answers = race(&s, k, 16, Duration::from_secs(60)).await?;
    let takeovers: Vec<&Claim> = answers
        .iter()
        .map(|(_, c)| c)
        .filter(|c| c.is_acquired())
        .collect();
    ensure!(
        takeovers.len() == 1,
        "{} of 16 claimers took over the expired claim",
        takeovers.len()
    );
    ensure!(
        matches!(takeovers[0], Claim::Acquired { took_over: true }),
        "the takeover did not say it replaced an expired claim: {:?}",
        takeovers[0]
    );
    Ok(())
}

/// Renewing extends the lease past its first expiry. The check comes just
/// after the first expiry, with most of the renewed lease left, so a busy
/// machine's late timers do not decide the outcome; if the machine was so
/// slow that the renewed lease could have run out too, the round says
/// nothing and runs again on another key.
pub(crate) async fn claims_renew_extends_the_lease(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    for round in 0..3 {
        let k = key("claims-renew", round);
        let (a, b) = (Owner::new(), Owner::new());
        let ttl = Duration::from_millis(3000);
        let start = Instant::now();
        ensure!(
            s.calls.claim(k, &a, ttl).await?.is_acquired(),
            "the first claim failed"
        );
        tokio::time::sleep(Duration::from_millis(1000)).await;
        let renew_asked = Instant::now();
        ensure!(
            s.calls.renew(k, &a, ttl).await?,
            "the holder could not renew"
        );
        sleep_until(start + ttl + Duration::from_millis(200)).await; // past the first expiry
        let c = s.calls.claim(k, &b, ttl).await?;
        if Instant::now() >= renew_asked + ttl {
            continue; // too slow to tell: the renewed lease may be over too
        }
        ensure!(
            matches!(c, Claim::Held { ref holder, .. } if *holder == a),
            "after a renewal another owner got: {c:?}"
        );
        return Ok(());
    }
    Err(crate::CaseError::fail(
        "the machine was too slow to check the renewal in time, three times; rerun",
    ))
}

/// After a takeover, the old owner's renew and release do nothing.
pub(crate) async fn claims_stale_owner_does_nothing(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("claims-stale", 0);
    let (old, new, third) = (Owner::new(), Owner::new(), Owner::new());
    ensure!(
        s.calls
            .claim(k, &old, Duration::from_millis(300))
            .await?
            .is_acquired(),
        "the first claim failed"
    );
    tokio::time::sleep(Duration::from_millis(1200)).await;
    ensure!(
        s.calls
            .claim(k, &new, Duration::from_secs(60))
            .await?
            .is_acquired(),
        "the takeover failed"
    );
    ensure!(
        !s.calls.renew(k, &old, Duration::from_secs(60)).await?,
        "a stale owner renewed someone else's claim"
    );
    ensure!(
        !s.calls.release(k, &old).await?,
        "a stale owner released someone else's claim"
    );
    let c = s.calls.claim(k, &third, Duration::from_secs(60)).await?;
    ensure!(
        matches!(c, Claim::Held { ref holder, .. } if *holder == new),
        "the new holder lost the claim: {c:?}"
    );
    Ok(())
}

/// A released claim can be claimed again at once.
pub(crate) async fn claims_release_allows_a_new_claim(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("claims-release", 0);
    let (a, b) = (Owner::new(), Owner::new());
    ensure!(
        s.calls
            .claim(k, &a, Duration::from_secs(60))
            .await?
            .is_acquired(),
        "the first claim failed"
    );
    ensure!(
        s.calls.release(k, &a).await?,
        "the holder could not release"
    );
    ensure!(
        !s.calls.release(k, &a).await?,
        "a second release said the claim was still held"
    );
    let c = s.calls.claim(k, &b, Duration::from_secs(60)).await?;
    ensure!(
        c == Claim::Acquired { took_over: false },
        "after a release the next claim got: {c:?}"
    );
    Ok(())
}

/// What another owner's claim of `k` says while `holder` should hold it:
/// the remaining lease, or a failure naming `what` was done before.
async fn held_by(s: &Stores, k: Digest, holder: &Owner, what: &str) -> Result<Duration, CaseError> {
    let c = s
        .calls
        .claim(k, &Owner::new(), Duration::from_secs(60))
        .await?;
    match c {
        Claim::Held {
            holder: ref h,
            remaining,
        } if h == holder => Ok(remaining),
        other => Err(CaseError::fail(format!(
            "{what}: another owner's claim should find it held by its owner, got {other:?}"
        ))),
    }
}

/// Promise 5, the lease: a claim holds for exactly its TTL. With a TTL of
/// 1.2 s (not a whole number of seconds), another owner is told at most
/// the TTL remains (5 ms slack) and not less than what is left of it since
/// the claim was asked; 400 ms after the TTL has passed since the claim
/// returned, the claim is taken over (`took_over: true`). A store that
/// rounds leases up to whole seconds, or stretches them, fails; a slow
/// machine only makes the waits longer.
pub(crate) async fn claims_lease_is_the_ttl(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k = key("claims-lease", 0);
    let a = Owner::new();
    let ttl = Duration::from_millis(1200);
    let asked = Instant::now();
    let first = s.calls.claim(k, &a, ttl).await?;
    let acquired = Instant::now();
    ensure!(first.is_acquired(), "the first claim got {first:?}");
    let remaining = held_by(&s, k, &a, "just after a claim with a TTL of 1.2 s").await?;
    let elapsed = asked.elapsed();
    ensure!(
        remaining <= ttl + SLACK,
        "a claim was made with a TTL of {ttl:?}; another owner was told {remaining:?} remain"
    );
    ensure!(
        remaining + SLACK >= ttl.saturating_sub(elapsed),
        "a claim was made with a TTL of {ttl:?}; {elapsed:?} after it was asked another owner \
         was told only {remaining:?} remain"
    );
    sleep_until(acquired + ttl + MARGIN).await;
    let c = s.calls.claim(k, &Owner::new(), ttl).await?;
    ensure!(
        c == Claim::Acquired { took_over: true },
        "a claim with a TTL of {ttl:?}: {:?} after it returned, another owner's claim got {c:?}, \
         not a takeover",
        acquired.elapsed()
    );
    Ok(())
}

/// `renew` with a TTL shorter than the lease left: the lease is cut.
async fn renew_shortens(s: &Stores) -> CaseResult {
    let k = key("claims-renew-sets", 0);
    let a = Owner::new();
    let (long, short) = (Duration::from_secs(10), Duration::from_secs(1));
    ensure!(
        s.calls.claim(k, &a, long).await?.is_acquired(),
        "the first claim failed"
    );
    ensure!(
        s.calls.renew(k, &a, short).await?,
        "the holder could not renew its claim"
    );
    let renewed = Instant::now();
    let remaining = held_by(s, k, &a, "after a renew").await?;
    ensure!(
        remaining <= short + SLACK,
        "a claim of {long:?} renewed with {short:?}: another owner was told {remaining:?} remain"
    );
    sleep_until(renewed + short + MARGIN).await;
    let c = s.calls.claim(k, &Owner::new(), long).await?;
    ensure!(
        c == Claim::Acquired { took_over: true },
        "a claim of {long:?} renewed with {short:?}: {:?} after the renew, another owner's \
         claim got {c:?}, not a takeover",
        renewed.elapsed()
    );
    Ok(())
}

/// `renew` with a TTL longer than the lease: the lease grows to it.
async fn renew_lengthens(s: &Stores) -> CaseResult {
    let k = key("claims-renew-sets", 1);
    let a = Owner::new();
    let (short, long) = (Duration::from_secs(1), Duration::from_secs(10));
    ensure!(
        s.calls.claim(k, &a, short).await?.is_acquired(),
        "the first claim failed"
    );
    let claimed = Instant::now();
    let renew_asked = Instant::now();
    ensure!(
        s.calls.renew(k, &a, long).await?,
        "the holder could not renew its claim"
    );
    let remaining = held_by(s, k, &a, "after a renew").await?;
    let since = renew_asked.elapsed();
    ensure!(
        remaining <= long + SLACK && remaining + SLACK >= long.saturating_sub(since),
        "a claim of {short:?} renewed with {long:?}: {since:?} after the renew was asked, \
         another owner was told {remaining:?} remain"
    );
    sleep_until(claimed + short + MARGIN).await;
    let c = s.calls.claim(k, &Owner::new(), long).await?;
    // Unless the machine was so slow that the renewed lease is over too.
    if Instant::now() < renew_asked + long {
        ensure!(
            matches!(c, Claim::Held { ref holder, .. } if *holder == a),
            "a claim of {short:?} renewed with {long:?}: {:?} after the claim, another owner's \
             claim got {c:?}",
            claimed.elapsed()
        );
    }
    Ok(())
}

/// Promise 5, renewal: `renew` sets the lease to the new TTL from now. A
/// 10 s claim renewed with 1 s: another owner is told at most 1 s remains,
/// and can take it over soon after (a renew that adds to the lease, or
/// keeps the longer one, fails). A 1 s claim renewed with 10 s: nearly
/// 10 s remain, and the claim is still held after the first second.
pub(crate) async fn claims_renew_sets_the_lease(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let (shortened, lengthened) = tokio::join!(renew_shortens(&s), renew_lengthens(&s));
    shortened.and(lengthened)
}

/// Promise 5, release: `release` gives up one claim, of one owner. One
/// owner claims k1, k2, k3, another k4; releasing k1 is `true`, and then
/// k2 and k3 are still held by the first owner (it can renew them, and a
/// third owner is told it holds them), k4 by the second; k1 can be
/// claimed at once (`took_over: false`); a second release of k1, and the
/// first owner's release of k4, are `false` and change nothing.
pub(crate) async fn claims_release_is_per_key(h: &Harness) -> CaseResult {
    let (_, s) = h.fresh().await?;
    let k: Vec<Digest> = (0..4).map(|i| key("claims-release-per-key", i)).collect();
    let (a, b, d) = (Owner::new(), Owner::new(), Owner::new());
    let ttl = Duration::from_secs(60);
    for (i, owner) in [(0, &a), (1, &a), (2, &a), (3, &b)] {
        let c = s.calls.claim(k[i], owner, ttl).await?;
        ensure!(c.is_acquired(), "claiming k{} got {c:?}", i + 1);
    }
    ensure!(
        s.calls.release(k[0], &a).await?,
        "the holder's release of k1 was false"
    );
    ensure!(
        !s.calls.release(k[0], &a).await?,
        "a second release of k1 was true"
    );
    for i in [1, 2] {
        held_by(
            &s,
            k[i],
            &a,
            &format!("k{} after its owner released k1", i + 1),
        )
        .await?;
    }
    held_by(&s, k[3], &b, "k4 after another owner released k1").await?;
    ensure!(
        !s.calls.release(k[3], &a).await?,
        "the owner of k1 released k4, which another owner holds"
    );
    held_by(
        &s,
        k[3],
        &b,
        "k4 after an owner that does not hold it released it",
    )
    .await?;
    for i in [1, 2] {
        ensure!(
            s.calls.renew(k[i], &a, ttl).await?,
            "after its owner released k1, it could not renew k{}",
            i + 1
        );
    }
    let c = s.calls.claim(k[0], &d, ttl).await?;
    ensure!(
        c == Claim::Acquired { took_over: false },
        "after its owner released k1, another owner's claim of it got {c:?}"
    );
    ensure!(
        !s.calls.release(k[0], &a).await?,
        "the owner that released k1 released it again, now that another owner holds it"
    );
    held_by(&s, k[0], &d, "k1 after its old owner released it again").await?;
    Ok(())
}
