//! The worker threads that run the server's blocking work, and the bounded pipes between
//! them and the event loop.
//!
//! - A [`Job`] (a login or a storage call) runs to its end and its [`Done`] goes back to the
//!   loop as a [`Notice`].
//! - The file side of a transfer ([`Downloader::run`] or [`Uploader::run`]) runs on a thread
//!   of its own for the whole transfer (a zero-copy download, [`SendJob::run`], its network
//!   side too), exchanging chunks with the loop through a [`Pipe`] of
//!   at most [`CHUNKS_IN_FLIGHT`] chunks. A fixed number of transfer threads would make the
//!   next transfer wait for a free one, moving nothing, and the core would take it for stalled
//!   (426); the number of transfers is bounded by the connection limit instead.
//!
//! A login or a `CWD` never waits behind long transfers. Every notice wakes the loop through
//! its `mio::Waker`.

use std::collections::VecDeque;
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

use bytes::Bytes;
use ftp_host::auth::Authenticator;
use ftp_host::server::{Done, Job};
use ftp_host::storage::Storage;
use ftp_host::transfer::{Chunk, Downloader, Source, TransferOutcome, Uploader, ZeroCopyJob};
use ftp_proto::server::{DataId, TransferError};

/// Chunks in flight between the network and the file side of one transfer: enough to keep
/// both busy, little enough to bound memory per transfer (at most this many chunks of
/// [`ftp_host::transfer::TRANSFER_CHUNK`] bytes).
pub(crate) const CHUNKS_IN_FLIGHT: usize = 4;

/// What the workers tell the loop.
pub(crate) enum Notice<S: Storage> {
    /// A job of session `0` finished.
    Done(u64, Done<S>),
    /// The file side of a transfer made room in or added to its pipe.
    Moved(u64),
    /// The file side of a transfer ended.
    File(u64, DataId, Result<(), TransferError>),
}

/// Sends notices to the loop and wakes it.
pub(crate) struct Notifier<S: Storage> {
    tx: mpsc::Sender<Notice<S>>,
    waker: Arc<mio::Waker>,
}

impl<S: Storage> Clone for Notifier<S> {
    fn clone(&self) -> Self {
        Notifier {
            tx: self.tx.clone(),
            waker: self.waker.clone(),
        }
    }
}

impl<S: Storage> Notifier<S> {
    pub(crate) fn new(tx: mpsc::Sender<Notice<S>>, waker: Arc<mio::Waker>) -> Self {
        Notifier { tx, waker }
    }

