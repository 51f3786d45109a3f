//! Data survives dropping and reopening the store.

use futures::TryStreamExt;

use fleche_core::Digest;

use super::fixtures::{key, record, value};
use crate::harness::{CaseResult, Harness, ensure};

/// Values and records written, every handle dropped, the store reopened
/// from its location: everything is still there.
pub(crate) async fn persistence_survives_reopening(h: &Harness) -> CaseResult {
    let (at, s) = h.fresh().await?;
    let mut values = Vec::new();
    for n in 0..20 {
        let (k, bytes) = value(50_000 + n, 1000 + n as usize);
        s.values.put(k, bytes.clone()).await?;
        s.calls
            .put(record(key("persist", n), "conformance::persist", n))
            .await?;
        values.push((k, bytes));
    }
    drop(s);
    let s = h.open(&at).await?;
    for (n, (k, bytes)) in values.iter().enumerate() {
        ensure!(
            s.values.get(*k).await?.as_ref() == Some(bytes),
            "value {n} did not survive reopening"
        );
        let expected = record(key("persist", n as u64), "conformance::persist", n as u64);
        ensure!(
            s.calls.get(expected.key).await? == Some(expected),
            "record {n} did not survive reopening"
        );
    }
    let listed: Vec<Digest> = s.values.list("").try_collect().await?;
    ensure!(
        listed.len() == values.len(),
        "after reopening, list sees {} values, expected {}",
        listed.len(),
        values.len()
    );
    Ok(())
}
