//! [`RLock`]: a recursive lock shared between processes, owned by one thread of one process.

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::raw::{Acquired, RawLock};
use super::{ReleaseError, Timeout, WouldBlock, deadline_after};
use crate::region::{Shm, ShmSafe};
use crate::sys::proc;

#[repr(C)]
#[derive(Debug)]
struct RLockState {
    /// Owner: the kernel thread id of the holding thread (system-wide unique while it lives).
    raw: RawLock,
    /// Recursion depth. Read and written only by the owner (so `Relaxed` suffices: the lock
    /// word's acquire/release orders it for the next owner).
    count: AtomicU32,
}

// SAFETY: `RLockState` is `#[repr(C)]`, holds two atomics and no pointers or descriptors, and
// the all-zero value is an unlocked lock with depth 0.
unsafe impl ShmSafe for RLockState {}

/// A recursive lock shared between processes: Python's `multiprocessing.RLock`.
///
/// The owner is a thread of a process (identified by its kernel thread id, which is unique
/// system-wide). The owner may acquire it again without blocking; each acquisition must be
/// matched by a release (a dropped guard or [`release`](RLock::release)), and the lock is
/// free once the depth returns to zero. Releasing it from a thread that does not own it is
/// an error ([`ReleaseError::NotOwner`]), as in Python.
///
/// **A dead holder does not wedge it.** If the owning process dies (even by `SIGKILL`), or
/// the owning thread exits while holding it, a waiter takes it over within about a quarter of
/// a second, with the depth reset to one, and the guard reports
/// [`previous_owner_died`](RLockGuard::previous_owner_died).
///
/// ```
/// let lock = ipc_core::RLock::new()?;
/// let outer = lock.acquire();
/// let inner = lock.acquire(); // the owner may re-enter
/// assert_eq!(lock.depth(), 2);
/// drop(inner);
/// drop(outer);
/// assert!(!lock.is_locked());
///
/// // Python style: acquire, keep the hold, release explicitly.
/// std::mem::forget(lock.acquire());
/// lock.release()?;
/// assert_eq!(lock.release(), Err(ipc_core::ReleaseError::NotHeld));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct RLock {
    shm: Shm<RLockState>,
}

impl RLock {
    /// Creates an unlocked recursive lock.
    pub fn new() -> io::Result<RLock> {
        Ok(RLock {
            shm: Shm::create("procpool-rlock", 0)?,
        })
    }

