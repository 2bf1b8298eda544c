//! [`AsyncResult`]: the handle to a result that a pool is computing.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::task::TaskError;

struct State<R> {
    value: Option<Result<R, TaskError>>,
    done: bool,
    waker: Option<Waker>,
}

pub(crate) struct Slot<R> {
    state: Mutex<State<R>>,
    cv: Condvar,
    /// Mirrors `state.done`, so a waiter can spin briefly without taking the lock.
    done: AtomicBool,
}

/// How long a waiter spins for the result before sleeping: a pool round trip can be a few
/// microseconds, and a condvar wake-up on another core costs tens of them.
const SPIN: Duration = Duration::from_micros(10);

impl<R> Slot<R> {
    pub(crate) fn new() -> Arc<Slot<R>> {
        Arc::new(Slot {
            state: Mutex::new(State {
                value: None,
                done: false,
                waker: None,
            }),
            cv: Condvar::new(),
            done: AtomicBool::new(false),
        })
    }

    /// Stores the outcome and wakes every waiter (thread or future).
    pub(crate) fn complete(&self, outcome: Result<R, TaskError>) {
        let waker = {
            let mut s = self.state.lock();
            if s.done {
                return;
            }
            s.value = Some(outcome);
            s.done = true;
            self.done.store(true, Ordering::Release);
            s.waker.take()
        };
        self.cv.notify_all();
        if let Some(w) = waker {
            w.wake();
        }
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        static MULTI_CPU: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        if *MULTI_CPU
            .get_or_init(|| std::thread::available_parallelism().is_ok_and(|n| n.get() > 1))
        {
            let start = Instant::now();
            while !self.done.load(Ordering::Acquire) && start.elapsed() < SPIN {
                for _ in 0..32 {
                    std::hint::spin_loop();
                }
            }
        }
        let mut s = self.state.lock();
        while !s.done {
            match deadline {
                None => self.cv.wait(&mut s),
                Some(d) => {
                    if self.cv.wait_until(&mut s, d).timed_out() {
                        return s.done;
                    }
                }
            }
        }
        true
    }
}

/// The result of a task submitted with [`Pool::apply_async`](crate::Pool::apply_async) (or a
/// whole map with [`Pool::map_async`](crate::Pool::map_async)): Python's `AsyncResult`.
///
/// `get` consumes the handle and returns the value or the task's error (Python re-raises the
/// task's exception); `get_timeout` gives the handle back on timeout — the task goes on.
/// It is also a [`Future`], so async code can `.await` it without blocking a thread.
///
/// ```
/// use std::time::Duration;
/// use procpool::{GetTimeoutError, Pool};
///
/// fn slow(ms: u64) -> u64 { std::thread::sleep(Duration::from_millis(ms)); ms }
///
/// let pool = Pool::new(1)?;
/// let r = pool.apply_async(slow, 300)?;
/// assert!(!r.ready());
/// let r = match r.get_timeout(Duration::from_millis(1)) {
///     Err(GetTimeoutError::Timeout(r)) => r, // the handle comes back; the task goes on
///     other => panic!("{other:?}"),
/// };
/// r.wait();
/// assert_eq!(r.successful(), Ok(true));
/// assert_eq!(r.get()?, 300);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct AsyncResult<R> {
    slot: Arc<Slot<R>>,
}

/// [`AsyncResult::get_timeout`] did not return a value.
pub enum GetTimeoutError<R> {
    /// Not ready in time; the handle is given back and the task goes on.
    Timeout(AsyncResult<R>),
    /// The task failed.
    Failed(TaskError),
}

impl<R> fmt::Debug for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("Timeout(..)"),
            GetTimeoutError::Failed(e) => f.debug_tuple("Failed").field(e).finish(),
        }
    }
}

impl<R> fmt::Display for GetTimeoutError<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetTimeoutError::Timeout(_) => f.write_str("result not ready before the timeout"),
            GetTimeoutError::Failed(e) => e.fmt(f),
        }
    }
}

impl<R> std::error::Error for GetTimeoutError<R> {}

/// [`AsyncResult::successful`] was asked before the result was ready (Python's
/// `ValueError`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotReady;

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("result is not ready")
    }
}
impl std::error::Error for NotReady {}

impl<R> AsyncResult<R> {
    pub(crate) fn new(slot: Arc<Slot<R>>) -> Self {
        AsyncResult { slot }
    }

    /// Whether the task has finished (successfully or not).
    pub fn ready(&self) -> bool {
        self.slot.state.lock().done
    }

    /// Whether the task finished without error; an error if it has not finished.
    pub fn successful(&self) -> Result<bool, NotReady> {
        let s = self.slot.state.lock();
        if !s.done {
            return Err(NotReady);
        }
        Ok(matches!(s.value, Some(Ok(_))))
    }

    /// Waits until the task has finished.
    pub fn wait(&self) {
        self.slot.wait_until(None);
    }

    /// Waits at most `timeout`; returns whether the task has finished.
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.slot.wait_until(Instant::now().checked_add(timeout))
    }

    /// Waits until `deadline`; returns whether the task has finished.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.slot.wait_until(Some(deadline))
    }

    fn take(&self) -> Result<R, TaskError> {
        self.slot
            .state
            .lock()
            .value
            .take()
            .unwrap_or(Err(TaskError::Terminated))
    }

    /// Waits for the task and returns its value, or its error.
    pub fn get(self) -> Result<R, TaskError> {
        self.wait();
        self.take()
    }

    /// Waits at most `timeout` for the value.
    pub fn get_timeout(self, timeout: Duration) -> Result<R, GetTimeoutError<R>> {
        match Instant::now().checked_add(timeout) {
            Some(d) => self.get_deadline(d),
            None => self.get().map_err(GetTimeoutError::Failed),
        }
    }

    /// Waits until `deadline` for the value.
    pub fn get_deadline(self, deadline: Instant) -> Result<R, GetTimeoutError<R>> {
        if !self.wait_deadline(deadline) {
            return Err(GetTimeoutError::Timeout(self));
        }
        self.take().map_err(GetTimeoutError::Failed)
    }
}

impl<R> Future for AsyncResult<R> {
    type Output = Result<R, TaskError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut s = self.slot.state.lock();
        if s.done {
            return Poll::Ready(s.value.take().unwrap_or(Err(TaskError::Terminated)));
        }
        s.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}

impl<R> fmt::Debug for AsyncResult<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncResult")
            .field("ready", &self.ready())
            .finish()
    }
}
