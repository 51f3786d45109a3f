//! Promise 7: errors are typed, carry the key and the backend's name, and
//! never show a credential.

use crate::harness::{CaseResult, Harness};

/// Without claims, `claim`, `renew` and `release` are `Unsupported` errors
/// with the key and the backend; with claims, renewing or releasing a key
/// nobody holds is `Ok(false)`, never an error.
pub(crate) async fn errors_claim_operations_are_typed(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}

/// A record damaged behind the store's back reads as a `Corrupt` error
/// with its key, leaves other records readable, and is replaced by the
/// next put.
pub(crate) async fn errors_damaged_record_is_corrupt(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}

/// No error message and no `Debug` output of the stores shows the
/// location's credential.
pub(crate) async fn errors_hide_credentials(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}