    /// Blocks until the calling thread holds the lock (at once if it already does).
    ///
    /// # Panics
    /// If the recursion depth would exceed `u32::MAX`.
    pub fn acquire(&self) -> RLockGuard<'_> {
        let me = proc::tid();
        if self.reenter(me) {
            return self.guard(Acquired::Clean);
        }
        let how = self.shm.raw.lock(me, None).unwrap_or(Acquired::Clean);
        self.shm.count.store(1, Ordering::Relaxed);
        self.guard(how)
    }

    /// Acquires the lock if it is free or already held by the calling thread.
    pub fn try_acquire(&self) -> Result<RLockGuard<'_>, WouldBlock> {
        let me = proc::tid();
        if self.reenter(me) {
            return Ok(self.guard(Acquired::Clean));
        }
        if self.shm.raw.try_lock(me) {
            self.shm.count.store(1, Ordering::Relaxed);
            Ok(self.guard(Acquired::Clean))
        } else {
            Err(WouldBlock)
        }
    }

    /// Waits at most `timeout` for the lock.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<RLockGuard<'_>, Timeout> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for the lock.
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<RLockGuard<'_>, Timeout> {
        self.acquire_until(Some(deadline))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<RLockGuard<'_>, Timeout> {
        let me = proc::tid();
        if self.reenter(me) {
            return Ok(self.guard(Acquired::Clean));
        }
        match self.shm.raw.lock(me, deadline) {
            Some(how) => {
                // Fresh hold, or taken over from a dead owner: the depth starts again at one.
                self.shm.count.store(1, Ordering::Relaxed);
                Ok(self.guard(how))
            }
            None => Err(Timeout),
        }
    }

    /// If `me` owns the lock, bumps the depth and returns true.
    fn reenter(&self, me: u32) -> bool {
        if self.shm.raw.owner() != Some(me) {
            return false;
        }
        // Only the owner touches `count`, and `me` is the owner.
        let c = self.shm.count.load(Ordering::Relaxed);
        let c = c.checked_add(1).expect("RLock recursion depth overflow");
        self.shm.count.store(c, Ordering::Relaxed);
        true
    }

    fn guard(&self, how: Acquired) -> RLockGuard<'_> {
        RLockGuard {
            lock: self,
            how,
            _not_send: PhantomData,
        }
    }

    /// Releases one level of the calling thread's hold (Python's `RLock.release()`), for code
    /// that [`forget`](std::mem::forget)s its guards. The lock is free when the depth reaches
    /// zero. Errors if the lock is not held, or held by another thread or process.
    pub fn release(&self) -> Result<(), ReleaseError> {
        let me = proc::tid();
        match self.shm.raw.owner() {
            None => return Err(ReleaseError::NotHeld),
            Some(o) if o != me => return Err(ReleaseError::NotOwner),
            Some(_) => {}
        }
        let c = self.shm.count.load(Ordering::Relaxed);
        if c > 1 {
            self.shm.count.store(c - 1, Ordering::Relaxed);
            Ok(())
        } else {
            self.shm.count.store(0, Ordering::Relaxed);
            self.shm.raw.unlock_if_owner(me)
        }
    }

    /// Whether the calling thread holds the lock (Python's `RLock._is_owned()`).
    pub fn is_owned(&self) -> bool {
        self.shm.raw.owner() == Some(proc::tid())
    }

    /// Whether some thread holds the lock right now (a snapshot).
    pub fn is_locked(&self) -> bool {
        self.shm.raw.owner().is_some()
    }

    /// The kernel thread id of the holder, if any (a snapshot). For a single-threaded
    /// process this is its pid.
    pub fn owner_tid(&self) -> Option<u32> {
        self.shm.raw.owner()
    }

    /// The calling thread's recursion depth: how many releases it owes (0 if it does not
    /// hold the lock).
    pub fn depth(&self) -> u32 {
        if self.is_owned() {
            self.shm.count.load(Ordering::Relaxed)
        } else {
            0
        }
    }

    /// Whether both handles refer to the same lock.
    pub fn same_as(&self, other: &RLock) -> bool {
        self.shm.same(&other.shm)
    }

    /// Releases the calling thread's hold completely and returns its depth, for
    /// [`Condition::wait`](super::Condition::wait). `None` if the caller does not own it.
    pub(crate) fn release_save(&self) -> Option<u32> {
        let me = proc::tid();
        if self.shm.raw.owner() != Some(me) {
            return None;
        }
        let c = self.shm.count.swap(0, Ordering::Relaxed);
        self.shm.raw.unlock_if_owner(me).ok()?;
        Some(c)
    }

    /// Reacquires the lock after [`release_save`](Self::release_save) with the saved depth.
    pub(crate) fn acquire_restore(&self, depth: u32) -> Acquired {
        let how = self
            .shm
            .raw
            .lock(proc::tid(), None)
            .unwrap_or(Acquired::Clean);
        self.shm.count.store(depth.max(1), Ordering::Relaxed);
        how
    }
}

impl fmt::Debug for RLock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLock")
            .field("owner_tid", &self.owner_tid())
            .finish()
    }
}

/// One level of a thread's hold on an [`RLock`]; released when dropped.
///
/// The guard cannot be sent to another thread: the hold belongs to the acquiring thread.
#[must_use = "the hold is released as soon as the guard is dropped"]
pub struct RLockGuard<'a> {
    lock: &'a RLock,
    how: Acquired,
    _not_send: PhantomData<*const ()>,
}

impl RLockGuard<'_> {
    /// Whether the previous holder died while holding the lock and this guard took it over
    /// (the depth was reset to one). Data the lock protects may be half updated.
    pub fn previous_owner_died(&self) -> bool {
        self.how == Acquired::OwnerDied
    }
}

impl Drop for RLockGuard<'_> {
    fn drop(&mut self) {
        // Fails only if the hold was released behind the guard's back; nothing to undo.
        let _ = self.lock.release();
    }
}

