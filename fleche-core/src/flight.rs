//! In-process single-flight: concurrent callers of one key share one run.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;

use crate::Digest;

/// How a flight ended, as its followers see it.
#[derive(Clone)]
pub(crate) enum Landing {
    /// The leader produced this encoded value.
    Value(Bytes),
    /// The leader failed, panicked or was cancelled: followers try again.
    Failed,
}

type Slot = watch::Receiver<Option<Landing>>;

/// The keys being computed in this process, per cache.
#[derive(Default)]
pub(crate) struct Flights {
    map: Mutex<HashMap<Digest, Slot>>,
}

pub(crate) enum Join {
    /// This caller runs the body and must land the flight.
    Leader(FlightGuard),
    /// Another caller runs it; wait on this.
    Follower(Slot),
}

impl Flights {
    pub(crate) fn join(self: &Arc<Self>, key: Digest) -> Join {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(rx) = map.get(&key) {
            return Join::Follower(rx.clone());
        }
        let (tx, rx) = watch::channel(None);
        map.insert(key, rx);
        Join::Leader(FlightGuard {
            flights: Arc::clone(self),
            key,
            tx,
        })
    }
}

/// Held by the leader. Landing it (or dropping it, which lands it as failed)
/// wakes the followers and lets the next caller lead.
pub(crate) struct FlightGuard {
    flights: Arc<Flights>,
    key: Digest,
    tx: watch::Sender<Option<Landing>>,
}

impl FlightGuard {
    pub(crate) fn land(self, bytes: Bytes) {
        self.tx.send_replace(Some(Landing::Value(bytes)));
    }
}

impl Drop for FlightGuard {
    fn drop(&mut self) {
        self.tx.send_if_modified(|v| {
            if v.is_none() {
                *v = Some(Landing::Failed);
                true
            } else {
                false
            }
        });
        let mut map = self.flights.map.lock().unwrap_or_else(|e| e.into_inner());
        map.remove(&self.key);
    }
}

/// Waits for a flight to land.
pub(crate) async fn wait(mut slot: Slot) -> Landing {
    match slot.wait_for(Option::is_some).await {
        Ok(v) => v.clone().unwrap_or(Landing::Failed),
        Err(_) => Landing::Failed,
    }
}
