//! [`Semaphore`] and [`BoundedSemaphore`]: counting semaphores shared between processes.
//!
//! The state is a count, a sleepers counter and a maximum. `acquire` is one compare-and-swap
//! that takes a permit when the count is positive; otherwise the caller spins briefly, then
//! announces itself in `sleepers` and sleeps on the count word. `release` adds to the count and
//! issues `FUTEX_WAKE` only when `sleepers` says someone may be asleep. The two sides follow
//! Dekker's pattern: the sleeper increments `sleepers` and then re-reads the count, the releaser
//! increments the count and then reads `sleepers`, all sequentially consistent, so at least one
//! of them sees the other. Only a sleeper decrements its own announcement.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{Timeout, WouldBlock, deadline_after, spin_until};
use crate::region::{Shm, ShmSafe};
use crate::sys::futex;

#[repr(C)]
#[derive(Debug)]
pub(crate) struct SemState {
    /// Available permits; the futex word.
    count: AtomicU32,
    /// How many callers announced that they may be asleep on `count`.
    sleepers: AtomicU32,
    /// The count never exceeds this: the initial value for a bounded semaphore,
    /// [`Semaphore::MAX_VALUE`] otherwise. Written once at creation.
    max: AtomicU32,
}

// SAFETY: `SemState` is `#[repr(C)]`, holds three atomics and no pointers or descriptors; the
// all-zero value is a semaphore with no permits and maximum 0, which `create` overwrites before
// any handle is shared.
unsafe impl ShmSafe for SemState {}

impl SemState {
    fn create(name: &str, value: u32, max: u32) -> io::Result<Shm<SemState>> {
        if value > Semaphore::MAX_VALUE {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "semaphore value above Semaphore::MAX_VALUE (i32::MAX)",
            ));
        }
        let shm = Shm::<SemState>::create(name, 0)?;
        shm.count.store(value, Ordering::Relaxed);
        shm.max.store(max, Ordering::Relaxed);
        Ok(shm)
    }

    #[inline]
    fn try_take(&self) -> bool {
        let mut c = self.count.load(Ordering::Relaxed);
        while c > 0 {
            match self
                .count
                .compare_exchange_weak(c, c - 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => c = now,
            }
        }
        false
    }

    /// Takes a permit, waiting until `deadline`. False on timeout.
    #[inline]
    fn take(&self, deadline: Option<Instant>) -> bool {
        self.try_take() || self.take_slow(deadline)
    }

    #[cold]
    fn take_slow(&self, deadline: Option<Instant>) -> bool {
        if spin_until(|| self.count.load(Ordering::Relaxed) > 0 && self.try_take()) {
            return true;
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // Re-check after announcing (pairs with the releaser's count-then-sleepers).
            let woken = if self.count.load(Ordering::SeqCst) == 0 {
                futex::futex_wait(&self.count, 0, deadline)
            } else {
                true
            };
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            if self.try_take() {
                return true;
            }
            if !woken || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        }
    }

    /// Adds `n` permits, unless that would exceed the maximum.
    fn give(&self, n: u32) -> Result<(), SemaphoreReleaseError> {
        let max = self.max.load(Ordering::Relaxed);
        let mut c = self.count.load(Ordering::Relaxed);
        loop {
            let new = match c.checked_add(n) {
                Some(new) if new <= max => new,
                _ => return Err(SemaphoreReleaseError::Overflow),
            };
            match self
                .count
                .compare_exchange_weak(c, new, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(now) => c = now,
            }
        }
        if n > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
            futex::futex_wake(&self.count, n);
        }
        Ok(())
    }

    fn value(&self) -> u32 {
        self.count.load(Ordering::Relaxed)
    }
}

