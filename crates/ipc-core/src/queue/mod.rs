//! Queues between processes: [`Queue`], [`JoinableQueue`] and [`SimpleQueue`].
//!
//! All three sit on one byte ring in shared memory (see the `ring` module's documentation for
//! the layout, the crash repairs and the memory policy). Unlike Python's `multiprocessing.Queue`
//! there is no feeder thread and no pipe: `put` encodes the item and copies its bytes into
//! shared memory before it returns, so a producer that exits (or is killed) right after `put`
//! has lost nothing, and `qsize` is exact on every platform.

mod errors;
mod joinable;
#[allow(clippy::module_inception)]
mod queue;
pub(crate) mod ring;
mod simple;
#[cfg(test)]
mod tests;

pub use errors::{GetError, PutError, TaskDoneError};
pub use joinable::JoinableQueue;
pub use queue::{DEFAULT_CAPACITY, Queue, QueueBuilder};
pub use simple::SimpleQueue;
