//! Process-shared synchronisation primitives: [`Lock`], [`RLock`], [`Semaphore`],
//! [`BoundedSemaphore`], [`Event`], [`Condition`] and [`Barrier`].
//!
//! Each is a few `#[repr(C)]` atomics in a memfd region, waited on with futexes that work across
//! processes. Fast paths are one atomic operation with no system call; a blocked caller spins
//! briefly (waking a sleeper on another core costs about 25 µs on a small VM, a spin hand-over
//! well under 1 µs) and then sleeps. Blocking calls come in four forms, as in
//! crossbeam-channel: blocking, `try_*`, `*_timeout(Duration)` and `*_deadline(Instant)`.
//! A timeout too large to represent blocks forever.
//!
//! - [`Lock`]: a non-recursive lock owned by a process; a dead holder is taken over and the
//!   new holder is told ([`LockGuard::previous_owner_died`]).
//! - [`RLock`]: a recursive lock owned by a thread of a process (its kernel thread id);
//!   releasing it from another thread is [`ReleaseError::NotOwner`]; a dead holder is taken
//!   over like a [`Lock`]'s.
//! - [`Semaphore`] and [`BoundedSemaphore`]: counting semaphores; permits come back when a
//!   [`SemaphoreGuard`] drops, or by an explicit `release()` from anywhere. A bounded one
//!   refuses a release above its initial value ([`SemaphoreReleaseError::Overflow`]).
//! - [`Event`]: a flag that callers wait on until another process sets it.
//! - [`Condition`]: a condition variable over a [`Lock`] or an [`RLock`]
//!   ([`ConditionLock`]); `notify(n)` wakes exactly `n` of the waiting callers, and a waiter
//!   that timed out does not absorb a later notification.
//! - [`Barrier`]: a rendezvous for a fixed number of parties, round after round, with an
//!   optional action; a timeout, an abort or a party that dies while waiting breaks it
//!   ([`BarrierWaitError`]) instead of leaving the others hanging.
//!
//! All of them are handles: cloning one, or passing it to a child process as an argument,
//! reaches the same primitive.

mod atomics;
mod barrier;
mod condition;
mod event;
mod lock;
pub(crate) mod notifier;
pub(crate) mod raw;
mod rlock;
mod semaphore;

pub use atomics::SharedAtomics;
pub use barrier::{Barrier, BarrierWaitError};
pub use condition::{
    Condition, ConditionGuard, ConditionLock, ConditionNotifyError, ConditionWaitError,
};
pub use event::Event;
pub use lock::{Lock, LockGuard};
pub use rlock::{RLock, RLockGuard};
pub use semaphore::{BoundedSemaphore, Semaphore, SemaphoreGuard, SemaphoreReleaseError};

use std::fmt;
use std::time::{Duration, Instant};

/// Turns a timeout into a deadline; `None` (block forever) if it overflows.
pub(crate) fn deadline_after(timeout: Duration) -> Option<Instant> {
    Instant::now().checked_add(timeout)
}

/// How long a blocked caller spins before it sleeps on a futex. Waking a sleeper on another
/// core costs about 25 µs on a small VM while a spin hand-over takes well under 1 µs, so a
/// short spin pays off; longer spins only burn the core the other party may need.
const SPIN_BUDGET: std::time::Duration = std::time::Duration::from_micros(10);

/// The number of CPUs this process may run on right now (its affinity mask), Python 3.13's
/// `os.process_cpu_count()`. Unlike a machine-wide count, it sees `taskset` and pinning.
///
/// ```
/// assert!(ipc_core::process_cpu_count() >= 1);
/// ```
pub fn process_cpu_count() -> usize {
    crate::sys::proc::cpus_allowed()
}

/// Spins with a CPU relax hint until `ready()` holds or [`SPIN_BUDGET`] has passed; returns
/// whether it holds. Never yields the CPU: on a loaded machine `sched_yield` can hand away a
/// whole time slice, far longer than a futex sleep.
#[inline]
pub(crate) fn spin_until(mut ready: impl FnMut() -> bool) -> bool {
    if ready() {
        return true;
    }
    // On one CPU the party that would make `ready` true cannot run while we spin.
    if crate::sys::proc::cpus_allowed_cached() < 2 {
        return false;
    }
    let start = Instant::now();
    loop {
        for _ in 0..32 {
            std::hint::spin_loop();
            if ready() {
                return true;
            }
        }
        if start.elapsed() >= SPIN_BUDGET {
            return ready();
        }
    }
}

/// The resource could not be had without blocking.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct WouldBlock;

impl fmt::Display for WouldBlock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("operation would block")
    }
}
impl std::error::Error for WouldBlock {}

/// The deadline passed before the resource could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Timeout;

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("timed out")
    }
}
impl std::error::Error for Timeout {}

/// Releasing a lock failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseError {
    /// The lock was not held.
    NotHeld,
    /// The lock is held by another owner (an [`RLock`] held by another thread or process).
    NotOwner,
}

impl fmt::Display for ReleaseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReleaseError::NotHeld => "release of an unlocked lock",
            ReleaseError::NotOwner => "cannot release a lock owned by another thread or process",
        })
    }
}
impl std::error::Error for ReleaseError {}
