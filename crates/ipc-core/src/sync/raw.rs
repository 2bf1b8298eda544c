//! The robust lock word shared by [`Lock`](super::Lock), [`RLock`](super::RLock) and the
//! queues' internal locks.
//!
//! The word holds the owner's id (a pid for `Lock`, a thread id for `RLock`; both fit in 30
//! bits) and a WAITERS bit. Acquire is one compare-and-swap when free; release is one swap,
//! plus a `FUTEX_WAKE` only when the WAITERS bit says someone may sleep.
//!
//! A waiter sleeps on the word with a bounded interval. Each time the interval ends, it checks
//! whether the recorded owner still exists (`/proc/<id>/stat`, treating zombies as dead). If
//! the owner is gone, the waiter takes the lock over with a compare-and-swap from the exact
//! word it saw — so of several waiters exactly one wins — and reports that the previous owner
//! died. This is the `EOWNERDEAD` idea without the kernel's robust list (which glibc already
//! owns for each thread): recovery takes at most one check interval (250 ms).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use super::spin_until;
use crate::sys::{futex, proc};

const WAITERS: u32 = 1 << 31;
const OWNER_MASK: u32 = !WAITERS;
/// How long a waiter sleeps at most before checking that the owner is alive.
pub(crate) const LIVENESS_INTERVAL: Duration = Duration::from_millis(250);

/// How an acquisition went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Acquired {
    /// Taken normally.
    Clean,
    /// Taken over from an owner that died holding it.
    OwnerDied,
}

/// The lock word. Placed inside `#[repr(C)]` shared state.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct RawLock {
    state: AtomicU32,
}

impl RawLock {
    /// Tries once to take the lock for `owner` (non-zero, < 2^31).
    #[inline]
    pub(crate) fn try_lock(&self, owner: u32) -> bool {
        debug_assert!(owner != 0 && owner & WAITERS == 0);
        self.state
            .compare_exchange(0, owner, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    }

    /// Takes the lock for `owner`, waiting until `deadline` (`None`: forever).
    /// Returns `None` on timeout.
    #[inline]
    pub(crate) fn lock(&self, owner: u32, deadline: Option<Instant>) -> Option<Acquired> {
        if self.try_lock(owner) {
            return Some(Acquired::Clean);
        }
        self.lock_slow(owner, deadline)
    }

    #[cold]
    fn lock_slow(&self, owner: u32, deadline: Option<Instant>) -> Option<Acquired> {
        if spin_until(|| self.state.load(Ordering::Relaxed) == 0 && self.try_lock(owner)) {
            return Some(Acquired::Clean);
        }
        loop {
            let s = self.state.load(Ordering::Relaxed);
            if s & OWNER_MASK == 0 {
                // Free. Keep WAITERS set: others may still be asleep.
                if self
                    .state
                    .compare_exchange(s, owner | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    return Some(Acquired::Clean);
                }
                continue;
            }
            if s & WAITERS == 0
                && self
                    .state
                    .compare_exchange(s, s | WAITERS, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
            {
                continue;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                return None;
            }
            let check_at = now + LIVENESS_INTERVAL;
            let wake_by = match deadline {
                Some(d) if d < check_at => d,
                _ => check_at,
            };
            if !futex::futex_wait(&self.state, s | WAITERS, Some(wake_by)) {
                // The interval ended with the word unchanged: is the owner still there?
                let cur = self.state.load(Ordering::Relaxed);
                let holder = cur & OWNER_MASK;
                if holder != 0
                    && !proc::is_alive(holder)
                    && self
                        .state
                        .compare_exchange(
                            cur,
                            owner | WAITERS,
                            Ordering::Acquire,
                            Ordering::Relaxed,
                        )
                        .is_ok()
                {
                    log::warn!("lock owner {holder} died holding the lock; taken over by {owner}");
                    return Some(Acquired::OwnerDied);
                }
            }
        }
    }

    /// Releases the lock whoever holds it. Errors if it was not held.
    #[inline]
    pub(crate) fn unlock(&self) -> Result<(), super::ReleaseError> {
        let s = self.state.swap(0, Ordering::Release);
        if s & OWNER_MASK == 0 {
            // It was free; swapping 0 in changed nothing observable except a stray WAITERS
            // bit, which only costs a spurious wake later.
            return Err(super::ReleaseError::NotHeld);
        }
        if s & WAITERS != 0 {
            futex::futex_wake(&self.state, 1);
        }
        Ok(())
    }

    /// Releases the lock only if `owner` holds it.
    pub(crate) fn unlock_if_owner(&self, owner: u32) -> Result<(), super::ReleaseError> {
        loop {
            let s = self.state.load(Ordering::Relaxed);
            let holder = s & OWNER_MASK;
            if holder == 0 {
                return Err(super::ReleaseError::NotHeld);
            }
            if holder != owner {
                return Err(super::ReleaseError::NotOwner);
            }
            if self
                .state
                .compare_exchange(s, 0, Ordering::Release, Ordering::Relaxed)
                .is_ok()
            {
                if s & WAITERS != 0 {
                    futex::futex_wake(&self.state, 1);
                }
                return Ok(());
            }
        }
    }

    /// Takes the lock for `owner` if it is held by an owner that no longer exists. Used by a
    /// party that must not block on the lock (a queue reader repairing a dead writer's
    /// half-written message while the writer lock is held by the corpse).
    pub(crate) fn take_over_if_dead(&self, owner: u32) -> bool {
        let cur = self.state.load(Ordering::Relaxed);
        let holder = cur & OWNER_MASK;
        holder != 0
            && !proc::is_alive(holder)
            && self
                .state
                .compare_exchange(cur, owner | WAITERS, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// The current owner id, if locked.
    pub(crate) fn owner(&self) -> Option<u32> {
        match self.state.load(Ordering::Relaxed) & OWNER_MASK {
            0 => None,
            o => Some(o),
        }
    }
}
