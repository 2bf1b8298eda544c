//! [`Lock`]: a non-recursive lock shared between processes.

use std::fmt;
use std::io;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{Acquired, RawLock};
use super::{ReleaseError, Timeout, WouldBlock, deadline_after};
use crate::region::{Shm, ShmSafe};
use crate::sys::proc;

#[repr(C)]
#[derive(Debug)]
struct LockState {
    raw: RawLock,
}

// SAFETY: `LockState` is `#[repr(C)]`, holds one atomic, no pointers or descriptors, and the
// all-zero value is an unlocked lock.
unsafe impl ShmSafe for LockState {}

/// A lock shared between processes: Python's `multiprocessing.Lock`.
///
/// Any thread of any process holding a handle may acquire it; it is not recursive (a second
/// `acquire` by the holder blocks, as in Python — use [`RLock`](crate::RLock) for recursion).
/// A clone is another handle to the same lock, and a handle passed to a child process as an
/// argument reaches the same lock there.
///
/// **A dead holder does not wedge it.** If the process holding the lock dies (even by
/// `SIGKILL`), a waiter takes it over within about a quarter of a second and the guard reports
/// [`previous_owner_died`](LockGuard::previous_owner_died), so the waiter can repair whatever
/// the dead holder left half done.
///
/// ```
/// let lock = ipc_core::Lock::new()?;
/// {
///     let _guard = lock.acquire();
///     assert!(lock.try_acquire().is_err());
/// } // released here
/// assert!(lock.try_acquire().is_ok());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Lock {
    shm: Shm<LockState>,
}

impl Lock {
    /// Creates an unlocked lock.
    pub fn new() -> io::Result<Lock> {
        Ok(Lock {
            shm: Shm::create("procpool-lock", 0)?,
        })
    }

    /// Blocks until the lock is acquired.
    pub fn acquire(&self) -> LockGuard<'_> {
        let how = self
            .shm
            .raw
            .lock(proc::pid(), None)
            .unwrap_or(Acquired::Clean);
        LockGuard { lock: self, how }
    }

    /// Acquires the lock if it is free.
    pub fn try_acquire(&self) -> Result<LockGuard<'_>, WouldBlock> {
        if self.shm.raw.try_lock(proc::pid()) {
            Ok(LockGuard {
                lock: self,
                how: Acquired::Clean,
            })
        } else {
            Err(WouldBlock)
        }
    }

    /// Waits at most `timeout` for the lock.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<LockGuard<'_>, Timeout> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for the lock.
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<LockGuard<'_>, Timeout> {
        self.acquire_until(Some(deadline))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<LockGuard<'_>, Timeout> {
        match self.shm.raw.lock(proc::pid(), deadline) {
            Some(how) => Ok(LockGuard { lock: self, how }),
            None => Err(Timeout),
        }
    }

    /// Releases the lock without a guard (Python's `Lock.release()`), for code that acquired
    /// it with a guard it then [`forget`](std::mem::forget)s, or that hands the release to
    /// another thread or process. Releasing an unlocked lock is an error.
    pub fn release(&self) -> Result<(), ReleaseError> {
        self.shm.raw.unlock()
    }

    /// Whether some process holds the lock right now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.shm.raw.owner().is_some()
    }

    /// The pid of the process holding the lock, if any (a snapshot).
    pub fn owner_pid(&self) -> Option<u32> {
        self.shm.raw.owner()
    }

    /// Whether both handles refer to the same lock.
    pub fn same_as(&self, other: &Lock) -> bool {
        self.shm.same(&other.shm)
    }

    pub(crate) fn raw(&self) -> &RawLock {
        &self.shm.raw
    }
}

impl fmt::Debug for Lock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lock")
            .field("owner", &self.owner_pid())
            .finish()
    }
}

/// Holds a [`Lock`]; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockGuard<'a> {
    lock: &'a Lock,
    how: Acquired,
}

impl LockGuard<'_> {
    /// Keeps the lock held without the guard, for Python-style code that releases it later,
    /// elsewhere, with [`Lock::release`] (as [`SemaphoreGuard::forget`](crate::SemaphoreGuard::forget)
    /// does for a permit).
    ///
    /// ```
    /// let lock = ipc_core::Lock::new()?;
    /// lock.acquire().forget();
    /// assert!(lock.is_locked());
    /// lock.release().unwrap();
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn forget(self) {
        std::mem::forget(self);
    }

    /// Whether the previous holder died while holding the lock, and this guard took it over.
    /// Data the lock protects may be half updated.
    pub fn previous_owner_died(&self) -> bool {
        self.how == Acquired::OwnerDied
    }
}

