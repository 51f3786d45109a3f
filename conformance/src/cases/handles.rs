//! Two handles on one store see each other's writes, overwrites and
//! deletes, also after they have read.

use crate::harness::{CaseResult, Harness};

/// Two handles opened on the same location: each reads what the other
/// wrote, overwrote and deleted after its own earlier read.
pub(crate) async fn handles_see_each_others_writes(h: &Harness) -> CaseResult {
    let _ = h;
    Err(crate::CaseError::fail("not written yet"))
}
