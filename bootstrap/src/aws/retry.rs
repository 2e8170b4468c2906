//! The one retry driver: attempts a call until it succeeds, fails in a way no retry can mend, or
//! the next wait would pass the deadline. The waits come from [`Backoff`].
//!
//! Every AWS call of the bootstrap that retries goes through [`until`]: the metadata reads while
//! the service comes up, SSM on throttling, and the give-back. Each caller says what is worth
//! retrying and how a retry is logged; the driver owns the loop, the waits and the deadline.

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use super::backoff::Backoff;

/// When to stop, and how long to wait between attempts.
#[derive(Debug, Clone, Copy)]
pub struct Schedule {
    pub backoff: Backoff,
    pub deadline: Instant,
}

/// Why the driver stopped without a success.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GaveUp<E> {
    /// The error is not worth retrying.
    Permanent(E),
    /// Worth retrying, but waiting for another attempt would pass the deadline: the last error.
    Deadline(E),
}

impl<E> GaveUp<E> {
    /// The error, however the driver stopped.
    pub fn into_inner(self) -> E {
        match self {
            GaveUp::Permanent(e) | GaveUp::Deadline(e) => e,
        }
    }
}

/// Calls `attempt` until it succeeds. An error that `retryable` refuses stops at once; any other
/// is passed to `on_retry` (with the retry's number, from 0, and the wait ahead) and retried after
/// the wait, unless the wait would reach the deadline.
pub async fn until<T, E, Fut>(
    schedule: Schedule,
    mut attempt: impl FnMut() -> Fut,
    retryable: impl Fn(&E) -> bool,
    mut on_retry: impl FnMut(&E, u32, Duration),
) -> Result<T, GaveUp<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut retry = 0;
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        if !retryable(&err) {
            return Err(GaveUp::Permanent(err));
        }
        let delay = schedule.backoff.delay(retry);
        if Instant::now() + delay >= schedule.deadline {
            return Err(GaveUp::Deadline(err));
        }
        on_retry(&err, retry, delay);
        tokio::time::sleep(delay).await;
        retry += 1;
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const FAST: Backoff = Backoff {
        base: Duration::from_millis(1),
        max: Duration::from_millis(2),
    };

    fn schedule(total: Duration) -> Schedule {
        Schedule {
            backoff: FAST,
            deadline: Instant::now() + total,
        }
    }

    #[tokio::test]
    async fn retries_what_is_retryable_until_it_succeeds() {
        let calls = Cell::new(0);
        let retries = Cell::new(Vec::new());
        let result = until(
            schedule(Duration::from_secs(10)),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move {
                    if n < 4 {
                        Err("busy")
                    } else {
                        Ok(n)
                    }
                }
            },
            |_| true,
            |_, retry, _| {
                let mut seen = retries.take();
                seen.push(retry);
                retries.set(seen);
            },
        )
        .await;
        assert_eq!(result, Ok(4));
        assert_eq!(retries.take(), [0, 1, 2]);
    }

    #[tokio::test]
    async fn a_permanent_error_stops_at_once() {
        let calls = Cell::new(0);
        let result: Result<(), _> = until(
            schedule(Duration::from_secs(10)),
            || {
                calls.set(calls.get() + 1);
                async { Err("denied") }
            },
            |e| *e != "denied",
            |_, _, _| panic!("no retry of a permanent error"),
        )
        .await;
        assert_eq!(result, Err(GaveUp::Permanent("denied")));
        assert_eq!(calls.get(), 1);
    }

    #[tokio::test]
    async fn the_deadline_ends_retrying_with_the_last_error() {
        let calls = Cell::new(0);
        let result: Result<(), _> = until(
            schedule(Duration::from_millis(30)),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { Err(n) }
            },
            |_| true,
            |_, _, _| {},
        )
        .await;
        let Err(GaveUp::Deadline(last)) = result else {
            panic!("{result:?}")
        };
        assert_eq!(last, calls.get());
        assert!(last > 1, "retried before the deadline: {last}");
    }

    #[tokio::test]
    async fn a_deadline_already_past_allows_exactly_one_attempt() {
        let calls = Cell::new(0);
        let result: Result<(), _> = until(
            schedule(Duration::ZERO),
            || {
                calls.set(calls.get() + 1);
                async { Err("down") }
            },
            |_| true,
            |_, _, _| panic!("no retry past the deadline"),
        )
        .await;
        assert_eq!(result, Err(GaveUp::Deadline("down")));
        assert_eq!(calls.get(), 1);
    }
}
