//! Handing calls to executors, with stored results answered at once.
//!
//! Python's `wrap_executor` looks every submitted call up first: a stored
//! result comes back at once, and only misses reach the executor. A sweep
//! of ten thousand calls that are all cached then dispatches nothing: no
//! thread, task or worker process is asked for anything, and no argument
//! is sent anywhere.
//!
//! [`Task::submit`] is that step for any executor: it looks the call up
//! and either returns the result ([`Submitted::Cached`]) or calls your
//! `dispatch` with the task and the arguments and returns its handle
//! ([`Submitted::Dispatched`]). The helpers here are `submit` for the
//! executors of `std` and Tokio: [`Task::spawn_thread`],
//! [`Task::spawn_blocking`] (awaitable) and [`Task::map_blocking`] (a
//! sweep over a `JoinSet`); with the `rayon` feature, `Task::par_map`.
//! The `fleche-pool` crate does the same for worker processes.
//!
//! The lookup fails open: if it cannot read the store, the call is
//! dispatched, and the executor's call meets the store failure the way
//! every cached call does (a warning and an uncached run, or an error in
//! strict mode). A sweep is never stopped by its short-circuit.

use std::future::{Future, IntoFuture, Ready};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::{ErrorChain, Task};

/// A submitted call: its stored result, or the handle of the work that was
/// dispatched for it.
///
/// `Submitted<R, H>` joins like its handle: [`Submitted::join`] for any
/// handle that implements [`Join`] (`std::thread::JoinHandle`, the
/// process pool's handle), and `.await` for a handle that is a future of
/// `Result<R, E>` (`tokio::task::JoinHandle`).
#[derive(Debug)]
#[must_use = "a dispatched call runs whether or not its handle is joined; join it to get the result"]
pub enum Submitted<R, H> {
    /// The result was in the cache; nothing was dispatched.
    Cached(R),
    /// The result was not in the cache (or the cache could not be read):
    /// the call was dispatched, and this is its executor's handle.
    Dispatched(H),
}

impl<R, H> Submitted<R, H> {
    /// Whether the result came from the cache.
    pub fn is_cached(&self) -> bool {
        matches!(self, Submitted::Cached(_))
    }

    /// Whether the call was dispatched.
    pub fn is_dispatched(&self) -> bool {
        matches!(self, Submitted::Dispatched(_))
    }

    /// The handle of the dispatched work, if any.
    pub fn handle(&self) -> Option<&H> {
        match self {
            Submitted::Cached(_) => None,
            Submitted::Dispatched(h) => Some(h),
        }
    }

    /// The same submission with the handle changed by `f`.
    pub fn map_handle<H2>(self, f: impl FnOnce(H) -> H2) -> Submitted<R, H2> {
        match self {
            Submitted::Cached(r) => Submitted::Cached(r),
            Submitted::Dispatched(h) => Submitted::Dispatched(f(h)),
        }
    }

    /// The result: the cached one, or what `wait` gets from the handle.
    /// For handles without a [`Join`] implementation.
    pub fn wait<E>(self, wait: impl FnOnce(H) -> Result<R, E>) -> Result<R, E> {
        match self {
            Submitted::Cached(r) => Ok(r),
            Submitted::Dispatched(h) => wait(h),
        }
    }

    /// The result, waiting for the dispatched work if there is some.
    pub fn join(self) -> Result<R, H::Error>
    where
        H: Join<Output = R>,
    {
        self.wait(Join::join)
    }
}

/// A handle that blocks until its work is done and then gives its result:
/// what [`Submitted::join`] waits on. Implement it for the handle of an
/// executor of your own.
pub trait Join {
    /// The work's result.
    type Output;
    /// Why the work gave no result (it panicked, its worker died).
    type Error;
    /// Blocks until the work is done.
    fn join(self) -> Result<Self::Output, Self::Error>;
}

impl<R> Join for std::thread::JoinHandle<R> {
    type Output = R;
    /// The panic's payload, as `std::thread::JoinHandle::join` gives it.
    type Error = Box<dyn std::any::Any + Send + 'static>;

    fn join(self) -> std::thread::Result<R> {
        std::thread::JoinHandle::join(self)
    }
}

/// Awaiting a submission gives the cached result at once, or awaits the
/// handle: a `tokio::task::JoinHandle<R>` gives `Result<R, JoinError>`.
impl<R, E, H> IntoFuture for Submitted<R, H>
where
    H: Future<Output = Result<R, E>> + Unpin,
{
    type Output = Result<R, E>;
    type IntoFuture = SubmittedFuture<R, E, H>;

    fn into_future(self) -> Self::IntoFuture {
        SubmittedFuture(match self {
            Submitted::Cached(r) => Waiting::Cached(std::future::ready(Ok(r))),
            Submitted::Dispatched(h) => Waiting::Dispatched(h),
        })
    }
}

