//! Queries: the sorted sets give the keys of one function (or of all
//! records) in a time range and order, page by page; the records are then
//! read in one pipeline per page and checked against the rest of the query
//! (arguments, metadata) here.

use fleche_core::{CallRecord, Digest, Order, Query, StoreError};
use futures::stream::{self, BoxStream, StreamExt};
use redis::aio::ConnectionManager;

use crate::calls::decode_record;
use crate::error::{corrupt, store_error};
use crate::keys::Keys;
use crate::{RedisStore, scripts};

/// Index entries read per round trip.
const PAGE: usize = 200;

struct Scan {
    conn: ConnectionManager,
    keys: Keys,
    query: Query,
    /// The sorted set walked: a function's, or every record's.
    index: String,
    /// Score bounds, as ZRANGEBYSCORE takes them.
    min: String,
    max: String,
    newest_first: bool,
    /// Entries of the index already walked past.
    offset: usize,
    /// Results still wanted.
    wanted: usize,
    done: bool,
    /// Matching records not yet given out, with their index scores.
    held: Vec<(i64, CallRecord)>,
}

pub(crate) fn run<'a>(
    store: &'a RedisStore,
    query: &'a Query,
) -> BoxStream<'a, Result<CallRecord, StoreError>> {
    let keys = store.inner.keys.clone();
    let index = match &query.function {
        Some(f) => keys.function_index(f),
        None => keys.all_index(),
    };
    let scan = Scan {
        conn: store.inner.conn.clone(),
        index,
        min: query
            .created_after
            .map_or("-inf".to_owned(), |t| t.as_micros().to_string()),
        max: query
            .created_before
            .map_or("+inf".to_owned(), |t| format!("({}", t.as_micros())),
        newest_first: query.order == Order::NewestFirst,
        offset: 0,
        wanted: query.limit.unwrap_or(usize::MAX),
        done: false,
        held: Vec::new(),
        query: query.clone(),
        keys,
    };
    let pages = stream::unfold(scan, |mut scan| async move {
        if (scan.done && scan.held.is_empty()) || scan.wanted == 0 {
            return None;
        }
        let page = match scan.next_page().await {
            Ok(page) => page,
            Err(e) => {
                scan.done = true;
                vec![Err(e)]
            }
        };
        Some((stream::iter(page), scan))
    });
    pages.flatten().boxed()
}

impl Scan {
    /// The next page's matching records (and damaged ones, as errors).
    async fn next_page(&mut self) -> Result<Vec<Result<CallRecord, StoreError>>, StoreError> {
        let err = |e| store_error("run the query", None, e);
        let mut range = if self.newest_first {
            let mut c = redis::cmd("ZREVRANGEBYSCORE");
            c.arg(&self.index).arg(&self.max).arg(&self.min);
            c
        } else {
            let mut c = redis::cmd("ZRANGEBYSCORE");
            c.arg(&self.index).arg(&self.min).arg(&self.max);
            c
        };
        range
            .arg("WITHSCORES")
            .arg("LIMIT")
            .arg(self.offset)
            .arg(PAGE);
        let members: Vec<(String, f64)> = range.query_async(&mut self.conn).await.map_err(err)?;
        if members.len() < PAGE {
            self.done = true;
        }
        let mut reads = redis::pipe();
        let mut entries = Vec::with_capacity(members.len());
        for (member, score) in &members {
            let digest = member.parse::<Digest>().map_err(|_| {
                corrupt(
                    Digest::of(member.as_bytes()),
                    format!("index {} holds `{member}`, not a key", self.index),
                )
            })?;
            reads.cmd("HGET").arg(self.keys.record(digest)).arg("r");
            // Scores are whole microseconds, exact in a double.
            entries.push((digest, *score as i64));
        }
        // Each read answers for itself: a record key that holds another type
        // (damage: WRONGTYPE) fails its own read only, reported as a
        // `Corrupt` error with its key, and the query goes on with the other
        // records, as it does past a record that does not decode. Without
        // this one damaged key failed the whole query, with no key.
        reads.ignore_errors();
        let records: Vec<redis::RedisResult<Option<Vec<u8>>>> = if entries.is_empty() {
            Vec::new()
        } else {
            reads.query_async(&mut self.conn).await.map_err(err)?
        };
        let mut out = Vec::new();
        let mut pruned = 0;
        for ((digest, score), read) in entries.into_iter().zip(records) {
            let bytes = match read {
                Ok(bytes) => bytes,
                Err(e) => {
                    out.push(Err(store_error("read the call record", Some(digest), e)));
                    continue;
                }
            };
            let Some(bytes) = bytes else {
                // Expired (or deleted since the page was read): drop the
                // index entry, unless the record is back.
                let mut prune = scripts::PRUNE.key(self.keys.record(digest));
                prune.key(&self.index).arg(digest.to_hex());
                let n: u64 = prune.invoke_async(&mut self.conn).await.map_err(err)?;
                if n > 0 {
                    tracing::debug!(key = %digest, index = %self.index, "fleche-redis: pruned the index entry of an expired record");
                }
                pruned += n as usize;
                continue;
            };
            match decode_record(digest, &bytes) {
                Ok(record) if self.query.matches(&record) => self.held.push((score, record)),
                Ok(_) => {}
                Err(e) => out.push(Err(e)),
            }
        }
        self.offset += members.len() - pruned;
        self.release(&mut out);
        Ok(out)
    }

    /// Moves the held records that are ready into `out`, up to the limit.
    ///
    /// Ascending, the index already gives records of equal `created_at` in
    /// key order, as [`Query::apply`] does. Descending, it gives them in
    /// reverse key order; so the records of one `created_at` are held until
    /// the index has moved past it (the run may go on in the next page),
    /// then sorted by key.
    fn release(&mut self, out: &mut Vec<Result<CallRecord, StoreError>>) {
        let mut ready = std::mem::take(&mut self.held);
        if self.newest_first {
            let open_run = match (self.done, ready.last()) {
                (false, Some((score, _))) => Some(*score),
                _ => None,
            };
            if let Some(score) = open_run {
                let split = ready.partition_point(|(s, _)| *s != score);
                self.held = ready.split_off(split);
            }
            ready.sort_by(|(a, ra), (b, rb)| b.cmp(a).then(ra.key.cmp(&rb.key)));
        }
        for (_, record) in ready {
            if self.wanted == 0 {
                self.held.clear();
                return;
            }
            self.wanted -= 1;
            out.push(Ok(record));
        }
    }
}
