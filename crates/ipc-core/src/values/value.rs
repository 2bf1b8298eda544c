//! [`Value`] (with a lock) and [`RawValue`] (without): one shared element.

use std::fmt;
use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::cells::{Cells, Kind};
use super::{HasAtomic, Shareable};
use crate::sync::{Lock, LockGuard, Timeout, WouldBlock};

/// One value of type `T` in memory shared between processes, without a lock: Python's
/// `multiprocessing.RawValue`.
///
/// Reads and writes copy the whole value in and out; nothing ever borrows the shared memory.
/// A value larger than 8 bytes may be **torn** when another process writes it at the same
/// time (a reader sees part of the old and part of the new value, 8-byte unit by unit; a
/// single scalar is never torn). Use a [`Value`] (which has a lock) for read-modify-write of
/// compound values; for integers, the lock-free atomic operations
/// ([`fetch_add`](RawValue::fetch_add), [`compare_exchange`](RawValue::compare_exchange), ...)
/// are the fastest correct way to share a counter.
///
/// A clone is another handle to the same memory. Passed to a child process as an argument it
/// reaches the same memory there; it also stays shared across `fork`.
///
/// ```
/// let hits = ipc_core::RawValue::new(0u64)?;
/// hits.fetch_add(1);
/// hits.fetch_add(1);
/// assert_eq!(hits.get(), 2);
/// hits.set(10);
/// assert_eq!(hits.load(), 10);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct RawValue<T: Shareable> {
    cells: Cells<T>,
}

impl<T: Shareable> Clone for RawValue<T> {
    fn clone(&self) -> Self {
        RawValue {
            cells: self.cells.clone(),
        }
    }
}

impl<T: Shareable> RawValue<T> {
    /// A new shared value holding `v`.
    pub fn new(v: T) -> io::Result<RawValue<T>> {
        Cells::from_slice(Kind::Value, &[v]).map(|cells| RawValue { cells })
    }

    /// A new shared value with all bits zero (`0`, `0.0`, `false`, ...): Python's
    /// `RawValue('i')`.
    pub fn zeroed() -> io::Result<RawValue<T>> {
        Cells::zeroed(Kind::Value, 1).map(|cells| RawValue { cells })
    }

    /// A copy of the value.
    pub fn get(&self) -> T {
        self.cells
            .get(0)
            .expect("a shared value holds exactly one element")
    }

    /// Replaces the value.
    pub fn set(&self, v: T) {
        // A value has exactly one element, so index 0 is in bounds.
        let _ = self.cells.set(0, v);
    }

    /// Whether both handles refer to the same shared memory.
    pub fn same_as(&self, other: &RawValue<T>) -> bool {
        self.cells.same(&other.cells)
    }
}

impl<T: HasAtomic + Shareable<Repr = T>> RawValue<T> {
    /// The value as a `std::sync::atomic` type (`AtomicI32` for `i32`, ...), for every atomic
    /// operation with the ordering you choose. The shorthands below use `SeqCst`.
    ///
    /// ```
    /// use std::sync::atomic::Ordering;
    /// let flags = ipc_core::RawValue::new(0b0001u32)?;
    /// flags.atomic().fetch_or(0b0100, Ordering::AcqRel);
    /// assert_eq!(flags.get(), 0b0101);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn atomic(&self) -> &T::Atomic {
        self.cells
            .atomic(0)
            .expect("a shared value holds exactly one element")
    }

    /// Atomically reads the value.
    pub fn load(&self) -> T {
        T::load(self.atomic(), Ordering::SeqCst)
    }

    /// Atomically writes the value.
    pub fn store(&self, v: T) {
        T::store(self.atomic(), v, Ordering::SeqCst)
    }

    /// Atomically replaces the value, returning the previous one.
    pub fn swap(&self, v: T) -> T {
        T::swap(self.atomic(), v, Ordering::SeqCst)
    }

    /// Atomically adds `v` (wrapping on overflow), returning the previous value.
    pub fn fetch_add(&self, v: T) -> T {
        T::fetch_add(self.atomic(), v, Ordering::SeqCst)
    }

    /// Atomically subtracts `v` (wrapping on overflow), returning the previous value.
    pub fn fetch_sub(&self, v: T) -> T {
        T::fetch_sub(self.atomic(), v, Ordering::SeqCst)
    }

    /// Atomically replaces the value with `new` if it equals `current`. Returns the previous
    /// value: `Ok` if it was replaced, `Err` (holding the value found) if not.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        T::compare_exchange(
            self.atomic(),
            current,
            new,
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for RawValue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RawValue")
            .field("value", &self.get())
            .finish()
    }
}

