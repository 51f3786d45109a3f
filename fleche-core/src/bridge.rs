//! Running async store operations from synchronous code.
//!
//! Sync `#[fleche]` functions are called from plain threads, rayon workers
//! and from inside Tokio runtimes. They drive store futures on the calling
//! thread: a future that is ready at once (the memory store, always) costs a
//! single poll; one that waits parks the thread until woken. Timers and I/O
//! created meanwhile belong to fleche's own small runtime, whose threads
//! drive them, so this works whether or not the caller is inside a runtime.

use std::future::Future;
use std::pin::{Pin, pin};
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};
use std::time::Duration;

/// fleche's background runtime: drives timers and I/O of bridged futures,
/// claim renewals and releases.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fleche-bridge")
        .enable_all()
        .build()
        .expect("fleche cannot start its background runtime")
});

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0.unpark();
    }
}

/// Runs `fut` to completion on the calling thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let _context = RUNTIME.handle().enter();
    let mut fut = pin!(fut);
    // Most store futures complete at once: try without building a waker.
    if let Poll::Ready(out) = fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        return out;
    }
    let waker = Waker::from(Arc::new(ThreadWaker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    loop {
        match fut.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => thread::park(),
        }
    }
}

/// Runs `fut` (a future or a stream) with fleche's runtime as the current
/// Tokio context on every poll, wherever it is polled.
///
/// Network stores wrap their operations in this. A socket, timer or task
/// that a client library creates then belongs to fleche's runtime, whose
/// own threads drive it. Without it, a connection opened inside a caller's
/// current-thread runtime would hang the first time a sync `#[fleche]`
/// function, called from that same runtime, waited on it: the runtime that
/// should deliver its readiness would be the one blocked in the call.
///
/// ```
/// # fleche_core::bridge::block_on(async {
/// let n = fleche_core::bridge::on_fleche_runtime(async {
///     tokio::time::sleep(std::time::Duration::from_millis(1)).await;
///     7
/// })
/// .await;
/// assert_eq!(n, 7);
/// # });
/// ```
pub fn on_fleche_runtime<F>(fut: F) -> OnFlecheRuntime<F> {
    OnFlecheRuntime { fut: Box::pin(fut) }
}

/// The future (or stream) of [`on_fleche_runtime`].
#[derive(Debug)]
#[must_use = "futures do nothing unless awaited"]
pub struct OnFlecheRuntime<F> {
    fut: Pin<Box<F>>,
}

impl<F: Future> Future for OnFlecheRuntime<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let _context = RUNTIME.handle().enter();
        self.fut.as_mut().poll(cx)
    }
}

impl<S: futures::Stream> futures::Stream for OnFlecheRuntime<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        let _context = RUNTIME.handle().enter();
        self.fut.as_mut().poll_next(cx)
    }
}

/// Runs `fut` in the background on fleche's runtime.
pub(crate) fn spawn<F>(fut: F) -> tokio::task::JoinHandle<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    RUNTIME.spawn(fut)
}

/// Sleeps on fleche's runtime, so that it works under any executor.
pub(crate) async fn sleep(d: Duration) {
    let _ = spawn(tokio::time::sleep(d)).await;
}