    fn send(&self, n: Notice<S>) {
        if self.tx.send(n).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

struct PipeState<T> {
    queue: VecDeque<T>,
    /// The producer will push nothing more.
    producer_done: bool,
    /// The consumer will take nothing more.
    consumer_done: bool,
}

/// A bounded queue between a worker (blocking side) and the loop (non-blocking side).
pub(crate) struct Pipe<T> {
    state: Mutex<PipeState<T>>,
    cond: Condvar,
}

/// What [`Pipe::try_pop`] found.
pub(crate) enum TryPop<T> {
    Item(T),
    Empty,
    /// Empty, and the producer is done.
    Closed,
}

impl<T> Pipe<T> {
    pub(crate) fn new() -> Arc<Pipe<T>> {
        Arc::new(Pipe {
            state: Mutex::new(PipeState {
                queue: VecDeque::with_capacity(CHUNKS_IN_FLIGHT),
                producer_done: false,
                consumer_done: false,
            }),
            cond: Condvar::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, PipeState<T>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Worker side: waits for room; `Some(was_empty)` once pushed, `None` when the consumer is
    /// gone.
    fn push(&self, item: T) -> Option<bool> {
        let mut s = self.lock();
        while s.queue.len() >= CHUNKS_IN_FLIGHT && !s.consumer_done {
            s = self.cond.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        if s.consumer_done {
            return None;
        }
        let was_empty = s.queue.is_empty();
        s.queue.push_back(item);
        Some(was_empty)
    }

    /// Worker side: waits for an item; `None` once the producer is done and the queue empty.
    /// The flag says whether the queue was full.
    fn pop(&self) -> Option<(T, bool)> {
        let mut s = self.lock();
        while s.queue.is_empty() && !s.producer_done {
            s = self.cond.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        let was_full = s.queue.len() >= CHUNKS_IN_FLIGHT;
        s.queue.pop_front().map(|t| (t, was_full))
    }

    /// Loop side: takes an item without waiting.
    pub(crate) fn try_pop(&self) -> TryPop<T> {
        let mut s = self.lock();
        let was_full = s.queue.len() >= CHUNKS_IN_FLIGHT;
        match s.queue.pop_front() {
            Some(t) => {
                drop(s);
                if was_full {
                    self.cond.notify_all();
                }
                TryPop::Item(t)
            }
            None if s.producer_done => TryPop::Closed,
            None => TryPop::Empty,
        }
    }

    /// Loop side: adds an item without waiting; gives it back when full (`Ok(false)` means
    /// the consumer is gone and the item was dropped).
    pub(crate) fn try_push(&self, item: T) -> Result<bool, T> {
        let mut s = self.lock();
        if s.consumer_done {
            return Ok(false);
        }
        if s.queue.len() >= CHUNKS_IN_FLIGHT {
            return Err(item);
        }
        let was_empty = s.queue.is_empty();
        s.queue.push_back(item);
        drop(s);
        if was_empty {
            self.cond.notify_all();
        }
        Ok(true)
    }

    /// The producer will push nothing more.
    pub(crate) fn close_producer(&self) {
        self.lock().producer_done = true;
        self.cond.notify_all();
    }

    /// The consumer will take nothing more; the queue is dropped.
    pub(crate) fn close_consumer(&self) {
        let mut s = self.lock();
        s.consumer_done = true;
        s.queue.clear();
        drop(s);
        self.cond.notify_all();
    }
}

/// The loop's end of a pipe: dropping it (the transfer is over or aborted) closes both
/// directions, so the worker never waits on a loop that is gone.
pub(crate) struct LoopEnd<T>(pub(crate) Arc<Pipe<T>>);

impl<T> Drop for LoopEnd<T> {
    fn drop(&mut self) {
        self.0.close_producer();
        self.0.close_consumer();
    }
}

/// Work for the pool.
pub(crate) enum Work<S: Storage, A> {
    Job(u64, Job<S, A>),
    Download(u64, DataId, Downloader<Source<S::Reader>>, Arc<Pipe<Bytes>>),
    Upload(u64, DataId, Uploader<S>, Arc<Pipe<Chunk>>),
    /// A zero-copy download or upload: the whole transfer, connection included, on the thread.
    ZeroCopy(u64, DataId, ZeroCopyJob<S>),
}

struct Queues<S: Storage, A> {
    jobs: VecDeque<Work<S, A>>,
    stop: bool,
}

struct PoolShared<S: Storage, A> {
    queues: Mutex<Queues<S, A>>,
    cond: Condvar,
}

/// A fixed set of worker threads for jobs, and a thread per running transfer.
pub(crate) struct Pool<S: Storage, A> {
    shared: Arc<PoolShared<S, A>>,
    threads: Vec<JoinHandle<()>>,
    notifier: Notifier<S>,
}

impl<S: Storage, A: Authenticator> Pool<S, A> {
    /// Starts `workers` threads for jobs (at least 1).
    pub(crate) fn new(workers: usize, notifier: Notifier<S>) -> std::io::Result<Pool<S, A>> {
        let workers = workers.max(1);
        let shared = Arc::new(PoolShared {
            queues: Mutex::new(Queues {
                jobs: VecDeque::new(),
                stop: false,
            }),
            cond: Condvar::new(),
        });
        let mut threads = Vec::with_capacity(workers);
        for i in 0..workers {
            let shared = shared.clone();
            let notifier = notifier.clone();
            let t = std::thread::Builder::new()
                .name(format!("ftp-mio-worker-{i}"))
                .spawn(move || worker(&shared, &notifier))?;
            threads.push(t);
        }
        Ok(Pool {
            shared,
            threads,
            notifier,
        })
    }

    /// Queues a job, or starts the file side of a transfer on a thread of its own (it ends
    /// when its pipe is closed by either side).
    pub(crate) fn submit(&self, work: Work<S, A>) {
        if let Work::Job(..) = work {
            let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
            q.jobs.push_back(work);
            drop(q);
            self.shared.cond.notify_one();
            return;
        }
        let notifier = self.notifier.clone();
        let spawned = std::thread::Builder::new()
            .name("ftp-mio-transfer".into())
            .spawn(move || run(work, &notifier));
        if let Err(e) = spawned {
            // The work (and its pipe) was dropped with the closure: the loop sees the pipe
            // closed and the transfer fails.
            tracing::warn!("cannot start a transfer thread: {e}");
        }
    }

    /// Lets the workers finish what is queued and running, then joins them.
    pub(crate) fn shutdown(mut self) {
        self.stop();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }

    fn stop(&self) {
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.stop = true;
        drop(q);
        self.shared.cond.notify_all();
    }
}

impl<S: Storage, A> Drop for Pool<S, A> {
    fn drop(&mut self) {
        let mut q = self.shared.queues.lock().unwrap_or_else(|e| e.into_inner());
        q.stop = true;
        drop(q);
        self.shared.cond.notify_all();
    }
}

fn worker<S: Storage, A: Authenticator>(shared: &PoolShared<S, A>, notifier: &Notifier<S>) {
    loop {
        let work = {
            let mut q = shared.queues.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                if let Some(w) = q.jobs.pop_front() {
                    break w;
                }
                if q.stop {
                    return;
                }
                q = shared.cond.wait(q).unwrap_or_else(|e| e.into_inner());
            }
        };
        run(work, notifier);
    }
}

fn run<S: Storage, A: Authenticator>(work: Work<S, A>, notifier: &Notifier<S>) {
    match work {
        Work::Job(key, job) => notifier.send(Notice::Done(key, job.run())),
        Work::Download(key, id, d, pipe) => {
            let r = d.run(|chunk| match pipe.push(chunk) {
                Some(was_empty) => {
                    if was_empty {
                        notifier.send(Notice::Moved(key));
                    }
                    true
                }
                None => false,
            });
            pipe.close_producer();
            notifier.send(Notice::File(key, id, r));
        }
        Work::Upload(key, id, u, pipe) => {
            let r = u.run(|| {
                let (chunk, was_full) = pipe.pop()?;
                if was_full {
                    notifier.send(Notice::Moved(key));
                }
                Some(chunk)
            });
            pipe.close_consumer();
            notifier.send(Notice::File(key, id, r));
        }
        Work::ZeroCopy(key, id, job) => {
            let r = match job.run() {
                TransferOutcome::Failed(e) => Err(e),
                TransferOutcome::Done(_) | TransferOutcome::Truncated(_) => Ok(()),
            };
            notifier.send(Notice::File(key, id, r));
        }
    }
}
