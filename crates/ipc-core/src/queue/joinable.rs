//! [`JoinableQueue`]: Python's `multiprocessing.JoinableQueue`.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::errors::{PutError, TaskDoneError};
use super::queue::Queue;
use crate::sync::{Timeout, deadline_after};

/// A [`Queue`] that also counts unfinished tasks: every `put` adds one, every
/// [`task_done`](JoinableQueue::task_done) removes one, and [`join`](JoinableQueue::join)
/// waits until the count is zero — every item put has been taken *and* processed.
///
/// All of [`Queue`]'s methods are available through `Deref`; `put` and its variants are
/// redefined here to count the task.
///
/// The count is kept in the queue's shared memory. A producer killed between counting a task
/// and finishing its `put` would leave the count one too high (the window is a few
/// instructions long); a consumer that dies after `get` without `task_done` leaves its task
/// unfinished, exactly as in Python.
///
/// ```
/// let q = ipc_core::JoinableQueue::new(0)?;
/// q.put("job".to_string()).unwrap();
/// assert_eq!(q.get().unwrap(), "job");
/// q.task_done().unwrap();
/// q.join(); // returns at once: nothing unfinished
/// assert!(q.task_done().is_err()); // called too many times
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct JoinableQueue<T> {
    inner: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> JoinableQueue<T> {
    /// Creates a queue holding at most `maxsize` items (`0`: unbounded).
    pub fn new(maxsize: usize) -> io::Result<Self> {
        Ok(JoinableQueue {
            inner: Queue::new(maxsize)?,
        })
    }

    fn counted(&self, put: impl FnOnce() -> Result<(), PutError<T>>) -> Result<(), PutError<T>> {
        self.inner.ring().add_unfinished();
        let r = put();
        if r.is_err() {
            self.inner.ring().undo_unfinished();
        }
        r
    }

    /// Puts an item and counts it as an unfinished task.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.counted(|| self.inner.put(item))
    }

    /// Non-blocking [`put`](JoinableQueue::put).
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        self.counted(|| self.inner.try_put(item))
    }

    /// [`put`](JoinableQueue::put) waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        self.counted(|| self.inner.put_timeout(item, timeout))
    }

    /// [`put`](JoinableQueue::put) waiting until `deadline` for room.
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.counted(|| self.inner.put_deadline(item, deadline))
    }

    /// Python's `put_nowait`.
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.try_put(item)
    }
}

impl<T> JoinableQueue<T> {
    /// Marks one task taken with `get` as done.
    pub fn task_done(&self) -> Result<(), TaskDoneError> {
        self.inner.ring().task_done().map_err(|()| TaskDoneError)
    }

    /// Tasks put and not yet marked done (a snapshot).
    pub fn unfinished_tasks(&self) -> u64 {
        self.inner.ring().unfinished()
    }

    /// Waits until every task put has been marked done.
    pub fn join(&self) {
        self.inner.ring().join(None);
    }

    /// Waits at most `timeout` for every task to be done.
    pub fn join_timeout(&self, timeout: Duration) -> Result<(), Timeout> {
        self.join_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for every task to be done.
    pub fn join_deadline(&self, deadline: Instant) -> Result<(), Timeout> {
        self.join_until(Some(deadline))
    }

    fn join_until(&self, deadline: Option<Instant>) -> Result<(), Timeout> {
        if self.inner.ring().join(deadline) {
            Ok(())
        } else {
            Err(Timeout)
        }
    }
}

impl<T> Deref for JoinableQueue<T> {
    type Target = Queue<T>;

    fn deref(&self) -> &Queue<T> {
        &self.inner
    }
}

impl<T> fmt::Debug for JoinableQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinableQueue")
            .field("qsize", &self.inner.qsize())
            .field("unfinished", &self.unfinished_tasks())
            .finish()
    }
}
