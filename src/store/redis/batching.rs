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
//! A current-thread runtime has no such slot (a woken task waits its turn), so there is no
//! idle task there and nothing is woken. docs/performance.md (round fifteen) has the
//! measurements.

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;

use tokio::runtime::{Handle, RuntimeFlavor};
use tokio::sync::Notify;
use tokio::task::AbortHandle;

/// The idle task, and how to wake it, on a multi-thread runtime; nothing on another. The task
/// ends with this value.
pub(super) struct Batching {
    idle: Option<(Arc<Notify>, AbortHandle)>,
}

impl Batching {
    /// Spawns the idle task on the current runtime, if it is a multi-thread one.
    pub(super) fn start() -> Batching {
        let multi_thread = Handle::try_current()
            .is_ok_and(|runtime| runtime.runtime_flavor() == RuntimeFlavor::MultiThread);
        if !multi_thread {
            return Batching { idle: None };
        }
        let wake = Arc::new(Notify::new());
        let woken = Arc::clone(&wake);
        let task = tokio::spawn(async move {
            loop {
                woken.notified().await;
            }
        });
        Batching {
            idle: Some((wake, task.abort_handle())),
        }
    }

    /// Runs `call`, waking the idle task once, after the first poll that leaves `call` waiting
    /// (the poll that queued its command). `call` is pinned by the caller, so the future it
    /// holds is not copied again.
    pub(super) fn run<'a, F: Future>(
        &'a self,
        mut call: Pin<&'a mut F>,
    ) -> impl Future<Output = F::Output> + 'a {
        let mut queued = self.idle.is_none();
        poll_fn(move |cx| {
            let polled = call.as_mut().poll(cx);
            if polled.is_pending() && !queued {
                queued = true;
                if let Some((wake, _)) = &self.idle {
                    wake.notify_one();
                }
            }
            polled
        })
    }
}

impl Drop for Batching {
    fn drop(&mut self) {
        if let Some((_, task)) = &self.idle {
            task.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Batching;

    fn runtime(multi_thread: bool) -> tokio::runtime::Runtime {
        let mut builder = if multi_thread {
            tokio::runtime::Builder::new_multi_thread()
        } else {
            tokio::runtime::Builder::new_current_thread()
        };
        builder.worker_threads(1).enable_all().build().unwrap()
    }

    /// One idle task on a multi-thread runtime, gone with the value; none on a current-thread
    /// one; a call runs to its end either way.
    #[test]
    fn the_idle_task_lives_only_where_it_helps() {
        for multi_thread in [true, false] {
            let rt = runtime(multi_thread);
            let alive = || rt.metrics().num_alive_tasks();
            let batching = rt.block_on(async { Batching::start() });
            assert_eq!(alive(), usize::from(multi_thread));
            let answer = rt.block_on(async {
                let call = std::pin::pin!(async {
                    tokio::task::yield_now().await;
                    7
                });
                batching.run(call).await
            });
            assert_eq!(answer, 7);
            drop(batching);
            for _ in 0..100 {
                if alive() == 0 {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
            assert_eq!(alive(), 0);
        }
    }

    /// Outside any runtime there is nothing to spawn on: no task, and no panic.
    #[test]
    fn outside_a_runtime_it_spawns_nothing() {
        assert!(Batching::start().idle.is_none());
    }
}
