//! ipc-core (in progress)
#![deny(unsafe_op_in_unsafe_fn)]

pub mod code;
pub mod codec;
pub mod pipe;
mod region;
pub mod sync;
mod sys;
pub mod transfer;

pub use pipe::{
    Connection, Duplex, Pipe, RecvBytesIntoError, RecvError, RecvOnly, RecvTimeoutError, SendError,
    SendOnly, TryRecvError,
};
pub use sync::*;
