//! [`SimpleQueue`]: Python's `multiprocessing.SimpleQueue`.

use std::fmt;
use std::io;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::errors::{GetError, PutError};
use super::queue::Queue;

/// An unbounded queue with the small API of Python's `SimpleQueue`: `put`, `get`, `empty`,
/// `close`. It is a [`Queue`] underneath, with the same guarantees.
///
/// ```
/// let q = ipc_core::SimpleQueue::new()?;
/// q.put(1u8).unwrap();
/// assert!(!q.empty());
/// assert_eq!(q.get().unwrap(), 1);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct SimpleQueue<T> {
    inner: Queue<T>,
}

impl<T: Serialize + DeserializeOwned> SimpleQueue<T> {
    /// Creates an empty queue.
    pub fn new() -> io::Result<Self> {
        Ok(SimpleQueue {
            inner: Queue::unbounded()?,
        })
    }

    /// Puts an item (never blocks for room: the queue is unbounded).
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.inner.put(item)
    }

    /// Takes the next item, waiting for one.
    pub fn get(&self) -> Result<T, GetError> {
        self.inner.get()
    }

    /// Whether the queue is empty (a snapshot).
    pub fn empty(&self) -> bool {
        self.inner.empty()
    }

    /// Closes this handle; further `put`/`get` on it fail with `Closed`.
    pub fn close(&self) {
        self.inner.close()
    }
}

impl<T> fmt::Debug for SimpleQueue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimpleQueue")
            .field("qsize", &self.inner.qsize())
            .finish()
    }
}