/// A counting semaphore shared between processes: Python's `multiprocessing.Semaphore`.
///
/// It holds a number of permits. [`acquire`](Semaphore::acquire) takes one, waiting while there
/// are none, and returns a [`SemaphoreGuard`] that gives it back when dropped.
/// [`release`](Semaphore::release) adds one. For Python-style code where one process acquires
/// and another releases (a producer/consumer pair), keep the permit with
/// [`SemaphoreGuard::forget`] and call `release` later, anywhere.
///
/// Counts are `u32` up to [`Semaphore::MAX_VALUE`] (`i32::MAX`); creating a semaphore with a
/// larger value fails, and a release that would pass it is an error.
///
/// A permit held by a process that dies is not returned (a semaphore has no owner, as in
/// Python); use a [`Lock`](crate::Lock) where a dead holder must be recovered.
///
/// ```
/// let rooms = ipc_core::Semaphore::new(2)?;
/// let a = rooms.acquire();
/// let b = rooms.acquire();
/// assert!(rooms.try_acquire().is_err());
/// drop(a);
/// assert_eq!(rooms.value(), 1);
///
/// // Python style: acquire here, release somewhere else.
/// rooms.acquire().forget();
/// assert_eq!(rooms.value(), 0);
/// rooms.release()?;
/// drop(b);
/// assert_eq!(rooms.value(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Semaphore {
    shm: Shm<SemState>,
}

impl Semaphore {
    /// The largest count a semaphore can hold (`i32::MAX`).
    pub const MAX_VALUE: u32 = i32::MAX as u32;

    /// Creates a semaphore holding `value` permits. Fails with
    /// [`io::ErrorKind::InvalidInput`] if `value` exceeds [`Semaphore::MAX_VALUE`].
    pub fn new(value: u32) -> io::Result<Semaphore> {
        Ok(Semaphore {
            shm: SemState::create("procpool-semaphore", value, Self::MAX_VALUE)?,
        })
    }

    /// Blocks until a permit is available and takes it.
    pub fn acquire(&self) -> SemaphoreGuard<'_> {
        self.shm.take(None);
        SemaphoreGuard { state: &self.shm }
    }

    /// Takes a permit if one is available.
    pub fn try_acquire(&self) -> Result<SemaphoreGuard<'_>, WouldBlock> {
        if self.shm.try_take() {
            Ok(SemaphoreGuard { state: &self.shm })
        } else {
            Err(WouldBlock)
        }
    }

    /// Waits at most `timeout` for a permit.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<SemaphoreGuard<'_>, Timeout> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for a permit.
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<SemaphoreGuard<'_>, Timeout> {
        self.acquire_until(Some(deadline))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<SemaphoreGuard<'_>, Timeout> {
        if self.shm.take(deadline) {
            Ok(SemaphoreGuard { state: &self.shm })
        } else {
            Err(Timeout)
        }
    }

    /// Adds a permit (Python's `release()`), waking one waiter if any sleeps. Errors if the
    /// count would exceed [`Semaphore::MAX_VALUE`] — or, for a [`BoundedSemaphore`], its
    /// bound (and then changes nothing).
    pub fn release(&self) -> Result<(), SemaphoreReleaseError> {
        self.shm.give(1)
    }

    /// Adds `n` permits at once (Python's `release(n)`), waking up to `n` waiters.
    pub fn release_n(&self, n: u32) -> Result<(), SemaphoreReleaseError> {
        self.shm.give(n)
    }

    /// The number of available permits (a snapshot; Python's `get_value()`).
    pub fn value(&self) -> u32 {
        self.shm.value()
    }

    /// Whether both handles refer to the same semaphore.
    pub fn same_as(&self, other: &Semaphore) -> bool {
        self.shm.same(&other.shm)
    }
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Semaphore")
            .field("value", &self.value())
            .finish()
    }
}

/// A semaphore that refuses to be released above its initial value: Python's
/// `multiprocessing.BoundedSemaphore`.
///
/// The same as [`Semaphore`], except that [`release`](Semaphore::release) fails with
/// [`SemaphoreReleaseError::Overflow`] when the count would exceed the value it was created
/// with (a release without a matching acquire, usually a bug). The check is atomic with the
/// increment, so concurrent releases cannot overshoot together.
///
/// ```
/// use ipc_core::{BoundedSemaphore, SemaphoreReleaseError};
/// let sem = BoundedSemaphore::new(1)?;
/// assert_eq!(sem.release(), Err(SemaphoreReleaseError::Overflow));
/// sem.acquire().forget();
/// assert_eq!(sem.release(), Ok(()));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Every method of [`Semaphore`] is available through `Deref`; the bound lives in shared
/// memory, so `release` through any handle respects it.
#[derive(Clone, Serialize, Deserialize)]
pub struct BoundedSemaphore {
    inner: Semaphore,
}

