//! Bad input and bad servers get clear, typed errors that never show a
//! credential; damaged objects read as `Corrupt` (and as a miss to the
//! cache). The damage cases run on `InMemory` always and on the moto
//! server when `FLECHE_TEST_S3_URL` names it.

mod support;

use std::io::Read;
use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fleche_core::{
    Bytes, Cache, CallRecord, CallStore, Digest, ErrorChain, ErrorKind, FnSpec, OpenError, Owner,
    ValueRef, ValueStore, codec,
};
use fleche_s3::object_store::memory::InMemory;
use fleche_s3::object_store::path::Path;
use fleche_s3::object_store::{ObjectStore, ObjectStoreExt, PutPayload};
use fleche_s3::{S3Options, S3Store};

const SECRETS: [&str; 3] = ["AKIDLEAKME", "hunter2secret", "sessiontok3n"];
const CREDENTIALS: &str =
    "access_key_id=AKIDLEAKME&secret_access_key=hunter2secret&session_token=sessiontok3n";

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Fails if any secret shows in the error's message, its `Debug` or any
/// of its causes, or if a link of the chain repeats its source's text.
fn assert_no_secrets(e: &(dyn std::error::Error + 'static)) {
    let mut texts = Vec::new();
    let mut link = Some(e);
    while let Some(l) = link {
        let (shown, source) = (l.to_string(), l.source());
        if let Some(source) = source {
            let cause = source.to_string();
            assert!(
                cause.is_empty() || !shown.contains(&cause),
                "`{shown}` repeats its source `{cause}`"
            );
        }
        texts.push(shown);
        texts.push(format!("{l:?}"));
        link = source;
    }
    for text in texts {
        for secret in SECRETS {
            assert!(!text.contains(secret), "a secret leaked: {text}");
        }
    }
}

#[test]
fn malformed_urls_are_clear_errors_without_secrets() {
    rt().block_on(async {
        for (url, says) in [
            ("http://bucket/x", "starts with s3://"),
            ("s3:///prefix", "names no bucket"),
            ("s3://Not_A_Bucket/x", "not a bucket name"),
            ("s3://bucket/a//b", "not a valid object key prefix"),
            ("s3://bucket/p?colour=blue", "unknown option `colour`"),
            // The cache's options are the cache's: a store opened by
            // itself refuses them (fleche::open takes them).
            ("s3://bucket/p?strict=true", "unknown option `strict`"),
            ("s3://bucket/p?max_retries=lots", "takes a number"),
            ("s3://bucket/p?allow_http=yes", "true or false"),
            ("s3://bucket/p?region=", "`region` is empty"),
            (
                "s3://bucket/p?endpoint=http://127.0.0.1:1",
                "add allow_http=true",
            ),
        ] {
            let sep = if url.contains('?') { '&' } else { '?' };
            let with_secrets = format!("{url}{sep}{CREDENTIALS}");
            let e = S3Store::open(&with_secrets).await.unwrap_err();
            let text = ErrorChain(&e).to_string();
            assert!(matches!(e, OpenError::Url(_)), "{url}: {text}");
            assert!(text.contains(says), "{url}: {text}");
            assert_no_secrets(&e);
        }
        let e = S3Store::open("s3://AKIDLEAKME:hunter2secret@bucket/p")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("environment"), "{e}");
        assert_no_secrets(&e);
        // A secret option with an empty value says so without a value.
        let e = S3Store::open("s3://bucket/p?secret_access_key=&access_key_id=AKIDLEAKME")
            .await
            .unwrap_err();
        assert!(e.to_string().contains("secret_access_key"), "{e}");
        assert_no_secrets(&e);
    });
}

/// Through the registry, as `fleche::open` reads it: the same checks, the
/// cache's options taken out first, and no secret in the error.
#[test]
fn malformed_urls_through_the_registry() {
    for (url, says) in [
        ("s3://Not_A_Bucket/x?strict=true", "not a bucket name"),
        (
            "s3://bucket/p?colour=blue&strict=true",
            "unknown option `colour`",
        ),
        (
            "s3://bucket/p?max_retries=lots&strict=true",
            "takes a number",
        ),
    ] {
        let e = fleche::open(&format!("{url}&{CREDENTIALS}")).unwrap_err();
        let text = ErrorChain(&e).to_string();
        assert!(text.contains(says), "{url}: {text}");
        assert_eq!(e.store_kind(), None, "{url}: {text}");
        assert_no_secrets(&e);
    }
}

