//! The only runtime-specific code of the crate: spawning a task and blocking on a future.
//! Sockets and timers come from `async-io`, which both runtimes drive (async-std is built on
//! it), and blocking work from `blocking`.
//!
//! With the `async-std` feature, async-std's executor is used, even when `smol` is on too;
//! otherwise smol's global executor.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

#[cfg(not(any(feature = "smol", feature = "async-std")))]
compile_error!("ftp-futures needs a runtime: enable the `smol` (default) or `async-std` feature");

/// A spawned task. Dropping it cancels the task; [`detach`](Task::detach) lets it run on.
///
/// smol's `Task` does this already. async-std's `JoinHandle` detaches on drop and cancels
/// only through an async `cancel`, so here a dropped handle spawns that cancel: the task
/// stops at its next await point, shortly after the drop rather than during it.
#[must_use = "dropping a task cancels it"]
pub(crate) struct Task<T: Send + 'static>(Inner<T>);

#[cfg(feature = "async-std")]
type Inner<T> = Option<async_std::task::JoinHandle<T>>;
#[cfg(all(feature = "smol", not(feature = "async-std")))]
type Inner<T> = smol::Task<T>;

/// Runs `f` on the runtime's executor.
pub(crate) fn spawn<F>(f: F) -> Task<F::Output>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(feature = "async-std")]
    return Task(Some(async_std::task::spawn(f)));
    #[cfg(all(feature = "smol", not(feature = "async-std")))]
    return Task(smol::spawn(f));
}

impl<T: Send + 'static> Task<T> {
    /// Lets the task run to its end on its own.
    pub(crate) fn detach(self) {
        #[cfg(feature = "async-std")]
        {
            let mut this = self;
            drop(this.0.take());
        }
        #[cfg(all(feature = "smol", not(feature = "async-std")))]
        self.0.detach();
    }

    /// Cancels the task and waits until it has stopped.
    pub(crate) async fn cancel(self) {
        #[cfg(feature = "async-std")]
        {
            let mut this = self;
            if let Some(handle) = this.0.take() {
                handle.cancel().await;
            }
        }
        #[cfg(all(feature = "smol", not(feature = "async-std")))]
        self.0.cancel().await;
    }
}

/// Waits for the task's output.
impl<T: Send + 'static> Future for Task<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        #[cfg(feature = "async-std")]
        return match self.0.as_mut() {
            Some(handle) => Pin::new(handle).poll(cx),
            None => Poll::Pending,
        };
        #[cfg(all(feature = "smol", not(feature = "async-std")))]
        return Pin::new(&mut self.0).poll(cx);
    }
}

#[cfg(feature = "async-std")]
impl<T: Send + 'static> Drop for Task<T> {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take() {
            async_std::task::spawn(async move {
                handle.cancel().await;
            });
        }
    }
}

/// Runs a future to completion on the current thread, on the selected runtime (smol's
/// `block_on`, or async-std's with the `async-std` feature): a convenience for tests,
/// examples and `main` functions that do not set up a runtime of their own. Tasks the future
/// spawns run on the runtime's executor.
pub fn block_on<F: Future>(f: F) -> F::Output {
    #[cfg(feature = "async-std")]
    return async_std::task::block_on(f);
    #[cfg(all(feature = "smol", not(feature = "async-std")))]
    return smol::block_on(f);
}