impl BoundedSemaphore {
    /// Creates a semaphore holding `value` permits, which is also its bound. Fails with
    /// [`io::ErrorKind::InvalidInput`] if `value` exceeds [`Semaphore::MAX_VALUE`].
    pub fn new(value: u32) -> io::Result<BoundedSemaphore> {
        Ok(BoundedSemaphore {
            inner: Semaphore {
                shm: SemState::create("procpool-bounded-semaphore", value, value)?,
            },
        })
    }

    /// The bound: the value the semaphore was created with.
    pub fn bound(&self) -> u32 {
        self.inner.shm.max.load(Ordering::Relaxed)
    }
}

impl std::ops::Deref for BoundedSemaphore {
    type Target = Semaphore;

    fn deref(&self) -> &Semaphore {
        &self.inner
    }
}

impl fmt::Debug for BoundedSemaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BoundedSemaphore")
            .field("value", &self.value())
            .field("bound", &self.bound())
            .finish()
    }
}

/// A permit taken from a [`Semaphore`] or [`BoundedSemaphore`]; given back when dropped.
#[must_use = "the permit is given back as soon as the guard is dropped"]
pub struct SemaphoreGuard<'a> {
    state: &'a SemState,
}

impl SemaphoreGuard<'_> {
    /// Keeps the permit: nothing is given back when the guard goes away. Pair it with a later
    /// `release()`, possibly in another process (Python's acquire/release style).
    pub fn forget(self) {
        std::mem::forget(self);
    }
}

impl Drop for SemaphoreGuard<'_> {
    fn drop(&mut self) {
        // Fails only if extra releases already filled a bounded semaphore to its bound;
        // nothing to undo then.
        let _ = self.state.give(1);
    }
}

impl fmt::Debug for SemaphoreGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphoreGuard").finish_non_exhaustive()
    }
}

/// Releasing a semaphore failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SemaphoreReleaseError {
    /// The count would exceed the semaphore's bound: the initial value of a
    /// [`BoundedSemaphore`], or [`Semaphore::MAX_VALUE`]. The count is unchanged.
    Overflow,
}

