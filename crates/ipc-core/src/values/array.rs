//! [`Array`] (with a lock) and [`RawArray`] (without): a fixed number of shared elements.

use std::cell::OnceCell;
use std::fmt;
use std::io;
use std::ops::{Bound, Deref, DerefMut, RangeBounds};
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cells::{Cells, Kind};
use super::{HasAtomic, OutOfBounds, Shareable};
use crate::sync::{Lock, LockGuard, Timeout, WouldBlock};

/// Resolves a range against a length; an empty or reversed range past the end is an error,
/// as with slices.
fn resolve(range: impl RangeBounds<usize>, len: usize) -> Result<(usize, usize), OutOfBounds> {
    let start = match range.start_bound() {
        Bound::Included(&s) => Some(s),
        Bound::Excluded(&s) => s.checked_add(1),
        Bound::Unbounded => Some(0),
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e.checked_add(1),
        Bound::Excluded(&e) => Some(e),
        Bound::Unbounded => Some(len),
    };
    match (start, end) {
        (Some(s), Some(e)) if s <= e && e <= len => Ok((s, e)),
        (s, e) => Err(OutOfBounds {
            start: s.unwrap_or(usize::MAX),
            end: e.unwrap_or(usize::MAX),
            len,
        }),
    }
}

/// A fixed number of elements of type `T` in memory shared between processes, without a
/// lock: Python's `multiprocessing.RawArray`.
///
/// Every access copies elements in or out, bounds-checked: an index out of range gives
/// `None` or an [`OutOfBounds`] error, never a panic. Nothing ever borrows the shared memory,
/// so there is no `&mut [T]` here (use an [`Array`] and its guard for that). A single element
/// is read or written as a whole unless it is larger than 8 bytes, when a concurrent writer
/// may tear it (see [`RawValue`](crate::RawValue)); a range copy is not atomic as a whole.
/// Integer elements have lock-free atomic operations through [`atomic`](RawArray::atomic).
///
/// A clone is another handle to the same memory. Passed to a child process as an argument it
/// reaches the same memory there; it also stays shared across `fork`.
///
/// ```
/// let a = ipc_core::RawArray::from_slice(&[1.5f64, 2.5, 3.5])?;
/// assert_eq!(a.len(), 3);
/// assert_eq!(a.get(1), Some(2.5));
/// assert_eq!(a.get(3), None);
/// a.set(0, 0.5)?;
/// assert_eq!(a.slice(..2)?, vec![0.5, 2.5]);
/// assert!(a.set(3, 1.0).is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct RawArray<T: Shareable> {
    cells: Cells<T>,
}

