//! Queries over call records.

use serde::{Deserialize, Serialize};

use crate::{CallRecord, CodecError, Digest, Timestamp};

/// In which order a query returns records.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Order {
    /// Whatever order the store finds them in.
    #[default]
    Any,
    /// Newest `created_at` first.
    NewestFirst,
    /// Oldest `created_at` first.
    OldestFirst,
}

/// A filter over call records. All conditions must hold.
///
/// ```
/// use fleche_core::{Query, Order};
/// let q = Query::new()
///     .function("my_crate::square")
///     .arg("x", &3u64)
///     .metadata("tags.project", "demo")
///     .order(Order::NewestFirst)
///     .limit(10);
/// assert_eq!(q.function.as_deref(), Some("my_crate::square"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Query {
    /// The function name must equal this.
    pub function: Option<String>,
    /// Each named argument must have this digest.
    pub args: Vec<(String, Digest)>,
    /// Each metadata path (see [`CallRecord::metadata_at`]) must equal this.
    pub metadata: Vec<(String, serde_json::Value)>,
    /// `created_at` must be at or after this.
    pub created_after: Option<Timestamp>,
    /// `created_at` must be before this.
    pub created_before: Option<Timestamp>,
    /// The order of the results.
    pub order: Order,
    /// At most this many results.
    pub limit: Option<usize>,
}

impl Query {
    /// A query that matches every record.
    pub fn new() -> Self {
        Self::default()
    }

    /// Only records of this function.
    pub fn function(mut self, name: impl Into<String>) -> Self {
        self.function = Some(name.into());
        self
    }

    /// Only records whose argument `name` had the value `value`.
    ///
    /// # Panics
    /// If `value`'s `Serialize` implementation fails; see [`Query::try_arg`].
    pub fn arg<T: Serialize + ?Sized>(self, name: impl Into<String>, value: &T) -> Self {
        match self.try_arg(name, value) {
            Ok(q) => q,
            Err(e) => panic!("query argument cannot be encoded: {e}"),
        }
    }

    /// Like [`Query::arg`], returning the encoding error instead of panicking.
    pub fn try_arg<T: Serialize + ?Sized>(
        self,
        name: impl Into<String>,
        value: &T,
    ) -> Result<Self, CodecError> {
        Ok(self.arg_digest(name, crate::codec::digest(value)?))
    }

    /// Only records whose argument `name` has this digest.
    pub fn arg_digest(mut self, name: impl Into<String>, digest: Digest) -> Self {
        self.args.push((name.into(), digest));
        self
    }

    /// Only records whose metadata at `path` (`"tags.project"`) equals `value`.
    pub fn metadata(
        mut self,
        path: impl Into<String>,
        value: impl Into<serde_json::Value>,
    ) -> Self {
        self.metadata.push((path.into(), value.into()));
        self
    }

    /// Only records created at or after `t`.
    pub fn created_after(mut self, t: Timestamp) -> Self {
        self.created_after = Some(t);
        self
    }

    /// Only records created before `t`.
    pub fn created_before(mut self, t: Timestamp) -> Self {
        self.created_before = Some(t);
        self
    }

    /// The order of results.
    pub fn order(mut self, order: Order) -> Self {
        self.order = order;
        self
    }

    /// At most `n` results.
    pub fn limit(mut self, n: usize) -> Self {
        self.limit = Some(n);
        self
    }

    /// Whether `record` passes every filter (order and limit aside). Stores
    /// without query pushdown filter with this.
    pub fn matches(&self, record: &CallRecord) -> bool {
        self.function.as_ref().is_none_or(|f| *f == record.function)
            && self.args.iter().all(|(name, digest)| {
                record
                    .args
                    .iter()
                    .any(|a| a.name == *name && a.digest == *digest)
            })
            && self
                .metadata
                .iter()
                .all(|(path, value)| record.metadata_at(path) == Some(value))
            && self.created_after.is_none_or(|t| record.created_at >= t)
            && self.created_before.is_none_or(|t| record.created_at < t)
    }

    /// Filters, orders and limits records in memory: the whole query for a
    /// store that can list its records but not filter them.
    pub fn apply(&self, records: impl IntoIterator<Item = CallRecord>) -> Vec<CallRecord> {
        let mut out: Vec<CallRecord> = records.into_iter().filter(|r| self.matches(r)).collect();
        match self.order {
            Order::Any => {}
            Order::NewestFirst => {
                out.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(a.key.cmp(&b.key)))
            }
            Order::OldestFirst => {
                out.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.key.cmp(&b.key)))
            }
        }
        if let Some(n) = self.limit {
            out.truncate(n);
        }
        out
    }
}
