//! # fleche-pool
//!
//! A process pool for fleche — the `ProcessPoolExecutor` of this project.
//! A [`Task`] (a `#[fleche]` function and the scope's configuration)
//! travels to a worker process of the same program, which reopens the
//! cache from it (once per process) and calls it there; results come back
//! through serde. Before anything is dispatched, [`Pool::submit`] looks the
//! call up: a stored result comes back at once, and a sweep whose calls
//! are all cached starts no work at all.
//!
//! The workers are this program again, started by
//! [procspawn](https://docs.rs/procspawn): call [`init`] first thing in
//! `main` — a worker runs `main` up to that call and then serves the pool.
//!
//! ```no_run
//! use fleche::fleche;
//! use fleche_pool::Pool;
//!
//! #[fleche]
//! fn simulate(seed: u64) -> f64 {
//!     // minutes of work
//! #   seed as f64
//! }
//!
//! fn main() {
//!     fleche_pool::init(); // workers start here; keep it first
//!     let cache = fleche::open("file:///data/sweep").unwrap();
//!     let task = fleche::with_cache(cache, || fleche::task(simulate)).unwrap();
//!     let pool = Pool::new(8).unwrap();
//!     let results: Vec<f64> = pool.map(&task, (0..1000).map(|s| (s,))).unwrap();
//!     println!("{} results, {} computed in workers", results.len(), pool.dispatched());
//! }
//! ```
//!
//! procspawn runs on Linux and macOS (its channels are `ipc-channel`'s).
//!
//! The store must be one every worker reaches — a file store, SQLite,
//! PostgreSQL, Redis, S3 — not `memory://`, which lives in one process.
//!
//! ## Failures
//!
//! A body that panics is an error for its item ([`PoolError::Panicked`]);
//! its worker stays up and serves the next item. A worker process that
//! dies (an abort, `exit`, a signal) is restarted by the pool and its item
//! is a [`PoolError::WorkerLost`]. A lookup that cannot read the store
//! dispatches the call (the short-circuit fails open).
//!
//! ## In tests
//!
//! A test binary has no `main` of yours: add procspawn as a
//! dev-dependency with its `test-support` feature and call
//! `procspawn::enable_test_support!();` once at the top of the test file
//! instead of [`init`].

#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};

use fleche_core::{Join, Submitted, Task, codec};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_bytes::ByteBuf;

/// The crate that starts and feeds the workers, for its configuration
/// (`procspawn::ProcConfig`, `procspawn::PoolBuilder`).
pub use procspawn;

/// Makes this process able to serve as a worker: a worker process (this
/// program, started again by the pool) serves the pool from here and
/// never returns. Call it first thing in `main`: everything before it runs
/// again in every worker. To configure it, use `procspawn::ProcConfig`
/// instead.
pub fn init() {
    procspawn::init();
}

/// A pool of worker processes that run [`Task`]s.
///
/// The pool starts its workers at once and kills them when it is dropped.
/// Submitting is thread-safe (`&self`).
pub struct Pool {
    workers: procspawn::Pool,
    /// Hands each dispatched call's procspawn handle to the collector. Held
    /// while a call is spawned and handed over, so the collector sees the
    /// calls in the order the workers take them, whichever threads submit
    /// at once.
    collect: Mutex<mpsc::Sender<Collect>>,
    dispatched: AtomicU64,
}

/// A dispatched call for the collector: procspawn's handle, and where its
/// outcome goes.
type Collect = (
    procspawn::JoinHandle<Reply>,
    mpsc::SyncSender<Result<Reply, procspawn::SpawnError>>,
);

/// Joins procspawn's handles in the order the calls were dispatched, which
/// is the order the workers take them, and passes each outcome on to the
/// call's [`JoinHandle`].
///
/// procspawn hands a result over only when its handle is joined: until
/// then the worker that computed it takes no other call. Joining the
/// caller's handles in some other order (the last first, or only some)
/// could then leave every worker waiting on a handle no one joins yet. The
/// oldest call not yet joined is always running or done, so joining in
/// dispatch order never waits on a call that cannot start.
fn collector(calls: mpsc::Receiver<Collect>) {
    for (handle, outcome) in calls {
        // The caller may have dropped its handle: then no one wants it.
        let _ = outcome.send(handle.join());
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("size", &self.size())
            .field("dispatched", &self.dispatched())
            .finish()
    }
}

impl Pool {
    /// A pool of `size` worker processes, started now.
    ///
    /// # Panics
    /// If `size` is 0, or [`init`] was not called (procspawn's check).
    pub fn new(size: usize) -> Result<Self, PoolError> {
        Self::with_builder(&mut procspawn::Pool::builder(size))
    }