impl<T: Shareable> Serialize for RawValue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.cells.serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for RawValue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Cells::deserialize(d, Kind::Value).map(|cells| RawValue { cells })
    }
}

/// One value of type `T` in memory shared between processes, with a [`Lock`]: Python's
/// `multiprocessing.Value`.
///
/// [`get`](Value::get) and [`set`](Value::set) take the lock; [`lock`](Value::lock) holds it
/// and gives a guard that derefs to `&mut T` for read-modify-write (Python's
/// `with v.get_lock(): v.value += 1`). The lock is a process-shared [`Lock`]: if a process
/// dies holding it, the next taker gets it within about a quarter of a second, and the
/// guard says so ([`previous_owner_died`](ValueGuard::previous_owner_died)).
///
/// Integer values also have lock-free atomic operations ([`fetch_add`](Value::fetch_add),
/// [`compare_exchange`](Value::compare_exchange), ...), so a counter needs no lock at all —
/// Python's `v.value += 1` without the lock is a well-known race; `v.fetch_add(1)` is not.
/// Do not mix the two on one value: a guard works on a copy that it writes back when dropped,
/// so an atomic update made meanwhile by someone not holding the lock would be overwritten.
///
/// **Unlike Python, the lock is not recursive** (Python's default is an `RLock`): while you hold
/// [`get_lock`](Value::get_lock) yourself, do not call `get`/`set` (they would wait for the
/// lock you hold); use [`get_obj`](Value::get_obj)`.get()` / `.set()`, or use the guard from
/// [`lock`](Value::lock) instead.
///
/// A clone is another handle to the same value and lock. Passed to a child process as an
/// argument it reaches the same memory there; it also stays shared across `fork`.
///
/// ```
/// let v = ipc_core::Value::new(41i32)?;
/// {
///     let mut n = v.lock();
///     *n += 1;
/// } // written back and unlocked here
/// assert_eq!(v.get(), 42);
/// assert_eq!(v.fetch_add(8), 42);
/// assert_eq!(v.get(), 50);
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Value<T: Shareable> {
    raw: RawValue<T>,
    lock: Lock,
}

impl<T: Shareable> Clone for Value<T> {
    fn clone(&self) -> Self {
        Value {
            raw: self.raw.clone(),
            lock: self.lock.clone(),
        }
    }
}

impl<T: Shareable> Value<T> {
    /// A new shared value holding `v`, with a new lock.
    pub fn new(v: T) -> io::Result<Value<T>> {
        Self::with_lock(v, Lock::new()?)
    }

    /// A new shared value with all bits zero (`0`, `0.0`, `false`, ...), with a new lock:
    /// Python's `Value('i')`.
    pub fn zeroed() -> io::Result<Value<T>> {
        Ok(Value {
            raw: RawValue::zeroed()?,
            lock: Lock::new()?,
        })
    }

    /// A new shared value holding `v`, guarded by `lock` (Python's `Value(.., lock=lock)`):
    /// several values may share one lock, so that one acquisition covers all of them.
    ///
    /// ```
    /// let lock = ipc_core::Lock::new()?;
    /// let a = ipc_core::Value::with_lock(1u32, lock.clone())?;
    /// let b = ipc_core::Value::with_lock(2u32, lock.clone())?;
    /// assert!(a.get_lock().same_as(&lock) && b.get_lock().same_as(&lock));
    /// {
    ///     let _both = lock.acquire();
    ///     // The lock is held: use the unsynchronised views (get/set would wait for it).
    ///     let (x, y) = (a.get_obj().get(), b.get_obj().get());
    ///     a.get_obj().set(y);
    ///     b.get_obj().set(x);
    /// }
    /// assert_eq!((a.get(), b.get()), (2, 1));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn with_lock(v: T, lock: Lock) -> io::Result<Value<T>> {
        Ok(Value {
            raw: RawValue::new(v)?,
            lock,
        })
    }

    /// The lock guarding the value (the one given to [`with_lock`](Value::with_lock), if any).
    pub fn get_lock(&self) -> &Lock {
        &self.lock
    }

    /// The same memory without the lock (Python's `get_obj()`), for use while you hold the
    /// lock yourself or where a torn read does not matter.
    #[doc(alias = "raw")]
    pub fn get_obj(&self) -> &RawValue<T> {
        &self.raw
    }

    /// A copy of the value, read under the lock.
    pub fn get(&self) -> T {
        let _g = self.lock.acquire();
        self.raw.get()
    }

    /// Replaces the value under the lock.
    pub fn set(&self, v: T) {
        let _g = self.lock.acquire();
        self.raw.set(v)
    }

    /// Takes the lock, blocking until it is free, and returns a guard giving `&mut T`.
    ///
    /// The guard holds a copy of the value; changes are written back when it is dropped,
    /// before the lock is released.
    pub fn lock(&self) -> ValueGuard<'_, T> {
        self.guard(self.lock.acquire())
    }

    /// Takes the lock if it is free.
    pub fn try_lock(&self) -> Result<ValueGuard<'_, T>, WouldBlock> {
        self.lock.try_acquire().map(|g| self.guard(g))
    }

    /// Waits at most `timeout` for the lock.
    pub fn lock_timeout(&self, timeout: Duration) -> Result<ValueGuard<'_, T>, Timeout> {
        self.lock.acquire_timeout(timeout).map(|g| self.guard(g))
    }

    /// Waits until `deadline` for the lock.
    pub fn lock_deadline(&self, deadline: Instant) -> Result<ValueGuard<'_, T>, Timeout> {
        self.lock.acquire_deadline(deadline).map(|g| self.guard(g))
    }

    fn guard<'a>(&'a self, lock: LockGuard<'a>) -> ValueGuard<'a, T> {
        ValueGuard {
            copy: self.raw.get(),
            raw: &self.raw,
            dirty: false,
            lock,
        }
    }

    /// Whether both handles refer to the same shared memory.
    pub fn same_as(&self, other: &Value<T>) -> bool {
        self.raw.same_as(&other.raw)
    }
}

