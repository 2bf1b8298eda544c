//! Queue errors, one type per direction, shaped like crossbeam-channel's.

use std::fmt;

use crate::codec::{DecodeError, EncodeError};

/// A `put` did not happen. The item is given back.
#[derive(PartialEq, Eq)]
pub enum PutError<T> {
    /// The queue stayed full until the deadline (or, for `try_put`, was full). Python's
    /// `queue.Full`.
    Full(T),
    /// This handle was closed with [`Queue::close`](crate::Queue::close).
    Closed(T),
    /// The item could not be encoded; nothing was written.
    Encode(EncodeError, T),
}

impl<T> PutError<T> {
    /// Gives the item back.
    pub fn into_inner(self) -> T {
        match self {
            PutError::Full(t) | PutError::Closed(t) | PutError::Encode(_, t) => t,
        }
    }

    /// Whether the queue was full (or stayed full until the deadline).
    pub fn is_full(&self) -> bool {
        matches!(self, PutError::Full(_))
    }

    /// Whether the handle was closed.
    pub fn is_closed(&self) -> bool {
        matches!(self, PutError::Closed(_))
    }
}

impl<T> fmt::Debug for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("Full(..)"),
            PutError::Closed(_) => f.write_str("Closed(..)"),
            PutError::Encode(e, _) => f.debug_tuple("Encode").field(e).field(&"..").finish(),
        }
    }
}

impl<T> fmt::Display for PutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PutError::Full(_) => f.write_str("queue is full"),
            PutError::Closed(_) => f.write_str("queue handle is closed"),
            PutError::Encode(e, _) => write!(f, "cannot put item: {e}"),
        }
    }
}

impl<T> std::error::Error for PutError<T> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PutError::Encode(e, _) => Some(e),
            _ => None,
        }
    }
}

/// A `get` returned no item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GetError {
    /// The queue stayed empty until the deadline (or, for `try_get`, was empty). Python's
    /// `queue.Empty`.
    Empty,
    /// This handle was closed with [`Queue::close`](crate::Queue::close).
    Closed,
    /// An item was taken but its bytes did not decode as the queue's item type (a peer put
    /// something else). The item is gone; the queue goes on.
    Decode(DecodeError),
}

impl GetError {
    /// Whether the queue was empty (or stayed empty until the deadline).
    pub fn is_empty(&self) -> bool {
        matches!(self, GetError::Empty)
    }
}

impl fmt::Display for GetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GetError::Empty => f.write_str("queue is empty"),
            GetError::Closed => f.write_str("queue handle is closed"),
            GetError::Decode(e) => write!(f, "cannot decode item: {e}"),
        }
    }
}

impl std::error::Error for GetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            GetError::Decode(e) => Some(e),
            _ => None,
        }
    }
}

/// [`JoinableQueue::task_done`](crate::JoinableQueue::task_done) was called more times than
/// items were put (Python's `ValueError: task_done() called too many times`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TaskDoneError;

impl fmt::Display for TaskDoneError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("task_done() called too many times")
    }
}

impl std::error::Error for TaskDoneError {}
