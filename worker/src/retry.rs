//! Retrying a failed step where it failed, with a short backoff: a write that fails while
//! Redis restarts or fails over is done again within about a second of Redis coming back,
//! not left for another worker to take over much later.

use std::{fmt::Display, future::Future, time::Duration};

use tokio_util::sync::CancellationToken;

/// How long a step is retried before it is given up (left pending for XAUTOCLAIM): longer
/// than a failover takes.
pub const RETRY_FOR: Duration = Duration::from_secs(30);
const FIRST_DELAY: Duration = Duration::from_millis(50);
const LONGEST_DELAY: Duration = Duration::from_secs(1);

/// Runs `step` until it succeeds, for at most [`RETRY_FOR`], waiting 50 ms after the first
/// failure and twice as long after each next one (up to 1 s); once `shutdown` is
/// cancelled a failure is not retried. Returns whether the step succeeded; failures are
/// logged as `what`.
pub async fn with_backoff<F, Fut, E>(shutdown: &CancellationToken, what: &str, mut step: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let started = tokio::time::Instant::now();
    let mut delay = FIRST_DELAY;
    loop {
        let Err(e) = step().await else {
            return true;
        };
        if shutdown.is_cancelled() || started.elapsed() + delay > RETRY_FOR {
            tracing::warn!(error = %e, "{what} failed; it stays pending for another worker");
            return false;
        }
        tracing::warn!(error = %e, retry_in = ?delay, "{what} failed; retrying");
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(LONGEST_DELAY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_step_is_retried_until_it_succeeds_with_growing_delays() {
        let shutdown = CancellationToken::new();
        let mut tries = Vec::new();
        let started = tokio::time::Instant::now();
        let done = with_backoff(&shutdown, "the step", || {
            tries.push(started.elapsed());
            let n = tries.len();
            async move {
                if n < 4 {
                    Err("not yet")
                } else {
                    Ok(())
                }
            }
        })
        .await;
        assert!(done);
        let ms: Vec<u128> = tries.iter().map(|t| t.as_millis()).collect();
        assert_eq!(ms, [0, 50, 150, 350]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_step_that_keeps_failing_is_given_up_after_retry_for() {
        let shutdown = CancellationToken::new();
        let started = tokio::time::Instant::now();
        let done = with_backoff(&shutdown, "the step", || async { Err::<(), _>("down") }).await;
        assert!(!done);
        assert!(started.elapsed() <= RETRY_FOR);
        assert!(started.elapsed() >= RETRY_FOR - LONGEST_DELAY);
    }

    #[tokio::test(start_paused = true)]
    async fn once_shutting_down_a_failure_is_not_retried() {
        let shutdown = CancellationToken::new();
        shutdown.cancel();
        let mut tries = 0;
        let done = with_backoff(&shutdown, "the step", || {
            tries += 1;
            async { Err::<(), _>("down") }
        })
        .await;
        assert!(!done);
        assert_eq!(tries, 1);
    }
}