impl Drop for LockGuard<'_> {
    fn drop(&mut self) {
        // Only fails if someone released the lock behind the guard's back; nothing to undo.
        let _ = self.lock.shm.raw.unlock();
    }
}

impl fmt::Debug for LockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LockGuard")
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testfork::{fork_child, with_watchdog};
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn release_unheld_is_an_error() {
        let l = Lock::new().unwrap();
        assert_eq!(l.release(), Err(ReleaseError::NotHeld));
        std::mem::forget(l.acquire());
        assert!(l.is_locked());
        assert_eq!(l.owner_pid(), Some(std::process::id()));
        assert_eq!(l.release(), Ok(()));
        assert_eq!(l.release(), Err(ReleaseError::NotHeld));
    }

    #[test]
    fn timeout_waits_at_least_the_timeout() {
        let l = Lock::new().unwrap();
        let _g = l.acquire();
        let t = Duration::from_millis(50);
        let start = Instant::now();
        assert!(l.acquire_timeout(t).is_err());
        assert!(start.elapsed() >= t);
        assert!(l.acquire_deadline(Instant::now()).is_err());
    }

    #[test]
    fn mutual_exclusion_across_processes() {
        with_watchdog(Duration::from_secs(60), || {
            // A plain (non-atomic) read-modify-write under the lock, in shared memory.
            let lock = Lock::new().unwrap();
            let counter = crate::region::Region::create("test-counter", 8).unwrap();
            let per_child = 20_000u64;
            let bump = |lock: &Lock, counter: &crate::region::Region| {
                for _ in 0..per_child {
                    let _g = lock.acquire();
                    let mut b = [0u8; 8];
                    counter.read_at(0, &mut b);
                    let v = u64::from_ne_bytes(b) + 1;
                    counter.write_at(0, &v.to_ne_bytes());
                }
            };
            let mut kids: Vec<_> = (0..3)
                .map(|_| {
                    fork_child(|| {
                        bump(&lock, &counter);
                        0
                    })
                })
                .collect();
            bump(&lock, &counter);
            for k in &mut kids {
                assert_eq!(k.wait(Duration::from_secs(50)), 0);
            }
            let mut b = [0u8; 8];
            counter.read_at(0, &mut b);
            assert_eq!(u64::from_ne_bytes(b), 4 * per_child);
        });
    }

    #[test]
    fn dead_owner_is_taken_over() {
        with_watchdog(Duration::from_secs(30), || {
            let lock = Lock::new().unwrap();
            let ready = crate::region::Region::create("test-flag", 8).unwrap();
            let mut child = fork_child(|| {
                std::mem::forget(lock.acquire());
                ready.write_at(0, &[1]);
                std::thread::sleep(Duration::from_secs(60));
                0
            });
            let mut flag = [0u8; 1];
            let start = Instant::now();
            while flag[0] == 0 {
                assert!(
                    start.elapsed() < Duration::from_secs(20),
                    "child never took the lock"
                );
                std::thread::sleep(Duration::from_millis(1));
                ready.read_at(0, &mut flag);
            }
            assert_eq!(lock.owner_pid(), Some(child.pid()));
            assert!(lock.try_acquire().is_err());
            child.kill();
            // The child is a zombie until reaped below; recovery must not wait for that.
            let g = lock
                .acquire_timeout(Duration::from_secs(10))
                .expect("lock recovered");
            assert!(g.previous_owner_died());
            drop(g);
            assert_eq!(child.wait(Duration::from_secs(10)), -9);
            let g = lock.acquire();
            assert!(!g.previous_owner_died());
        });
    }

    #[test]
    fn threads_contend_fairly_enough() {
        let lock = Lock::new().unwrap();
        let n = std::sync::Arc::new(AtomicU64::new(0));
        let hs: Vec<_> = (0..4)
            .map(|_| {
                let (lock, n) = (lock.clone(), n.clone());
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        let _g = lock.acquire();
                        let v = n.load(Ordering::Relaxed);
                        n.store(v + 1, Ordering::Relaxed);
                    }
                })
            })
            .collect();
        for h in hs {
            h.join().unwrap();
        }
        assert_eq!(n.load(Ordering::Relaxed), 40_000);
    }
}
