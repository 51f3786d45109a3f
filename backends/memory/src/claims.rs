//! Claims with leases, on the monotonic clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fleche_core::{Claim, Digest, Owner};

/// A table of claims: who holds each key, until when.
#[derive(Debug, Default)]
pub struct Claims {
    held: Mutex<HashMap<Digest, (Owner, Instant)>>,
}

impl Claims {
    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Digest, (Owner, Instant)>> {
        self.held.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims `key` for `owner` unless another owner's lease is live.
    pub fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Claim {
        let mut table = self.table();
        // Read the clock holding the lock: a claimer that read it before
        // queueing behind the winner would see a lease longer than its TTL.
        let now = Instant::now();
        let took_over = match table.get(&key) {
            Some((holder, until)) if *until > now && holder != owner => {
                return Claim::Held {
                    holder: holder.clone(),
                    remaining: *until - now,
                };
            }
            Some((holder, _)) => holder != owner,
            None => false,
        };
        table.insert(key, (owner.clone(), now + ttl));
        Claim::Acquired { took_over }
    }

    /// Extends `owner`'s claim; `false` if `owner` does not hold `key`.
    pub fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> bool {
        match self.table().get_mut(&key) {
            Some((holder, until)) if holder == owner => {
                *until = Instant::now() + ttl;
                true
            }
            _ => false,
        }
    }

    /// Drops `owner`'s claim; `false` if `owner` does not hold `key`.
    pub fn release(&self, key: Digest, owner: &Owner) -> bool {
        let mut table = self.table();
        match table.get(&key) {
            Some((holder, _)) if holder == owner => {
                table.remove(&key);
                true
            }
            _ => false,
        }
    }

    /// Forgets every claim.
    pub fn clear(&self) {
        self.table().clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_owners_do_nothing() {
        let claims = Claims::default();
        let key = Digest::of(b"k");
        let (a, b) = (Owner::new(), Owner::new());
        assert_eq!(
            claims.claim(key, &a, Duration::from_secs(10)),
            Claim::Acquired { took_over: false }
        );
        assert!(
            matches!(claims.claim(key, &b, Duration::from_secs(10)), Claim::Held { holder, .. } if holder == a)
        );
        assert!(!claims.renew(key, &b, Duration::from_secs(10)));
        assert!(!claims.release(key, &b));
        assert!(claims.renew(key, &a, Duration::from_secs(10)));
        assert!(claims.release(key, &a));
        assert!(claims.claim(key, &b, Duration::from_secs(10)).is_acquired());
    }

    #[test]
    fn expired_claims_are_taken_over() {
        let claims = Claims::default();
        let key = Digest::of(b"k");
        let (a, b) = (Owner::new(), Owner::new());
        assert!(
            claims
                .claim(key, &a, Duration::from_millis(1))
                .is_acquired()
        );
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(
            claims.claim(key, &b, Duration::from_secs(10)),
            Claim::Acquired { took_over: true }
        );
        assert!(
            !claims.renew(key, &a, Duration::from_secs(10)),
            "the old owner lost it"
        );
    }

    /// A claimer queued behind the winner sees at most the TTL remaining:
    /// it reads the clock once it holds the table, not before.
    #[test]
    fn a_queued_claimer_never_sees_more_than_the_ttl() {
        let claims = std::sync::Arc::new(Claims::default());
        let (key, ttl) = (Digest::of(b"k"), Duration::from_millis(500));
        let mut table = claims.table();
        let queued = {
            let claims = claims.clone();
            std::thread::spawn(move || claims.claim(key, &Owner::new(), ttl))
        };
        // The claimer is now waiting for the table; the winner gets in
        // first, later, with a full lease.
        std::thread::sleep(Duration::from_millis(100));
        table.insert(key, (Owner::new(), Instant::now() + ttl));
        drop(table);
        match queued.join().unwrap() {
            Claim::Held { remaining, .. } => {
                assert!(remaining <= ttl, "{remaining:?} left of a {ttl:?} lease")
            }
            other => panic!("the winner holds the key: {other:?}"),
        }
    }

    #[test]
    fn reclaiming_your_own_claim_renews_it() {
        let claims = Claims::default();
        let key = Digest::of(b"k");
        let a = Owner::new();
        assert!(claims.claim(key, &a, Duration::from_secs(1)).is_acquired());
        assert_eq!(
            claims.claim(key, &a, Duration::from_secs(1)),
            Claim::Acquired { took_over: false }
        );
    }
}
