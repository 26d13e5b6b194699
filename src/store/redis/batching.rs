//! Lets the commands of calls made together reach Redis together on tokio's multi-thread
//! runtime.
//!
//! redis-rs's multiplexed connection has a driver task that writes every command queued since
//! it last ran in one write. Queuing a command wakes that task, and the multi-thread scheduler
//! runs the task woken last next (its "LIFO slot"), ahead of the requests already waiting. So
//! under load the driver would send each command nearly alone, and Redis would read each
//! alone. Waking another task, an idle one, right after the command is queued takes that slot
//! from the driver, which then runs after the waiting requests have queued theirs. A task that
//! wakes itself would not do: tokio reschedules it as a yield, and the driver keeps the slot.
//! docs/performance.md (round fifteen) has the measurements.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;

use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The idle task, and how to wake it. The task ends with this value.
pub(super) struct Batching {
    wake: Arc<Notify>,
    idle: AbortHandle,
}

impl Batching {
    /// Spawns the idle task on the current runtime.
    pub(super) fn start() -> Batching {
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let idle = tokio::spawn(async move {
            loop {
                woken.notified().await;
            }
        })
        .abort_handle();
        Batching { wake, idle }
    }

    /// Runs `call`, waking the idle task once, after the first poll that leaves `call` waiting
    /// (the poll that queued its command). `call` is pinned by the caller, so the future it
    /// holds is not copied again.
    pub(super) fn run<'a, F: Future>(
        &'a self,
        mut call: Pin<&'a mut F>,
    ) -> impl Future<Output = F::Output> + 'a {
        let mut queued = false;
        poll_fn(move |cx| {
            let polled = call.as_mut().poll(cx);
            if polled.is_pending() && !queued {
                queued = true;
                self.wake.notify_one();
            }
            polled
        })
    }
}

impl Drop for Batching {
    fn drop(&mut self) {
        self.idle.abort();
    }
}