/// Opening a store on a port where nothing listens fails as
/// `Unavailable` after the bounded retries, with the refusal in the chain,
/// without secrets.
#[test]
fn unreachable_endpoint_is_unavailable_in_bounded_time() {
    rt().block_on(async {
        // A port that was free a moment ago: connections are refused.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!(
            "s3://bucket/p?endpoint=http://127.0.0.1:{port}&allow_http=true&region=us-east-1\
             &max_retries=2&retry_timeout_ms=3000&connect_timeout_ms=500&{CREDENTIALS}"
        );
        let started = Instant::now();
        let e = S3Store::open(&url).await.unwrap_err();
        let took = started.elapsed();
        let text = ErrorChain(&e).to_string();
        let OpenError::Store(store) = &e else {
            panic!("not a store error: {text}")
        };
        assert_eq!(store.kind(), ErrorKind::Unavailable, "{text}");
        assert!(store.is_transient());
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert_eq!(
            store.message(),
            "cannot open s3://bucket/p: the server cannot be reached or is failing",
            "{text}"
        );
        assert!(text.contains("Connection refused"), "{text}");
        assert_no_secrets(&e);
        eprintln!("an unreachable endpoint: {text}");
        // Through the registry: the URL shown without its credentials.
        let e = fleche::open(&url).unwrap_err();
        let text = ErrorChain(&e).to_string();
        assert_eq!(e.store_kind(), Some(ErrorKind::Unavailable), "{text}");
        assert!(text.contains("secret_access_key=***"), "{text}");
        assert_no_secrets(&e);
    });
}

/// A server that accepts connections and never answers: each request
/// times out, and the whole open is bounded by the timeouts and retries.
#[test]
fn silent_server_times_out_as_unavailable() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming().flatten() {
            let mut c = conn;
            let mut buf = [0u8; 1024];
            let _ = c.set_read_timeout(Some(Duration::from_millis(10)));
            let _ = c.read(&mut buf);
            held.push(c); // never answer
        }
    });
    rt().block_on(async {
        let url = format!(
            "s3://bucket/p?endpoint=http://127.0.0.1:{port}&allow_http=true&region=us-east-1\
             &timeout_ms=300&max_retries=1&retry_timeout_ms=2000&{CREDENTIALS}"
        );
        let started = Instant::now();
        let e = S3Store::open(&url).await.unwrap_err();
        let took = started.elapsed();
        assert!(
            matches!(&e, OpenError::Store(s) if s.kind() == ErrorKind::Unavailable),
            "{}",
            ErrorChain(&e)
        );
        assert!(took < Duration::from_secs(10), "took {took:?}");
        assert_no_secrets(&e);
    });
}

/// A store and the raw object store under it, for writing damage.
struct Damageable {
    store: S3Store,
    raw: Arc<dyn ObjectStore>,
    prefix: String,
}

impl Damageable {
    async fn put_raw(&self, dir: &str, key: Digest, bytes: &'static [u8]) {
        let hex = key.to_hex();
        let path = Path::from(format!("{}/{dir}/{}/{hex}", self.prefix, &hex[..2]));
        self.raw
            .put(&path, PutPayload::from_static(bytes))
            .await
            .unwrap();
    }
}

async fn in_memory() -> Damageable {
    let raw: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
    let store = S3Store::from_object_store_with(raw.clone(), "damage", S3Options::in_process())
        .await
        .unwrap();
    Damageable {
        store,
        raw,
        prefix: "damage".into(),
    }
}

async fn on_moto(endpoint: &str) -> Damageable {
    let url = support::fresh_url(endpoint, "errors", "");
    let store = S3Store::open(&url).await.unwrap();
    Damageable {
        raw: store.object_store().clone(),
        prefix: store.prefix().to_owned(),
        store,
    }
}

static SPEC: FnSpec = FnSpec::new("fleche_s3::tests::damaged").with_version(1);

