//! Claim details beyond the conformance suite: the lease bound by the
//! server's `Last-Modified`, which stops a claimer whose clock runs far
//! ahead from holding a claim past its TTL.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fleche_core::{CallStore, Claim, Digest, Owner};
use fleche_s3::object_store::memory::InMemory;
use fleche_s3::object_store::path::Path;
use fleche_s3::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use fleche_s3::{S3Options, S3Store};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Writes, as the claim of `key`, what a claimer whose clock is an hour
/// ahead would write for a 200 ms lease.
async fn claim_from_the_future(store: &S3Store, key: Digest) {
    let hex = key.to_hex();
    let path = Path::from(format!("{}/claims/{}/{hex}", store.prefix(), &hex[..2]));
    let hour_ahead = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
        + 3_600_000;
    let body = format!(
        r#"{{"owner":"fast-clock","expires_at_ms":{},"ttl_ms":200,"nonce":"n1","released":false}}"#,
        hour_ahead + 200
    );
    store
        .object_store()
        .put(&path, PutPayload::from(body.into_bytes()))
        .await
        .unwrap();
}

async fn fast_clock_cannot_hold_past_its_ttl(store: S3Store) {
    let key = Digest::of(b"fast clock");
    claim_from_the_future(&store, key).await;
    let me = Owner::new();
    // Just written: held, for at most the TTL plus Last-Modified's second.
    match store.claim(key, &me, Duration::from_secs(5)).await.unwrap() {
        Claim::Held { holder, remaining } => {
            assert_eq!(holder.as_str(), "fast-clock");
            assert!(remaining <= Duration::from_millis(1200), "{remaining:?}");
        }
        other => panic!("a fresh claim was not held: {other:?}"),
    }
    // Past TTL + 1 s after the server wrote it: taken over, as expired.
    tokio::time::sleep(Duration::from_millis(2300)).await;
    let c = store.claim(key, &me, Duration::from_secs(5)).await.unwrap();
    assert_eq!(c, Claim::Acquired { took_over: true });
}

#[test]
fn a_fast_clock_cannot_hold_a_claim_past_its_ttl_in_memory() {
    rt().block_on(async {
        let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let store = S3Store::from_object_store_with(memory, "c", S3Options::in_process())
            .await
            .unwrap();
        fast_clock_cannot_hold_past_its_ttl(store).await;
    });
}

#[test]
fn a_fast_clock_cannot_hold_a_claim_past_its_ttl_on_the_server() {
    let Some(endpoint) = fleche_conformance::server_url(support::SERVER) else {
        return;
    };
    rt().block_on(async {
        let store = S3Store::open(&support::fresh_url(&endpoint, "claims", ""))
            .await
            .unwrap();
        fast_clock_cannot_hold_past_its_ttl(store.clone()).await;
        store.destroy().await.unwrap();
    });
}

/// Renew and release after the claim moved on (taken over while this
/// handle remembered its own last write) change nothing, and a second
/// handle on the same store (which remembers nothing) sees the holder.
#[test]
fn remembered_versions_never_let_a_stale_owner_through() {
    rt().block_on(async {
        let memory: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        let a = S3Store::from_object_store_with(memory.clone(), "c", S3Options::in_process())
            .await
            .unwrap();
        let b = S3Store::from_object_store_with(memory, "c", S3Options::in_process())
            .await
            .unwrap();
        let key = Digest::of(b"moved on");
        let (old, new) = (Owner::new(), Owner::new());
        assert!(
            a.claim(key, &old, Duration::from_millis(100))
                .await
                .unwrap()
                .is_acquired()
        );
        assert!(
            a.renew(key, &old, Duration::from_millis(100))
                .await
                .unwrap()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
        let c = b.claim(key, &new, Duration::from_secs(60)).await.unwrap();
        assert_eq!(c, Claim::Acquired { took_over: true });
        assert!(!a.renew(key, &old, Duration::from_secs(60)).await.unwrap());
        assert!(!a.release(key, &old).await.unwrap());
        match a
            .claim(key, &Owner::new(), Duration::from_secs(1))
            .await
            .unwrap()
        {
            Claim::Held { holder, .. } => assert_eq!(holder, new),
            other => panic!("the new holder lost its claim: {other:?}"),
        }
        assert!(b.release(key, &new).await.unwrap());
        assert!(!b.release(key, &new).await.unwrap());
    });
}