impl<T: Shareable> Clone for RawArray<T> {
    fn clone(&self) -> Self {
        RawArray {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Shareable> RawArray<T> {
    /// A new shared array of `len` elements with all bits zero (`0`, `0.0`, `false`, ...):
    /// Python's `RawArray('i', len)`.
    pub fn zeroed(len: usize) -> io::Result<RawArray<T>> {
        Cells::zeroed(Kind::Array, len).map(|cells| RawArray { cells })
    }

    /// A new shared array holding a copy of `values`.
    pub fn from_slice(values: &[T]) -> io::Result<RawArray<T>> {
        Cells::from_slice(Kind::Array, values).map(|cells| RawArray { cells })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.cells.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A copy of element `i`, or `None` if `i >= len()`.
    pub fn get(&self, i: usize) -> Option<T> {
        self.cells.get(i)
    }

    /// Sets element `i`.
    pub fn set(&self, i: usize, v: T) -> Result<(), OutOfBounds> {
        self.cells.set(i, v)
    }

    /// A copy of all elements.
    pub fn to_vec(&self) -> Vec<T> {
        self.cells.to_vec(0, self.len()).unwrap_or_default()
    }

    /// A copy of the elements in `range` (Python's `a[start:end]`, but out-of-range is an
    /// error rather than silently shortened).
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<Vec<T>, OutOfBounds> {
        let (s, e) = resolve(range, self.len())?;
        self.cells.to_vec(s, e - s)
    }

    /// Copies elements `start..start + dst.len()` into `dst`.
    pub fn copy_out(&self, start: usize, dst: &mut [T]) -> Result<(), OutOfBounds> {
        self.cells.read(start, dst)
    }

    /// Copies `src` into elements `start..start + src.len()` (Python's `a[start:end] = src`).
    /// Nothing is written if the range does not fit.
    pub fn copy_in(&self, start: usize, src: &[T]) -> Result<(), OutOfBounds> {
        self.cells.write(start, src)
    }

    /// Whether both handles refer to the same shared memory.
    pub fn same_as(&self, other: &RawArray<T>) -> bool {
        self.cells.same(&other.cells)
    }
}

impl<T: HasAtomic + Shareable<Repr = T>> RawArray<T> {
    /// Element `i` as a `std::sync::atomic` type (`AtomicU64` for `u64`, ...), for lock-free
    /// operations; `None` if `i >= len()`.
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let histogram = ipc_core::RawArray::<u64>::zeroed(4)?;
    /// for x in [1usize, 3, 3] {
    ///     histogram.atomic(x).unwrap().fetch_add(1, Ordering::Relaxed);
    /// }
    /// assert_eq!(histogram.to_vec(), vec![0, 1, 0, 2]);
    /// assert!(histogram.atomic(4).is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn atomic(&self, i: usize) -> Option<&T::Atomic> {
        self.cells.atomic(i)
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for RawArray<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawArray")
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

impl<T: Shareable> Serialize for RawArray<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.cells.serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawArray<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cells::deserialize(d, Kind::Array).map(|cells| RawArray { cells })
    }
}

/// A fixed number of elements of type `T` in memory shared between processes, with a
/// [`Lock`]: Python's `multiprocessing.Array`.
///
/// Element and range accessors take the lock for the duration of the copy.
/// [`lock`](Array::lock) holds it and gives a guard that derefs to `&mut [T]` (a copy of
/// the elements, made on first use and written back when the guard is dropped), for
/// computations over the whole array; the guard's own [`get`](ArrayGuard::get) and
/// [`set`](ArrayGuard::set) work on single elements without copying the rest.
///
/// As with [`Value`](crate::Value), the lock is **not recursive** (Python's default is an
/// `RLock`): while you hold [`get_lock`](Array::get_lock) yourself, use
/// [`get_obj`](Array::get_obj) to access the elements.
///
/// A clone is another handle to the same array and lock. Passed to a child process as an
/// argument it reaches the same memory there; it also stays shared across `fork`.
///
/// ```
/// let a = ipc_core::Array::from_slice(&[1u32, 2, 3, 4])?;
/// {
///     let mut xs = a.lock();
///     for i in 1..xs.len() {
///         xs[i] += xs[i - 1]; // prefix sum, in place, under the lock
///     }
/// }
/// assert_eq!(a.to_vec(), vec![1, 3, 6, 10]);
/// assert_eq!(a.get(4), None);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Array<T: Shareable> {
    raw: RawArray<T>,
    lock: Lock,
}

impl<T: Shareable> Clone for Array<T> {
    fn clone(&self) -> Self {
        Array {
            raw: self.raw.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Shareable> Array<T> {
    /// A new shared array of `len` zero-bit elements, with a new lock: Python's
    /// `Array('i', len)`.
    pub fn zeroed(len: usize) -> io::Result<Array<T>> {
        Ok(Array {
            raw: RawArray::zeroed(len)?,
            lock: Lock::new()?,
        })
    }

    /// A new shared array holding a copy of `values`, with a new lock.
    pub fn from_slice(values: &[T]) -> io::Result<Array<T>> {
        Self::with_lock(values, Lock::new()?)
    }

    /// A new shared array holding a copy of `values`, guarded by `lock` (Python's
    /// `Array(.., lock=lock)`).
    pub fn with_lock(values: &[T], lock: Lock) -> io::Result<Array<T>> {
        Ok(Array {
            raw: RawArray::from_slice(values)?,
            lock,
        })
    }

    /// The lock guarding the array (the one given to [`with_lock`](Array::with_lock), if any).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// The same memory without the lock (Python's `get_obj()`), for use while you hold the
    /// lock yourself.
    #[doc(alias = "raw")]
    pub fn get_obj(&self) -> &RawArray<T> {
        &self.raw
    }

    /// Number of elements (no lock needed: it never changes).
    pub fn len(&self) -> usize {
        self.raw.len()
    }

    /// Whether the array has no elements.
    pub fn is_empty(&self) -> bool {
        self.raw.is_empty()
    }

    /// A copy of element `i` read under the lock, or `None` if `i >= len()`.
    pub fn get(&self, i: usize) -> Option<T> {
        let _g = self.lock.acquire();
        self.raw.get(i)
    }

    /// Sets element `i` under the lock.
    pub fn set(&self, i: usize, v: T) -> Result<(), OutOfBounds> {
        let _g = self.lock.acquire();
        self.raw.set(i, v)
    }

    /// A copy of all elements, read under the lock.
    pub fn to_vec(&self) -> Vec<T> {
        let _g = self.lock.acquire();
        self.raw.to_vec()
    }

    /// A copy of the elements in `range`, read under the lock.
    pub fn slice(&self, range: impl RangeBounds<usize>) -> Result<Vec<T>, OutOfBounds> {
        let _g = self.lock.acquire();
        self.raw.slice(range)
    }

    /// Copies elements `start..start + dst.len()` into `dst` under the lock.
    pub fn copy_out(&self, start: usize, dst: &mut [T]) -> Result<(), OutOfBounds> {
        let _g = self.lock.acquire();
        self.raw.copy_out(start, dst)
    }

    /// Copies `src` into elements `start..start + src.len()` under the lock. Nothing is
    /// written if the range does not fit.
    pub fn copy_in(&self, start: usize, src: &[T]) -> Result<(), OutOfBounds> {
        let _g = self.lock.acquire();
        self.raw.copy_in(start, src)
    }

    /// Takes the lock, blocking until it is free, and returns a guard.
    pub fn lock(&self) -> ArrayGuard<'_, T> {
        self.guard(self.lock.acquire())
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Result<ArrayGuard<'_, T>, WouldBlock> {
        self.lock.try_acquire().map(|g| self.guard(g))
    }

    /// Waits at most `timeout` for the lock.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ArrayGuard<'_, T>, Timeout> {
        self.lock.acquire_timeout(timeout).map(|g| self.guard(g))
    }

    /// Waits until `deadline` for the lock.
    pub fn lock_deadline(&self, deadline: Instant) -> Result<ArrayGuard<'_, T>, Timeout> {
        self.lock.acquire_deadline(deadline).map(|g| self.guard(g))
    }

    fn guard<'a>(&'a self, lock: LockGuard<'a>) -> ArrayGuard<'a, T> {
        ArrayGuard {
            raw: &self.raw,
            copy: OnceCell::new(),
            dirty: false,
            lock,
        }
    }

    /// Whether both handles refer to the same shared memory.
    pub fn same_as(&self, other: &Array<T>) -> bool {
        self.raw.same_as(&other.raw)
    }
}

impl<T: HasAtomic + Shareable<Repr = T>> Array<T> {
    /// Element `i` as a `std::sync::atomic` type, for lock-free operations (the lock is not
    /// taken); `None` if `i >= len()`. Do not mix with a guard's writes to the same element:
    /// the guard writes its copy back.
    pub fn atomic(&self, i: usize) -> Option<&T::Atomic> {
        self.raw.atomic(i)
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for Array<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Array")
            .field("len", &self.len())
            .field("lock", &self.lock)
            .finish_non_exhaustive()
    }
}

impl<T: Shareable> Serialize for Array<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw, &self.lock).serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Array<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (raw, lock) = <(RawArray<T>, Lock)>::deserialize(d)?;
        Ok(Array { raw, lock })
    }
}

