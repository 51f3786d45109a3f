//! `rediss://`: a TLS-only redis-server of the test's own, with a
//! self-signed certificate made by `openssl` and trusted through
//! `SSL_CERT_FILE` (which the system-certificate loader reads). Only with
//! the `tls` feature: `cargo test -p fleche-redis --features tls`.

#![cfg(feature = "tls")]

mod support;

use std::process::Command;

use fleche::{CallStore, Digest};
use fleche_core::bridge::block_on;
use fleche_redis::RedisStore;

#[test]
fn rediss_urls_connect_over_tls() {
    if let Ok(url) = std::env::var(CHILD) {
        return child_checks(&url);
    }
    if !support::available() || !support::tool("openssl", "version", "apt-get install openssl") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("fleche-redis-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl runs (apt-get install openssl)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // A CA, and a server certificate for 127.0.0.1 that it signs.
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=fleche test CA",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    openssl(&[
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "key.pem",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n\
         keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "cert.pem",
    ]);
    let server = support::Server::start_tls(cert.to_str().unwrap(), key.to_str().unwrap());
    insecure_skips_the_certificate_check(server.port);
    // The certificate loader reads SSL_CERT_FILE from the environment; this
    // test runs itself again as a child with it set (setting it here would
    // need `unsafe`, which the crate forbids).
    let url = format!("rediss://127.0.0.1:{}/0?namespace=tls-test", server.port);
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "rediss_urls_connect_over_tls",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SSL_CERT_FILE", &ca)
        .env(CHILD, &url)
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && text.contains(PASSED), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Here the test's CA is not trusted: `#insecure` connects all the same,
/// through the registry, with a cache option before the fragment (which
/// the old parsers read as `strict=true#insecure`); without it, the
/// certificate is refused.
fn insecure_skips_the_certificate_check(port: u16) {
    let url = format!("rediss://127.0.0.1:{port}/0?namespace=tls-insecure&strict=true#insecure");
    let cache = fleche::open(&url).expect("#insecure connects without trusting the certificate");
    assert!(cache.options().strict);
    let spec = fleche::FnSpec::new("tls::insecure");
    let args = [("x", fleche::arg_digest(&4u64).unwrap())];
    let n: u64 = cache.get_or_compute_blocking(&spec, &args, || 16).unwrap();
    let again: u64 = cache.get_or_compute_blocking(&spec, &args, || 0).unwrap();
    assert_eq!((n, again), (16, 16));
    let store = block_on(RedisStore::open(&url.replace("&strict=true", ""))).unwrap();
    block_on(store.destroy()).unwrap();
    // The CA was made by this test: whatever the environment trusts, it
    // is not in it (the child below trusts it through SSL_CERT_FILE).
    let checked = url.replace("#insecure", "") + "&connect_timeout_ms=300";
    let e = fleche::open(&checked).expect_err("an untrusted certificate is refused");
    eprintln!("an untrusted certificate: {}", fleche::ErrorChain(&e));
}

/// Names the server in the child; unset in the parent.
const CHILD: &str = "FLECHE_TLS_TEST_URL";
const PASSED: &str = "fleche-redis TLS checks passed";

/// The child's part: connect with `rediss://`, use the store and a cache.
fn child_checks(url: &str) {
    let store = block_on(RedisStore::open(url)).expect("TLS connects");
    assert_eq!(
        block_on(CallStore::get(&store, Digest::of(b"x"))).unwrap(),
        None
    );
    let cache = fleche::open(url).expect("the facade opens rediss://");
    let spec = fleche::FnSpec::new("tls::square");
    let args = [("x", fleche::arg_digest(&3u64).unwrap())];
    let n: u64 = cache.get_or_compute_blocking(&spec, &args, || 9).unwrap();
    let again: u64 = cache.get_or_compute_blocking(&spec, &args, || 0).unwrap();
    assert_eq!((n, again), (9, 9));
    // Plain text to the TLS port fails, without hanging.
    let plain = url.replacen("rediss://", "redis://", 1)
        + "&connect_timeout_ms=300&response_timeout_ms=300";
    assert!(block_on(RedisStore::open(&plain)).is_err());
    block_on(store.destroy()).unwrap();
    println!("{PASSED}");
}