/// The future of an awaited [`Submitted`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct SubmittedFuture<R, E, H>(Waiting<R, E, H>);

#[derive(Debug)]
enum Waiting<R, E, H> {
    Cached(Ready<Result<R, E>>),
    Dispatched(H),
}

impl<R, E, H> Future for SubmittedFuture<R, E, H>
where
    H: Future<Output = Result<R, E>> + Unpin,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Ready` is always `Unpin` and `H` is by the bound: so is `Self`.
        match &mut self.get_mut().0 {
            Waiting::Cached(ready) => Pin::new(ready).poll(cx),
            Waiting::Dispatched(handle) => Pin::new(handle).poll(cx),
        }
    }
}

impl<A: 'static, R: 'static> Task<A, R> {
    /// Looks the call up and returns the stored result, or else calls
    /// `dispatch` with (a clone of) the task and the arguments — to hand
    /// them to a thread, a task, a worker process, a job queue — and
    /// returns what it returns. `dispatch` is not called on a hit.
    ///
    /// The lookup fails open: if the store cannot be read, the call is
    /// dispatched (logged at debug level); the dispatched call then meets
    /// the failure the way every cached call does.
    ///
    /// ```
    /// use fleche::Submitted;
    ///
    /// #[fleche::fleche]
    /// fn square(x: u64) -> u64 { x * x }
    ///
    /// let cache = fleche::open("memory://submit-doc").unwrap();
    /// let task: fleche::Task<(u64,), u64> =
    ///     fleche::with_cache(cache, || fleche::task(square)).unwrap();
    /// task.call((3,)); // now stored
    ///
    /// let mut dispatched = 0;
    /// let results: Vec<u64> = (1..=4u64)
    ///     .map(|x| {
    ///         let submitted = task.submit((x,), |task, args| {
    ///             dispatched += 1;
    ///             std::thread::spawn(move || task.call(args))
    ///         });
    ///         submitted.join().unwrap()
    ///     })
    ///     .collect();
    /// assert_eq!(results, [1, 4, 9, 16]);
    /// assert_eq!(dispatched, 3); // 3 was answered from the cache
    /// ```
    pub fn submit<H>(&self, args: A, dispatch: impl FnOnce(Self, A) -> H) -> Submitted<R, H> {
        match self.lookup(&args) {
            Ok(Some(r)) => Submitted::Cached(r),
            Ok(None) => Submitted::Dispatched(dispatch(self.clone(), args)),
            Err(e) => {
                tracing::debug!(
                    function = self.function(),
                    error = %ErrorChain(&e),
                    "fleche: lookup before dispatch failed; dispatching"
                );
                Submitted::Dispatched(dispatch(self.clone(), args))
            }
        }
    }

    /// [`submit`](Task::submit) to a new thread: the stored result, or the
    /// handle of a thread that calls the task.
    ///
    /// ```
    /// #[fleche::fleche]
    /// fn cube(x: u64) -> u64 { x * x * x }
    ///
    /// let cache = fleche::open("memory://spawn-thread-doc").unwrap();
    /// let task: fleche::Task<(u64,), u64> =
    ///     fleche::with_cache(cache, || fleche::task(cube)).unwrap();
    /// let first = task.spawn_thread((2,));
    /// assert!(first.is_dispatched());
    /// assert_eq!(first.join().unwrap(), 8);
    /// let again = task.spawn_thread((2,));
    /// assert!(again.is_cached()); // no thread started
    /// assert_eq!(again.join().unwrap(), 8);
    /// ```
    pub fn spawn_thread(&self, args: A) -> Submitted<R, std::thread::JoinHandle<R>>
    where
        A: Send,
        R: Send,
    {
        self.submit(args, |task, args| {
            std::thread::spawn(move || task.call(args))
        })
    }

    /// [`submit`](Task::submit) to Tokio's blocking pool: the stored
    /// result, or the handle of a `spawn_blocking` that calls the task.
    /// Await it for `Result<R, JoinError>`.
    ///
    /// The lookup runs on the calling thread: a hit is one store round
    /// trip, so in async code with a network store prefer
    /// [`map_blocking`](Task::map_blocking) for many calls, which looks
    /// them up on the blocking pool.
    ///
    /// # Panics
    /// On a miss, outside a Tokio runtime (as `tokio::task::spawn_blocking`).
    ///
    /// ```
    /// #[fleche::fleche]
    /// fn cube(x: u64) -> u64 { x * x * x }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let cache = fleche::open("memory://spawn-blocking-doc").unwrap();
    /// let task: fleche::Task<(u64,), u64> =
    ///     fleche::with_cache(cache, || fleche::task(cube)).unwrap();
    /// assert_eq!(task.spawn_blocking((3,)).await.unwrap(), 27); // computed
    /// let again = task.spawn_blocking((3,));
    /// assert!(again.is_cached());
    /// assert_eq!(again.await.unwrap(), 27);
    /// # });
    /// ```
    pub fn spawn_blocking(&self, args: A) -> Submitted<R, tokio::task::JoinHandle<R>>
    where
        A: Send,
        R: Send,
    {
        self.submit(args, |task, args| {
            tokio::task::spawn_blocking(move || task.call(args))
        })
    }

    /// Calls the task on every item, on Tokio's blocking pool, and gives
    /// the results in the items' order. The items are looked up on the
    /// blocking pool (so the runtime's threads never wait for the store);
    /// the stored ones are answered from the cache and only the others are
    /// spawned, into one `JoinSet`. The first panic of a call is the error.
    ///
    /// # Panics
    /// Outside a Tokio runtime.
    ///
    /// ```
    /// #[fleche::fleche]
    /// fn cube(x: u64) -> u64 { x * x * x }
    ///
    /// # tokio::runtime::Runtime::new().unwrap().block_on(async {
    /// let cache = fleche::open("memory://map-blocking-doc").unwrap();
    /// let task: fleche::Task<(u64,), u64> =
    ///     fleche::with_cache(cache, || fleche::task(cube)).unwrap();
    /// let cubes = task.map_blocking((0..4u64).map(|x| (x,))).await.unwrap();
    /// assert_eq!(cubes, [0, 1, 8, 27]);
    /// # });
    /// ```
    pub async fn map_blocking(
        &self,
        items: impl IntoIterator<Item = A>,
    ) -> Result<Vec<R>, tokio::task::JoinError>
    where
        A: Send,
        R: Send,
    {
        let items: Vec<A> = items.into_iter().collect();
        let task = self.clone();
        let runtime = tokio::runtime::Handle::current();
        let (mut results, mut set) = tokio::task::spawn_blocking(move || {
            let mut set = tokio::task::JoinSet::new();
            let results: Vec<Option<R>> = items
                .into_iter()
                .enumerate()
                .map(|(i, args)| {
                    let submitted = task.submit(args, |task, args| {
                        set.spawn_blocking_on(move || (i, task.call(args)), &runtime);
                    });
                    match submitted {
                        Submitted::Cached(r) => Some(r),
                        Submitted::Dispatched(()) => None,
                    }
                })
                .collect();
            (results, set)
        })
        .await?;
        while let Some(done) = set.join_next().await {
            let (i, r) = done?;
            results[i] = Some(r);
        }
        Ok(results
            .into_iter()
            .map(|r| r.expect("every dispatched call was joined"))
            .collect())
    }

    /// Calls the task on every item in rayon's thread pool, in parallel,
    /// and gives the results in the items' order: `par_iter().map(..)`
    /// where each item is looked up on its rayon thread and only a miss
    /// calls the task (which runs the body). The lookups run in parallel
    /// too.
    ///
    /// ```
    /// #[fleche::fleche]
    /// fn cube(x: u64) -> u64 { x * x * x }
    ///
    /// let cache = fleche::open("memory://par-map-doc").unwrap();
    /// let task: fleche::Task<(u64,), u64> =
    ///     fleche::with_cache(cache, || fleche::task(cube)).unwrap();
    /// let items: Vec<(u64,)> = (0..100u64).map(|x| (x,)).collect();
    /// let cubes = task.par_map(items.clone());
    /// assert_eq!(cubes[4], 64);
    /// assert_eq!(task.par_map(items), cubes); // all hits
    /// ```
    #[cfg(feature = "rayon")]
    pub fn par_map<I>(&self, items: I) -> Vec<R>
    where
        I: rayon::iter::IntoParallelIterator<Item = A>,
        A: Send,
        R: Send,
    {
        use rayon::iter::ParallelIterator;
        items
            .into_par_iter()
            .map(
                |args| match self.submit(args, |task, args| task.call(args)) {
                    Submitted::Cached(r) | Submitted::Dispatched(r) => r,
                },
            )
            .collect()
    }
}