    /// A pool from procspawn's builder: to give the workers other
    /// environment variables, or silence their output.
    ///
    /// # Panics
    /// If the builder's size is 0.
    pub fn with_builder(builder: &mut procspawn::PoolBuilder) -> Result<Self, PoolError> {
        let workers = builder
            .build()
            .map_err(|source| PoolError::Start { source })?;
        assert!(workers.size() > 0, "fleche-pool: a pool needs a worker");
        let (collect, calls) = mpsc::channel();
        std::thread::Builder::new()
            .name("fleche-pool-collector".into())
            .spawn(move || collector(calls))
            .expect("fleche-pool: the collector thread starts");
        Ok(Self {
            workers,
            collect: Mutex::new(collect),
            dispatched: AtomicU64::new(0),
        })
    }

    /// How many worker processes the pool has.
    pub fn size(&self) -> usize {
        self.workers.size()
    }

    /// How many calls this pool has handed to its workers so far: the
    /// misses (and failed lookups) of every `submit` and `map`.
    pub fn dispatched(&self) -> u64 {
        self.dispatched.load(Ordering::Relaxed)
    }

    /// Looks the call up and returns the stored result; on a miss, sends
    /// the task and `args` to a worker process and returns its handle
    /// ([`Task::submit`]). [`Submitted::join`] waits for the result.
    ///
    /// Join the handles in any order, or drop them. Each call that has not
    /// finished holds a few file descriptors (its channels); for large
    /// sweeps use [`Pool::map`], which keeps a bounded number in flight.
    ///
    /// ```no_run
    /// # #[fleche::fleche] fn simulate(seed: u64) -> f64 { seed as f64 }
    /// # let task: fleche::Task<(u64,), f64> = fleche::task(simulate).unwrap();
    /// let pool = fleche_pool::Pool::new(4).unwrap();
    /// let handles: Vec<_> = (0..8).map(|s| pool.submit(&task, (s,))).collect();
    /// let cached = handles.iter().filter(|h| h.is_cached()).count();
    /// let results: Vec<f64> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    /// ```
    pub fn submit<A, R>(&self, task: &Task<A, R>, args: A) -> Submitted<R, JoinHandle<R>>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        task.submit(args, |task, args| {
            self.dispatched.fetch_add(1, Ordering::Relaxed);
            let function = task.function();
            let inner = match codec::encode(&args) {
                Ok(bytes) => {
                    let collect = self.collect.lock().unwrap_or_else(|e| e.into_inner());
                    let handle = self.workers.spawn(
                        (task, ByteBuf::from(bytes)),
                        work::<A, R> as fn((Task<A, R>, ByteBuf)) -> Reply,
                    );
                    let (outcome, receive) = mpsc::sync_channel(1);
                    collect
                        .send((handle, outcome))
                        .expect("fleche-pool: the collector runs as long as the pool");
                    Ok(receive)
                }
                Err(e) => Err(PoolError::Codec {
                    function: function.to_owned(),
                    item: None,
                    message: format!("the arguments do not encode: {e}"),
                }),
            };
            JoinHandle {
                inner,
                function,
                result: PhantomData,
            }
        })
    }

    /// Calls the task on every item and gives the results in the items'
    /// order. Each item is looked up first; only the misses go to the
    /// workers, at most a few per worker at a time.
    ///
    /// Every item runs even if one fails; the error is then the first
    /// failed item's ([`PoolError::item`]). The others' results are
    /// stored, so running the sweep again computes only what failed.
    ///
    /// ```no_run
    /// # #[fleche::fleche] fn simulate(seed: u64) -> f64 { seed as f64 }
    /// # let task: fleche::Task<(u64,), f64> = fleche::task(simulate).unwrap();
    /// let pool = fleche_pool::Pool::new(4).unwrap();
    /// let results = pool.map(&task, (0..100).map(|s| (s,))).unwrap();
    /// assert_eq!(results.len(), 100);
    /// ```
    pub fn map<A, R>(
        &self,
        task: &Task<A, R>,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, PoolError>
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        // Enough queued calls to keep every worker busy, few enough that
        // their channels stay well under any descriptor limit.
        let window = self.size() * 4;
        let mut results: Vec<Option<R>> = Vec::new();
        let mut pending: VecDeque<(usize, JoinHandle<R>)> = VecDeque::new();
        let mut first_error: Option<PoolError> = None;
        let mut settle =
            |(i, handle): (usize, JoinHandle<R>), results: &mut Vec<Option<R>>| match handle.join()
            {
                Ok(r) => results[i] = Some(r),
                Err(e) => {
                    first_error.get_or_insert(e.at_item(i));
                }
            };
        for (i, args) in items.into_iter().enumerate() {
            match self.submit(task, args) {
                Submitted::Cached(r) => results.push(Some(r)),
                Submitted::Dispatched(handle) => {
                    results.push(None);
                    pending.push_back((i, handle));
                    if pending.len() >= window {
                        let oldest = pending.pop_front().expect("just pushed");
                        settle(oldest, &mut results);
                    }
                }
            }
        }
        for job in pending {
            settle(job, &mut results);
        }
        if let Some(e) = first_error {
            return Err(e);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every item was answered or joined"))
            .collect())
    }
}

/// What a worker sends back: the result's CBOR, or why there is none.
type Reply = Result<ByteBuf, Failure>;

/// Why a worker sent no result.
#[derive(Debug, Serialize, Deserialize)]
enum Failure {
    Panicked(String),
    Codec(String),
}

