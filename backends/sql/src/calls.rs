//! The call store: one row per record, and claims as rows with a lease on
//! the database's clock.

use std::time::Duration;

use fleche_core::{
    CallRecord, CallStore, Capabilities, Claim, Digest, Owner, Query, StoreError, ValueRef,
    async_trait,
};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::database::Database;
use crate::exec::{Bind, Exec, Text};
use crate::rows::{Hit, Holder, PreviousOwner, RecordColumns};
use crate::{SqlStore, filter};

#[async_trait]
impl<D: Database> CallStore for SqlStore<D> {
    async fn put(&self, record: CallRecord) -> Result<(), StoreError> {
        let binds = RecordColumns::of::<D>(&record)?.into_binds();
        self.exec()
            .execute(&self.sql().put_record, binds)
            .await
            .map_err(|e| self.error("cannot store the call record", Some(record.key), e))?;
        Ok(())
    }

    async fn get(&self, key: Digest) -> Result<Option<CallRecord>, StoreError> {
        let row = self
            .exec()
            .fetch_optional::<RecordColumns>(&self.sql().get_record, vec![Bind::digest(key)])
            .await
            .map_err(|e| self.error("cannot read the call record", Some(key), e))?;
        row.map(|columns| columns.into_record(D::BACKEND))
            .transpose()
    }

    /// The hit: one statement, read on the calling thread where the
    /// database allows it (SQLite), else through the pool.
    async fn get_result(&self, key: Digest) -> Result<Option<ValueRef>, StoreError> {
        let sql = &self.sql().get_result;
        let hit = match self.db().read_hit(sql.as_str(), key) {
            Some(read) => read?,
            None => self
                .exec()
                .fetch_optional::<Hit>(sql, vec![Bind::digest(key)])
                .await
                .map_err(|e| self.error("cannot read the call's result", Some(key), e))?,
        };
        hit.map(|hit| hit.into_result(D::BACKEND, key)).transpose()
    }

    async fn delete(&self, key: Digest) -> Result<bool, StoreError> {
        let deleted = self
            .exec()
            .execute(&self.sql().delete_record, vec![Bind::digest(key)])
            .await
            .map_err(|e| self.error("cannot delete the call record", Some(key), e))?;
        Ok(deleted > 0)
    }

    fn query<'a>(&'a self, query: &'a Query) -> BoxStream<'a, Result<CallRecord, StoreError>> {
        let select = filter::select_records::<D>(query);
        self.exec()
            .fetch::<RecordColumns>(&Text::new(select.text), select.binds)
            .map(|row| {
                row.map_err(|e| self.error("cannot query the call records", None, e))?
                    .into_record(D::BACKEND)
            })
            .boxed()
    }

    fn capabilities(&self) -> Capabilities {
        let mut caps = Capabilities::default();
        caps.claims = true;
        caps.query_pushdown = true;
        caps.persistent = self.db().persistent();
        caps.shared = caps.persistent;
        caps
    }

    async fn claim(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<Claim, StoreError> {
        self.claim_until_decided(key, owner, ttl)
            .await
            .map_err(|e| self.error("cannot claim the call", Some(key), e))
    }

    async fn renew(&self, key: Digest, owner: &Owner, ttl: Duration) -> Result<bool, StoreError> {
        let binds = vec![
            Bind::digest(key),
            Bind::Text(owner.as_str().to_owned()),
            Bind::Int(millis(ttl)),
        ];
        let renewed = self
            .exec()
            .execute(&self.sql().renew, binds)
            .await
            .map_err(|e| self.error("cannot renew the claim", Some(key), e))?;
        Ok(renewed > 0)
    }

    async fn release(&self, key: Digest, owner: &Owner) -> Result<bool, StoreError> {
        let binds = vec![Bind::digest(key), Bind::Text(owner.as_str().to_owned())];
        let released = self
            .exec()
            .execute(&self.sql().release, binds)
            .await
            .map_err(|e| self.error("cannot release the claim", Some(key), e))?;
        Ok(released > 0)
    }

    fn backend_name(&self) -> &'static str {
        D::BACKEND
    }
}

#[allow(private_bounds)]
impl<D: Database> SqlStore<D> {
    /// Claims until it is decided. An attempt is an upsert that wins, or a
    /// read of the holder that lost to it; between the two the holder may
    /// release, leaving nobody to report, and then it runs again.
    async fn claim_until_decided(
        &self,
        key: Digest,
        owner: &Owner,
        ttl: Duration,
    ) -> Result<Claim, sqlx::Error> {
        let claim = vec![
            Bind::digest(key),
            Bind::Text(owner.as_str().to_owned()),
            Bind::Int(millis(ttl)),
        ];
        for _ in 0..100 {
            let won = self
                .exec()
                .fetch_optional::<PreviousOwner>(&self.sql().claim, claim.clone())
                .await?;
            if let Some(PreviousOwner(previous)) = won {
                let took_over = previous.is_some_and(|p| p != owner.as_str());
                return Ok(Claim::Acquired { took_over });
            }
            let holder = self
                .exec()
                .fetch_optional::<Holder>(&self.sql().claim_holder, vec![Bind::digest(key)])
                .await?;
            if let Some(holder) = holder {
                return Ok(held(holder.owner, holder.remaining_ms));
            }
        }
        // Claimed and released 100 times between two statements: report it
        // as held, briefly, and let the caller's backoff try again.
        Ok(held(String::from("(changing too fast)"), 0))
    }
}

/// The claim `holder` holds for `remaining_ms` more.
fn held(holder: String, remaining_ms: i64) -> Claim {
    Claim::Held {
        holder: Owner::from_string(holder),
        remaining: Duration::from_millis(u64::try_from(remaining_ms).unwrap_or(0)),
    }
}

/// A duration in whole milliseconds, as the databases take it.
fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
