//! ipc-core (in progress)
#![deny(unsafe_op_in_unsafe_fn)]

pub mod code;
pub mod codec;
pub mod pipe;
pub mod queue;
mod region;
pub mod sync;
mod sys;
pub mod transfer;
pub mod values;

pub use pipe::{
    Connection, Duplex, Pipe, RecvBytesIntoError, RecvError, RecvOnly, RecvTimeoutError, SendError,
    SendOnly, TryRecvError,
};
pub use queue::{
    GetError, JoinableQueue, PutError, Queue, QueueBuilder, SimpleQueue, TaskDoneError,
};
pub use sync::*;
pub use values::{Array, RawArray, RawValue, SharedMemory, Value};

/// An owned byte buffer that encodes as one block of bytes (a `Vec<u8>` encodes byte by
/// byte through serde): use it for binary payloads in queues, pipes and pool tasks.
pub use serde_bytes::ByteBuf;