/// Runs in the worker: decodes the arguments, calls the task (which
/// reopens its cache on its first call in this process) and encodes the
/// result. A panic is caught, so the worker, and its open cache, stay.
fn work<A, R>((task, args): (Task<A, R>, ByteBuf)) -> Reply
where
    A: DeserializeOwned + 'static,
    R: Serialize + 'static,
{
    let args: A = codec::decode(&args)
        .map_err(|e| Failure::Codec(format!("the arguments do not decode in the worker: {e}")))?;
    let result = catch_unwind(AssertUnwindSafe(|| task.call(args)))
        .map_err(|payload| Failure::Panicked(panic_message(payload.as_ref())))?;
    codec::encode(&result)
        .map(ByteBuf::from)
        .map_err(|e| Failure::Codec(format!("the result does not encode: {e}")))
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a payload that is not a string".to_owned()
    }
}

/// The handle of a call dispatched to a worker process: [`join`] it (or
/// the [`Submitted`] holding it) for the result.
///
/// [`join`]: JoinHandle::join
pub struct JoinHandle<R> {
    inner: Result<mpsc::Receiver<Result<Reply, procspawn::SpawnError>>, PoolError>,
    function: &'static str,
    result: PhantomData<fn() -> R>,
}

impl<R> fmt::Debug for JoinHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinHandle")
            .field("function", &self.function)
            .finish_non_exhaustive()
    }
}

impl<R: DeserializeOwned> JoinHandle<R> {
    /// Waits for the worker's result.
    pub fn join(self) -> Result<R, PoolError> {
        let function = self.function.to_owned();
        let outcome = self.inner?.recv().unwrap_or_else(|_| {
            // The collector is gone only if the pool is: its workers too.
            Err(procspawn::SpawnError::from(std::io::Error::other(
                "the pool was dropped",
            )))
        });
        let reply = outcome.map_err(|e| match e.panic_info() {
            // A panic outside the body: the task did not arrive whole.
            Some(info) => PoolError::WorkerLost {
                function: function.clone(),
                item: None,
                reason: format!("it panicked before running the body: {}", info.message()),
            },
            None => PoolError::WorkerLost {
                function: function.clone(),
                item: None,
                reason: e.to_string(),
            },
        })?;
        match reply {
            Ok(bytes) => codec::decode(&bytes).map_err(|e| PoolError::Codec {
                function,
                item: None,
                message: format!("the result does not decode: {e}"),
            }),
            Err(Failure::Panicked(message)) => Err(PoolError::Panicked {
                function,
                item: None,
                message,
            }),
            Err(Failure::Codec(message)) => Err(PoolError::Codec {
                function,
                item: None,
                message,
            }),
        }
    }
}

impl<R: DeserializeOwned> Join for JoinHandle<R> {
    type Output = R;
    type Error = PoolError;

    fn join(self) -> Result<R, PoolError> {
        JoinHandle::join(self)
    }
}

/// Why the pool gave no result for a call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PoolError {
    /// The worker processes did not start.
    #[error("fleche-pool: the worker processes did not start")]
    Start {
        /// procspawn's error.
        #[source]
        source: procspawn::SpawnError,
    },
    /// The function panicked in the worker; the worker carries on.
    #[error("fleche-pool: {function}{} panicked in a worker process: {message}", item_suffix(*.item))]
    Panicked {
        /// The task's function.
        function: String,
        /// The item of a [`Pool::map`].
        item: Option<usize>,
        /// The panic's message.
        message: String,
    },
    /// The worker process running the call died, or could not run it (a
    /// worker of another build of the program); the pool restarts it.
    #[error("fleche-pool: the worker process running {function}{} was lost: {reason}", item_suffix(*.item))]
    WorkerLost {
        /// The task's function.
        function: String,
        /// The item of a [`Pool::map`].
        item: Option<usize>,
        /// What procspawn reported.
        reason: String,
    },
    /// The arguments or the result did not go through the codec.
    #[error("fleche-pool: {function}{}: {message}", item_suffix(*.item))]
    Codec {
        /// The task's function.
        function: String,
        /// The item of a [`Pool::map`].
        item: Option<usize>,
        /// What did not encode or decode, and why.
        message: String,
    },
}

fn item_suffix(item: Option<usize>) -> String {
    item.map(|i| format!(" (item {i})")).unwrap_or_default()
}

impl PoolError {
    /// The item of a [`Pool::map`] that failed.
    pub fn item(&self) -> Option<usize> {
        match self {
            PoolError::Start { .. } => None,
            PoolError::Panicked { item, .. }
            | PoolError::WorkerLost { item, .. }
            | PoolError::Codec { item, .. } => *item,
        }
    }

    fn at_item(mut self, i: usize) -> Self {
        match &mut self {
            PoolError::Start { .. } => {}
            PoolError::Panicked { item, .. }
            | PoolError::WorkerLost { item, .. }
            | PoolError::Codec { item, .. } => *item = Some(i),
        }
        self
    }
}
