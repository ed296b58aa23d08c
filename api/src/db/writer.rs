//! SQLite's transactions run on a thread of their own.
//!
//! SQLite's writers take turns (see [`super::Db::begin_at`]), and a turn lasts
//! from `BEGIN` to the connection's return: every statement in it is a trip to
//! sqlx's SQLite thread, and each answer wakes the writing task. On the
//! server's runtime that task then waits in a worker's queue behind other
//! requests' HTTP and GraphQL work, while every other writer waits for the
//! turn. On a thread of its own the turn's task is alone (the other writers
//! there wait for the lock), and the OS wakes a thread that mostly sleeps
//! ahead of busy ones.

use std::future::Future;

use sea_orm::DbErr;
use tokio::runtime::{Builder, Handle};
use tokio::sync::oneshot;
use tokio::task::JoinError;

/// The writing thread's runtime; the thread ends when this is dropped.
pub struct Writer {
    handle: Handle,
    _stop: oneshot::Sender<()>,
}

impl Writer {
    /// Starts the writing thread with its runtime.
    pub fn start() -> Result<Self, DbErr> {
        let failed = |e: std::io::Error| DbErr::Custom(format!("cannot start the writing thread: {e}"));
        let runtime = Builder::new_current_thread().enable_all().build().map_err(failed)?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = oneshot::channel::<()>();
        std::thread::Builder::new()
            .name("crm-sqlite-writer".into())
            .spawn(move || {
                WRITING.set(true);
                // Ends when the sender is dropped; dropping the runtime then
                // cancels any write still running, as a dropped request would.
                let _ = runtime.block_on(stopped);
            })
            .map_err(failed)?;
        Ok(Self { handle, _stop: stop })
    }

    /// Runs `work` on the writing thread and waits for its output; the work
    /// runs to its end even when the caller stops waiting.
    pub async fn run<T: Send + 'static>(&self, work: impl Future<Output = T> + Send + 'static) -> Result<T, DbErr> {
        self.handle.spawn(work).await.map_err(unfinished)
    }
}

thread_local! {
    static WRITING: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether this is a writing thread (where a commit leaves its subscribers'
/// wake-ups to the server's runtime, see `Events::committed`).
pub fn on_writing_thread() -> bool {
    WRITING.get()
}

/// A write's task that panicked, or whose thread stopped: the write is lost.
pub fn unfinished(err: JoinError) -> DbErr {
    DbErr::Custom(format!("a write did not finish: {err}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn work_runs_on_the_writing_thread_and_a_panic_is_an_error() {
        let writer = Writer::start().expect("the thread starts");
        let name = writer.run(async { std::thread::current().name().map(str::to_owned) }).await.expect("it answers");
        assert_eq!(name.as_deref(), Some("crm-sqlite-writer"));
        let panicked = writer.run(async { panic!("a write's bug") }).await;
        assert!(panicked.is_err(), "a panic is an error for the caller, not a lost answer");
        assert_eq!(writer.run(async { 7 }).await.ok(), Some(7), "the thread goes on after a panic");
    }

    #[tokio::test]
    async fn work_finishes_when_its_caller_stops_waiting() {
        let writer = Writer::start().expect("the thread starts");
        let (done, finished) = oneshot::channel();
        let (started, running) = oneshot::channel();
        let call = writer.run(async move {
            started.send(()).expect("the caller waits for the start");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            done.send(()).expect("the test waits for the end");
        });
        // The caller gives up once the work has started.
        tokio::select! {
            _ = call => panic!("the work cannot have finished before it signalled its start"),
            _ = running => {}
        }
        finished.await.expect("the work ran to its end");
    }
}