/// Garbage under a value's key and under a record's key reads as
/// `Corrupt`, with the key; the cache takes either as a miss and repairs.
async fn damage_reads_as_corrupt(d: Damageable) {
    let s = &d.store;
    // A value whose bytes are not the ones its key names.
    let (key, bytes) = (
        Digest::of(b"the real value"),
        Bytes::from_static(b"the real value"),
    );
    ValueStore::put(s, key, bytes.clone()).await.unwrap();
    d.put_raw("values", key, b"something else").await;
    let e = ValueStore::get(s, key).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
    assert_eq!(e.key(), Some(key));
    ValueStore::put(s, key, bytes.clone()).await.unwrap();
    assert_eq!(ValueStore::get(s, key).await.unwrap(), Some(bytes));

    // A record object that does not decode.
    let rkey = Digest::of(b"a record");
    let record = CallRecord::new(
        rkey,
        "f",
        ValueRef {
            digest: Digest::of(b"x"),
            inline: Some(Bytes::from_static(b"x")),
        },
    );
    CallStore::put(s, record.clone()).await.unwrap();
    d.put_raw("calls", rkey, b"\xff\x00 not cbor").await;
    for e in [
        CallStore::get(s, rkey).await.unwrap_err(),
        s.get_result(rkey).await.unwrap_err(),
    ] {
        assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");
        assert_eq!(e.key(), Some(rkey));
    }
    // A record of another key under this one.
    let other = CallRecord::new(Digest::of(b"other"), "f", record.result.clone());
    let other_bytes: &'static [u8] = Box::leak(other.to_bytes().unwrap().into_boxed_slice());
    d.put_raw("calls", rkey, other_bytes).await;
    let e = CallStore::get(s, rkey).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Corrupt, "{e}");

    // Through the cache: damage is a miss, and the recomputation repairs.
    let store = Arc::new(s.clone());
    let cache = Cache::builder(store.clone(), store.clone()).build();
    let args = [("n", codec::digest(&7u64).unwrap())];
    let runs = AtomicUsize::new(0);
    let compute = || async {
        cache
            .get_or_compute(&SPEC, &args, async {
                runs.fetch_add(1, Ordering::SeqCst);
                49u64
            })
            .await
            .unwrap()
    };
    assert_eq!(compute().await, 49);
    d.put_raw("calls", SPEC.key(&args), b"garbage").await;
    assert_eq!(compute().await, 49);
    assert_eq!(runs.load(Ordering::SeqCst), 2, "a damaged record was a hit");
    assert_eq!(compute().await, 49);
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "the record was not repaired"
    );

    // A damaged claim object is free to take.
    let ckey = Digest::of(b"claimed");
    d.put_raw("claims", ckey, b"{not json").await;
    let claim = s
        .claim(ckey, &Owner::new(), Duration::from_secs(5))
        .await
        .unwrap();
    assert!(claim.is_acquired(), "{claim:?}");
}

#[test]
fn damaged_objects_are_corrupt_in_memory() {
    rt().block_on(async { damage_reads_as_corrupt(in_memory().await).await });
}

#[test]
fn damaged_objects_are_corrupt_on_the_server() {
    let Some(endpoint) = fleche_conformance::server_url(support::SERVER) else {
        return;
    };
    rt().block_on(async {
        let d = on_moto(&endpoint).await;
        let store = d.store.clone();
        damage_reads_as_corrupt(d).await;
        store.destroy().await.unwrap();
    });
}

/// The store's `Debug` shows where it is, never the credentials.
#[test]
fn debug_shows_no_secrets() {
    let Some(endpoint) = fleche_conformance::server_url(support::SERVER) else {
        return;
    };
    rt().block_on(async {
        // moto takes any credentials.
        let url = support::fresh_url(&endpoint, "debug", &format!("&{CREDENTIALS}"));
        let store = S3Store::open(&url).await.unwrap();
        let shown = format!("{store:?}");
        assert!(shown.contains("S3Store") && shown.contains("secret_access_key=***"));
        for secret in SECRETS {
            assert!(!shown.contains(secret), "{shown}");
        }
        store.destroy().await.unwrap();
    });
}

/// A store without conditional updates (a local directory: object_store's
/// `LocalFileSystem` creates conditionally but cannot update on an ETag)
/// says it has no claims, and refuses them as `Unsupported`.
#[test]
fn stores_without_conditional_updates_offer_no_claims() {
    rt().block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let local =
            fleche_s3::object_store::local::LocalFileSystem::new_with_prefix(dir.path()).unwrap();
        let store = S3Store::from_object_store(Arc::new(local), "cache")
            .await
            .unwrap();
        assert!(!store.capabilities().claims);
        let e = store
            .claim(Digest::of(b"k"), &Owner::new(), Duration::from_secs(1))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        // The rest works.
        let bytes = Bytes::from_static(b"v");
        ValueStore::put(&store, Digest::of(&bytes), bytes.clone())
            .await
            .unwrap();
        assert_eq!(
            ValueStore::get(&store, Digest::of(&bytes)).await.unwrap(),
            Some(bytes)
        );
    });
}

/// A bucket that does not exist is a clear error when the store opens,
/// not a failure on the first cached call.
#[test]
fn missing_bucket_is_a_clear_error() {
    let Some(endpoint) = fleche_conformance::server_url(support::SERVER) else {
        return;
    };
    rt().block_on(async {
        let url = support::fresh_url(&endpoint, "nobucket", "").replacen(
            &support::bucket(),
            "fleche-no-such-bucket",
            1,
        );
        let e = S3Store::open(&url).await.unwrap_err();
        let text = ErrorChain(&e).to_string();
        assert!(
            matches!(&e, OpenError::Store(s) if s.kind() == ErrorKind::Backend),
            "{text}"
        );
        assert!(e.to_string().contains("bucket does not exist"), "{text}");
        assert_no_secrets(&e);
    });
}
