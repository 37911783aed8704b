//! Background tasks that must keep running (key-ring maintenance, the purge, back-channel
//! logout delivery). A task that panics is logged at error, counted in
//! `jwtd_background_task_restarts_total{task}` and started again after a pause; readiness is
//! left alone, as one bug would otherwise pull every instance from its load balancer at once.

use std::future::Future;
use std::time::Duration;

use prometheus::IntCounterVec;
use tokio::task::{JoinHandle, JoinSet};

/// Pause before a failed task starts again, so a task that fails at once cannot spin.
const RESTART_PAUSE: Duration = Duration::from_secs(1);

/// Runs the task `start` makes, and starts a new one whenever it panics. Aborting the returned
/// handle stops the task too.
pub fn supervise<F, Fut>(task: &'static str, restarts: IntCounterVec, start: F) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    supervise_with_pause(task, restarts, start, RESTART_PAUSE)
}

fn supervise_with_pause<F, Fut>(
    task: &'static str,
    restarts: IntCounterVec,
    start: F,
    pause: Duration,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    tokio::spawn(async move {
        loop {
            // A set of one: dropping it (when this supervisor is aborted) aborts the task.
            let mut running = JoinSet::new();
            running.spawn(start());
            match running.join_next().await {
                Some(Err(failure)) if failure.is_panic() => {
                    let payload = failure.into_panic();
                    let reason = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    log::error!("background task {task} failed and is restarted: {reason}");
                    restarts.with_label_values(&[task]).inc();
                    tokio::time::sleep(pause).await;
                }
                _ => return,
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use prometheus::Opts;

    use super::*;

    #[tokio::test]
    async fn a_task_that_panics_is_counted_and_started_again() {
        let restarts = IntCounterVec::new(Opts::new("restarts", "test"), &["task"]).unwrap();
        let starts = Arc::new(AtomicUsize::new(0));
        let (done, mut finished) = tokio::sync::mpsc::channel(1);
        let counted = Arc::clone(&starts);
        let supervisor = supervise_with_pause(
            "flaky",
            restarts.clone(),
            move || {
                let (starts, done) = (Arc::clone(&counted), done.clone());
                async move {
                    if starts.fetch_add(1, Ordering::SeqCst) < 2 {
                        panic!("a bug");
                    }
                    done.send(()).await.unwrap();
                }
            },
            Duration::from_millis(1),
        );
        finished.recv().await.unwrap();
        supervisor.await.unwrap();
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert_eq!(restarts.with_label_values(&["flaky"]).get(), 2);
    }

    #[tokio::test]
    async fn aborting_the_supervisor_stops_its_task() {
        let restarts = IntCounterVec::new(Opts::new("restarts", "test"), &["task"]).unwrap();
        let (alive, mut watcher) = tokio::sync::mpsc::channel::<()>(1);
        let (started, mut running) = tokio::sync::mpsc::channel(1);
        let supervisor = supervise("forever", restarts, move || {
            let (alive, started) = (alive.clone(), started.clone());
            async move {
                started.send(()).await.unwrap();
                std::future::pending::<()>().await;
                drop(alive);
            }
        });
        running.recv().await.unwrap();
        supervisor.abort();
        // The task held the only sender: the channel closes once the task is dropped.
        assert!(watcher.recv().await.is_none());
    }
}