/// The lock of an [`Array`], held.
///
/// Derefs to `[T]`: a private copy of the elements, made on first use (one copy of the whole
/// array) and written back when the guard is dropped, if it was changed, before the lock is
/// released. [`get`](ArrayGuard::get) and [`set`](ArrayGuard::set) access single elements
/// (in the copy if one was made, else directly in shared memory).
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ArrayGuard<'a, T: Shareable> {
    raw: &'a RawArray<T>,
    copy: OnceCell<Vec<T>>,
    dirty: bool,
    // Declared last: dropped (unlocked) after `Drop::drop` has written the copy back.
    lock: LockGuard<'a>,
}

impl<T: Shareable> ArrayGuard<'_, T> {
    /// Whether the previous holder of the lock died holding it: the array may be half
    /// updated.
    pub fn previous_owner_died(&self) -> bool {
        self.lock.previous_owner_died()
    }

    /// A copy of element `i`, or `None` if out of range.
    pub fn get(&self, i: usize) -> Option<T> {
        match self.copy.get() {
            Some(c) => c.get(i).copied(),
            None => self.raw.get(i),
        }
    }

    /// Sets element `i`.
    pub fn set(&mut self, i: usize, v: T) -> Result<(), OutOfBounds> {
        match self.copy.get_mut() {
            Some(c) => {
                let len = c.len();
                let slot = c.get_mut(i).ok_or(OutOfBounds {
                    start: i,
                    end: i.saturating_add(1),
                    len,
                })?;
                *slot = v;
                self.dirty = true;
                Ok(())
            }
            None => self.raw.set(i, v),
        }
    }

    fn copy(&self) -> &Vec<T> {
        self.copy.get_or_init(|| self.raw.to_vec())
    }
}

impl<T: Shareable> Deref for ArrayGuard<'_, T> {
    type Target = [T];
    fn deref(&self) -> &[T] {
        self.copy()
    }
}

impl<T: Shareable> DerefMut for ArrayGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut [T] {
        let _ = self.copy();
        self.dirty = true;
        match self.copy.get_mut() {
            Some(c) => c,
            None => &mut [], // unreachable: initialised just above
        }
    }
}

impl<T: Shareable> Drop for ArrayGuard<'_, T> {
    fn drop(&mut self) {
        if !self.dirty {
            return;
        }
        if let Some(c) = self.copy.get() {
            // Same length as the array, so it fits.
            let _ = self.raw.copy_in(0, c);
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ArrayGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArrayGuard")
            .field("len", &self.raw.len())
            .field("previous_owner_died", &self.previous_owner_died())
            .finish_non_exhaustive()
    }
}