impl fmt::Display for SemaphoreReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SemaphoreReleaseError::Overflow => "semaphore released too many times",
        })
    }
}
impl std::error::Error for SemaphoreReleaseError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testfork::{fork_child, with_watchdog};

    /// Test-only shared counters.
    #[repr(C)]
    #[derive(Debug, Default)]
    struct Counters {
        inside: AtomicU32,
        max_inside: AtomicU32,
        total: AtomicU32,
    }
    // SAFETY: `#[repr(C)]`, atomics only, all-zero is valid.
    unsafe impl ShmSafe for Counters {}

    #[test]
    fn counts_and_errors() {
        let s = Semaphore::new(2).unwrap();
        let a = s.acquire();
        let b = s.try_acquire().unwrap();
        assert_eq!(s.try_acquire().unwrap_err(), WouldBlock);
        drop(a);
        assert_eq!(s.value(), 1);
        b.forget();
        assert_eq!(s.value(), 1);
        s.release_n(3).unwrap();
        assert_eq!(s.value(), 4);
        assert!(Semaphore::new(Semaphore::MAX_VALUE).is_ok());
        assert_eq!(
            Semaphore::new(Semaphore::MAX_VALUE + 1).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let full = Semaphore::new(Semaphore::MAX_VALUE).unwrap();
        assert_eq!(full.release(), Err(SemaphoreReleaseError::Overflow));
        let zero = Semaphore::new(0).unwrap();
        assert!(zero.acquire_deadline(Instant::now()).is_err());
    }

    #[test]
    fn bounded_overflow_is_an_error() {
        let s = BoundedSemaphore::new(2).unwrap();
        assert_eq!(s.bound(), 2);
        assert_eq!(s.release(), Err(SemaphoreReleaseError::Overflow));
        assert_eq!(s.value(), 2);
        s.acquire().forget();
        s.acquire().forget();
        assert_eq!(s.release_n(3), Err(SemaphoreReleaseError::Overflow));
        assert_eq!(s.value(), 0);
        assert_eq!(s.release_n(2), Ok(()));
        assert_eq!(s.release(), Err(SemaphoreReleaseError::Overflow));
        let g = s.acquire();
        assert_eq!(s.value(), 1);
        drop(g);
        assert_eq!(s.value(), 2);
    }

    #[test]
    fn bounded_concurrent_releases_never_overshoot() {
        let s = BoundedSemaphore::new(8).unwrap();
        for _ in 0..8 {
            s.acquire().forget();
        }
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || (0..4).filter(|_| s.release().is_ok()).count())
            })
            .collect();
        let ok: usize = hs.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(ok, 8);
        assert_eq!(s.value(), 8);
    }

    #[test]
    fn timeout_waits_at_least_the_timeout() {
        let s = Semaphore::new(1).unwrap();
        let _g = s.acquire();
        let t = Duration::from_millis(50);
        let start = Instant::now();
        assert_eq!(s.acquire_timeout(t).unwrap_err(), Timeout);
        assert!(start.elapsed() >= t);
        let b = BoundedSemaphore::new(0).unwrap();
        let start = Instant::now();
        assert!(b.acquire_timeout(t).is_err());
        assert!(start.elapsed() >= t);
    }

    #[test]
    fn at_most_value_holders_across_processes() {
        with_watchdog(Duration::from_secs(60), || {
            let sem = Semaphore::new(3).unwrap();
            let c = Shm::<Counters>::create("test-counters", 0).unwrap();
            let rounds = 200;
            let mut kids: Vec<_> = (0..6)
                .map(|_| {
                    fork_child(|| {
                        for _ in 0..rounds {
                            let _g = sem.acquire();
                            let now = c.inside.fetch_add(1, Ordering::SeqCst) + 1;
                            c.max_inside.fetch_max(now, Ordering::SeqCst);
                            c.total.fetch_add(1, Ordering::SeqCst);
                            std::hint::spin_loop();
                            if now % 2 == 0 {
                                std::thread::yield_now();
                            }
                            c.inside.fetch_sub(1, Ordering::SeqCst);
                        }
                        0
                    })
                })
                .collect();
            for k in &mut kids {
                assert_eq!(k.wait(Duration::from_secs(50)), 0);
            }
            assert_eq!(c.total.load(Ordering::SeqCst), 6 * rounds);
            let max = c.max_inside.load(Ordering::SeqCst);
            assert!((1..=3).contains(&max), "max holders {max}");
            assert_eq!(sem.value(), 3);
        });
    }

    #[test]
    fn release_in_parent_wakes_sleeping_children() {
        with_watchdog(Duration::from_secs(30), || {
            let sem = Semaphore::new(0).unwrap();
            let c = Shm::<Counters>::create("test-counters", 0).unwrap();
            let mut kids: Vec<_> = (0..3)
                .map(|_| {
                    fork_child(|| match sem.acquire_timeout(Duration::from_secs(20)) {
                        Ok(g) => {
                            g.forget();
                            c.total.fetch_add(1, Ordering::SeqCst);
                            0
                        }
                        Err(Timeout) => 1,
                    })
                })
                .collect();
            // Let them fall asleep, then hand out permits one at a time.
            std::thread::sleep(Duration::from_millis(50));
            assert_eq!(c.total.load(Ordering::SeqCst), 0);
            sem.release().unwrap();
            sem.release_n(2).unwrap();
            for k in &mut kids {
                assert_eq!(k.wait(Duration::from_secs(25)), 0);
            }
            assert_eq!(c.total.load(Ordering::SeqCst), 3);
            assert_eq!(sem.value(), 0);
        });
    }
}
