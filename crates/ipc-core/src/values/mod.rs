//! Shared state: [`Value`], [`Array`], [`RawValue`], [`RawArray`] and named
//! [`SharedMemory`] — Python's `multiprocessing.Value`, `Array`, `RawValue`, `RawArray` and
//! `shared_memory.SharedMemory`.
//!
//! Processes share nothing unless told to. Queues and pipes share by *copying messages*;
//! these types share by *memory*: every process holding a handle sees the same bytes.
//!
//! | Python                                   | here                                  |
//! |------------------------------------------|---------------------------------------|
//! | `Value('i', 0)`                          | [`Value::<i32>::zeroed()`](Value::zeroed) or `Value::new(0i32)` |
//! | `Value('d', 1.5, lock=lock)`             | [`Value::with_lock(1.5f64, lock)`](Value::with_lock) |
//! | `with v.get_lock(): v.value += 1`        | `*v.lock() += 1` (a guard: [`Value::lock`]) |
//! | `v.value` / `v.value = x`                | [`v.get()`](Value::get) / [`v.set(x)`](Value::set) (take the lock) |
//! | *(a race in Python)* `v.value += 1`      | [`v.fetch_add(1)`](Value::fetch_add) (atomic, no lock) |
//! | `Array('i', 10)`, `Array('i', [1, 2])`   | [`Array::zeroed(10)`](Array::zeroed), [`Array::from_slice(&[1, 2])`](Array::from_slice) |
//! | `a[i]`, `a[i] = x`, `a[2:5]`, `len(a)`   | [`a.get(i)`](Array::get), [`a.set(i, x)`](Array::set), [`a.slice(2..5)`](Array::slice), [`a.len()`](Array::len) |
//! | `RawValue`, `RawArray`                   | [`RawValue`], [`RawArray`] (no lock)  |
//! | `v.get_obj()`                            | [`v.get_obj()`](Value::get_obj) (the same memory without the lock) |
//! | `SharedMemory(name, create=True, size=n)`| [`SharedMemory::create(name, n)`](SharedMemory::create) |
//! | `SharedMemory(name)`                     | [`SharedMemory::open(name)`](SharedMemory::open) |
//!
//! # Element types
//!
//! `T` is any [`Shareable`] type: all integer types, `f32`, `f64`, `bool`, `char`, arrays of
//! those, and your own `#[repr(C)]` structs of them declared with [`pod_struct!`](crate::pod_struct) (or
//! marked with `unsafe impl` [`Pod`]). The bound is checked at compile time: a `String`, a
//! reference or a struct with padding is rejected. `bool` and `char` are stored as integers,
//! so that no byte pattern another process writes can be an invalid value.
//!
//! # Safety model
//!
//! Another process does not follow Rust's borrow rules, so nothing here ever lends out a
//! reference into shared memory except to atomics. Reads and writes *copy* values in and
//! out, with atomic accesses of the element's alignment (up to 8 bytes). A guard
//! ([`ValueGuard`], [`ArrayGuard`]) gives `&mut T` / `&mut [T]` to a private copy, taken
//! under the lock and written back before the lock is released. So a reader without the lock
//! may see a large value *torn* between an old and a new version (as in Python), but never
//! undefined behaviour, and indices out of range are errors ([`OutOfBounds`]) or `None`,
//! never panics.
//!
//! # Passing to children
//!
//! All four value types are backed by anonymous memory (memfd): they stay shared across
//! `fork`, travel to children as arguments under every start method (they serialise as
//! descriptors through the [`transfer`](crate::transfer) side table and refuse to serialise
//! anywhere else), and are freed by the kernel when the last process lets go — nothing
//! leaks, even after a crash. A handle received in a child checks that it is of the type that
//! was sent. A [`SharedMemory`] segment is found by name instead, by any process, which is
//! why it needs an owner and a cleanup story (see [its module](shared_memory)).
//!
//! ```
//! use ipc_core::{Array, Value};
//!
//! let total = Value::new(0u64)?;
//! let data = Array::from_slice(&[3u64, 1, 4, 1, 5])?;
//! // In a real program `total` and `data` would be arguments of several worker processes.
//! for x in data.to_vec() {
//!     total.fetch_add(x);
//! }
//! assert_eq!(total.get(), 14);
//! # Ok::<(), std::io::Error>(())
//! ```

mod array;
mod cells;
mod pod;
pub mod shared_memory;
#[cfg(test)]
mod tests;
mod value;

pub use array::{Array, ArrayGuard, RawArray};
pub use pod::{HasAtomic, Pod, Shareable};
pub use shared_memory::{MAX_NAME_LEN, SharedMemory, ShmError};
pub use value::{RawValue, Value, ValueGuard};

use std::fmt;

/// A range of elements (of an array) or bytes (of a [`SharedMemory`]) that lies outside the
/// object: `start..end` is not within `0..len`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutOfBounds {
    /// First index (or byte offset) of the range asked for.
    pub start: usize,
    /// One past the last index of the range asked for (saturated at `usize::MAX`).
    pub end: usize,
    /// The length of the array or segment.
    pub len: usize,
}

impl fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.end == self.start.saturating_add(1) {
            write!(
                f,
                "index {} out of range for length {}",
                self.start, self.len
            )
        } else {
            write!(
                f,
                "range {}..{} out of range for length {}",
                self.start, self.end, self.len
            )
        }
    }
}

impl std::error::Error for OutOfBounds {}
