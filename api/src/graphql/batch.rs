//! Deterministic DataLoader batches.
//!
//! A request resolves one level of the query in a single poll of its future:
//! every `load_one` of that level registers its key before the future yields.
//! DataLoader's own timer cannot know when that pass ends, and loads running on
//! other threads wake the request while they are still handing out results; on
//! a busy machine either splits a level into several queries. So a request's
//! loader tasks run inside the request's own task ([`Driven`]): each starts
//! once the pass that queued it is over, and the request resumes only after the
//! finished loads have delivered everything. Each level is then exactly one
//! query per loader, whatever the machine's load, at no added latency.
//!
//! One more subtlety: async-graphql resolves long lists through
//! `FuturesUnordered`, which yields (waking itself) every 32 items. A pass over
//! 50 rows is thus two polls; a poll that woke itself is re-run at once, so the
//! pass completes before any load starts.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use futures_util::stream::FuturesUnordered;

#[derive(Default)]
pub struct Batcher {
    /// Set while a [`Driven`] future runs the request; otherwise tasks spawn at once.
    driven: AtomicBool,
    held: Mutex<Vec<BoxFuture<'static, ()>>>,
}

impl Batcher {
    /// The DataLoader spawner.
    pub fn spawn(&self, task: BoxFuture<'static, ()>) {
        if self.driven.load(Ordering::Acquire)
            && let Ok(mut held) = self.held.lock()
        {
            held.push(task);
            return;
        }
        tokio::spawn(task);
    }

    fn take(&self) -> Vec<BoxFuture<'static, ()>> {
        self.held.lock().map(|mut held| std::mem::take(&mut *held)).unwrap_or_default()
    }
}

/// Polls of one pass before its loads start anyway.
const MAX_PASS_POLLS: usize = 64;

/// Notes whether the request woke itself while being polled.
struct SelfWake {
    woken: AtomicBool,
    waker: Waker,
}

impl Wake for SelfWake {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        self.woken.store(true, Ordering::Release);
        self.waker.wake_by_ref();
    }
}

/// Runs a request together with the loader tasks it queues.
pub struct Driven<'a, F> {
    inner: Pin<Box<F>>,
    loads: FuturesUnordered<BoxFuture<'static, ()>>,
    batcher: &'a Batcher,
}

impl<'a, F: Future> Driven<'a, F> {
    pub fn new(batcher: &'a Batcher, inner: F) -> Self {
        batcher.driven.store(true, Ordering::Release);
        Self { inner: Box::pin(inner), loads: FuturesUnordered::new(), batcher }
    }
}

impl<F: Future> Future for Driven<'_, F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        loop {
            // Bounded: tokio's co-operative budget also self-wakes, and would do so forever.
            for _ in 0..MAX_PASS_POLLS {
                let flag = Arc::new(SelfWake { woken: AtomicBool::new(false), waker: cx.waker().clone() });
                let waker = Waker::from(flag.clone());
                if let Poll::Ready(output) = self.inner.as_mut().poll(&mut Context::from_waker(&waker)) {
                    return Poll::Ready(output);
                }
                if !flag.woken.load(Ordering::Acquire) {
                    break;
                }
            }
            let queued = self.batcher.take();
            self.loads.extend(queued);
            // Drive the loads; when one finishes, its results are all delivered
            // before the request is polled again.
            let mut finished = false;
            while let Poll::Ready(Some(())) = self.loads.poll_next_unpin(cx) {
                finished = true;
            }
            if !finished {
                return Poll::Pending;
            }
        }
    }
}

impl<F> Drop for Driven<'_, F> {
    fn drop(&mut self) {
        // Nothing may wait forever on a task that will never be polled.
        self.batcher.driven.store(false, Ordering::Release);
        for task in self.batcher.take() {
            tokio::spawn(task);
        }
    }
}