impl fmt::Debug for RLockGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RLockGuard")
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::region::Region;
    use crate::sys::testfork::{fork_child, with_watchdog};

    fn wait_flag(r: &Region, what: &str) {
        let start = Instant::now();
        let mut b = [0u8; 1];
        loop {
            r.read_at(0, &mut b);
            if b[0] != 0 {
                return;
            }
            assert!(start.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn recursion_and_release_errors() {
        let l = RLock::new().unwrap();
        assert_eq!(l.release(), Err(ReleaseError::NotHeld));
        assert_eq!(l.depth(), 0);
        let g1 = l.acquire();
        let g2 = l.try_acquire().unwrap();
        let g3 = l.acquire_timeout(Duration::from_millis(1)).unwrap();
        assert_eq!(l.depth(), 3);
        assert!(l.is_owned());
        assert_eq!(l.owner_tid(), Some(proc::tid()));
        drop(g3);
        drop(g2);
        assert_eq!(l.depth(), 1);
        assert!(l.is_locked());
        drop(g1);
        assert!(!l.is_locked());
        assert_eq!(l.release(), Err(ReleaseError::NotHeld));
    }

    #[test]
    fn other_thread_cannot_release_or_enter() {
        let l = RLock::new().unwrap();
        std::mem::forget(l.acquire());
        std::mem::forget(l.acquire());
        let l2 = l.clone();
        std::thread::spawn(move || {
            assert_eq!(l2.release(), Err(ReleaseError::NotOwner));
            assert!(l2.try_acquire().is_err());
            assert!(!l2.is_owned());
            assert_eq!(l2.depth(), 0);
            let t = Duration::from_millis(30);
            let start = Instant::now();
            assert!(l2.acquire_timeout(t).is_err());
            assert!(start.elapsed() >= t);
        })
        .join()
        .unwrap();
        assert_eq!(l.release(), Ok(()));
        assert!(l.is_locked());
        assert_eq!(l.release(), Ok(()));
        assert!(!l.is_locked());
    }

    #[test]
    fn other_process_is_excluded_and_cannot_release() {
        with_watchdog(Duration::from_secs(30), || {
            let l = RLock::new().unwrap();
            let g = l.acquire();
            let mut child = fork_child(|| {
                if l.release() != Err(ReleaseError::NotOwner) {
                    return 1;
                }
                if l.try_acquire().is_ok() {
                    return 2;
                }
                // Blocks until the parent lets go.
                let g = l.acquire_timeout(Duration::from_secs(20));
                match g {
                    Ok(g) if !g.previous_owner_died() && l.depth() == 1 => 0,
                    _ => 3,
                }
            });
            std::thread::sleep(Duration::from_millis(20));
            drop(g);
            assert_eq!(child.wait(Duration::from_secs(25)), 0);
        });
    }

    #[test]
    fn dead_owner_is_taken_over() {
        with_watchdog(Duration::from_secs(30), || {
            let l = RLock::new().unwrap();
            let ready = Region::create("test-flag", 1).unwrap();
            let mut child = fork_child(|| {
                std::mem::forget(l.acquire());
                std::mem::forget(l.acquire());
                ready.write_at(0, &[1]);
                std::thread::sleep(Duration::from_secs(60));
                0
            });
            wait_flag(&ready, "child never took the lock");
            assert_eq!(l.owner_tid(), Some(child.pid()));
            assert!(l.try_acquire().is_err());
            child.kill();
            let g = l
                .acquire_timeout(Duration::from_secs(10))
                .expect("lock recovered");
            assert!(g.previous_owner_died());
            assert_eq!(l.depth(), 1);
            drop(g);
            assert!(!l.is_locked());
            assert_eq!(child.wait(Duration::from_secs(10)), -9);
        });
    }

    #[test]
    fn thread_that_exits_holding_it_is_taken_over() {
        with_watchdog(Duration::from_secs(30), || {
            let l = RLock::new().unwrap();
            let l2 = l.clone();
            std::thread::spawn(move || std::mem::forget(l2.acquire()))
                .join()
                .unwrap();
            assert!(l.is_locked());
            let g = l
                .acquire_timeout(Duration::from_secs(10))
                .expect("lock recovered");
            assert!(g.previous_owner_died());
            assert_eq!(l.depth(), 1);
        });
    }
}