impl<T: HasAtomic + Shareable<Repr = T>> Value<T> {
    /// The value as a `std::sync::atomic` type, for any atomic operation and ordering
    /// (lock-free; the lock is not taken). See [`RawValue::atomic`].
    pub fn atomic(&self) -> &T::Atomic {
        self.raw.atomic()
    }

    /// Atomically reads the value, without the lock.
    pub fn load(&self) -> T {
        self.raw.load()
    }

    /// Atomically writes the value, without the lock.
    pub fn store(&self, v: T) {
        self.raw.store(v)
    }

    /// Atomically replaces the value, returning the previous one, without the lock.
    pub fn swap(&self, v: T) -> T {
        self.raw.swap(v)
    }

    /// Atomically adds `v` (wrapping), returning the previous value, without the lock.
    ///
    /// ```
    /// let counter = ipc_core::Value::new(0usize)?;
    /// assert_eq!(counter.fetch_add(5), 0);
    /// assert_eq!(counter.get(), 5);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn fetch_add(&self, v: T) -> T {
        self.raw.fetch_add(v)
    }

    /// Atomically subtracts `v` (wrapping), returning the previous value, without the lock.
    pub fn fetch_sub(&self, v: T) -> T {
        self.raw.fetch_sub(v)
    }

    /// Atomically replaces the value with `new` if it equals `current`, without the lock.
    /// `Ok(previous)` if replaced, `Err(found)` if not.
    pub fn compare_exchange(&self, current: T, new: T) -> Result<T, T> {
        self.raw.compare_exchange(current, new)
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for Value<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A snapshot without the lock: Debug must not block (the caller may hold the lock).
        f.debug_struct("Value")
            .field("value", &self.raw.get())
            .field("lock", &self.lock)
            .finish()
    }
}

impl<T: Shareable> Serialize for Value<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        (&self.raw, &self.lock).serialize(s)
    }
}

impl<'de, T: Shareable> Deserialize<'de> for Value<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let (raw, lock) = <(RawValue<T>, Lock)>::deserialize(d)?;
        Ok(Value { raw, lock })
    }
}

/// The lock of a [`Value`], held; derefs to a copy of the value that is written back (if
/// changed) when the guard is dropped, just before the lock is released.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ValueGuard<'a, T: Shareable> {
    raw: &'a RawValue<T>,
    copy: T,
    dirty: bool,
    // Declared last: dropped (unlocked) after `Drop::drop` has written the copy back.
    lock: LockGuard<'a>,
}

impl<T: Shareable> ValueGuard<'_, T> {
    /// Whether the previous holder of the lock died holding it: the value may be half
    /// updated.
    pub fn previous_owner_died(&self) -> bool {
        self.lock.previous_owner_died()
    }
}

impl<T: Shareable> Deref for ValueGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.copy
    }
}

impl<T: Shareable> DerefMut for ValueGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.dirty = true;
        &mut self.copy
    }
}

impl<T: Shareable> Drop for ValueGuard<'_, T> {
    fn drop(&mut self) {
        if self.dirty {
            self.raw.set(self.copy);
        }
    }
}

impl<T: Shareable + fmt::Debug> fmt::Debug for ValueGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ValueGuard")
            .field("value", &self.copy)
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}
