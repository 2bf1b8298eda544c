//! ipc-core (in progress)
#![deny(unsafe_op_in_unsafe_fn)]

pub mod code;
pub mod codec;
mod region;
pub mod sync;
mod sys;
pub mod transfer;
pub mod values;

pub use sync::*;
pub use values::{Array, RawArray, RawValue, SharedMemory, Value};
