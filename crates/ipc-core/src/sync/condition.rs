//! [`Condition`]: a condition variable shared between processes, over a [`Lock`] or an
//! [`RLock`].
//!
//! # How notify(n) wakes exactly n waiters
//!
//! The shared state holds two wrapping `u32` counters, changed only while the condition's
//! lock is held: `next_ticket` and `notified_upto`. A waiter takes ticket `t = next_ticket++`,
//! releases the lock, and sleeps on the `notified_upto` futex word until `notified_upto` has
//! moved past `t` (or its deadline passes); then it reacquires the lock. `notify(n)` moves
//! `notified_upto` forward over the next `n` live tickets and wakes the sleepers, who each
//! check their own ticket (those not reached go back to sleep). So exactly `min(n, waiting)`
//! waits return "notified", in ticket (arrival) order.
//!
//! A waiter that times out must not absorb a later notification. After its deadline it
//! reacquires the lock and, unless a notification reached its ticket in the meantime (then it
//! reports "notified": the race is resolved in favour of the notification), marks its ticket
//! in a cancellation bitmap (4096 bits, indexed by ticket mod 4096). `notify` skips cancelled
//! tickets and clears their bits. At most [`Condition::MAX_WAITERS`] tickets may be
//! outstanding at once (waiting, or cancelled but not yet skipped); a `wait` beyond that fails
//! with [`ConditionWaitError::TooManyWaiters`].
//!
//! `set`-side wake-ups use the sleepers-count pattern of the other primitives: `notify`
//! issues `FUTEX_WAKE` only when some waiter announced that it may be asleep.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::lock::LockGuard;
use super::raw::Acquired;
use super::rlock::RLockGuard;
use super::{Lock, RLock, ReleaseError, Timeout, WouldBlock, deadline_after, spin_until};
use crate::region::{Shm, ShmSafe};
use crate::sys::{futex, proc};

const BITMAP_WORDS: usize = (Condition::MAX_WAITERS / 32) as usize;

#[repr(C)]
#[derive(Debug)]
struct CondState {
    /// The next ticket to hand out. Changed only under the condition's lock.
    next_ticket: AtomicU32,
    /// Tickets before this one have been notified (or cancelled). Changed only under the
    /// condition's lock; the futex word waiters sleep on.
    notified_upto: AtomicU32,
    /// How many waiters announced that they may be asleep on `notified_upto`.
    sleepers: AtomicU32,
    /// Bit `t % MAX_WAITERS` is set when ticket `t` timed out and has not been skipped yet.
    /// Changed only under the condition's lock.
    cancelled: [AtomicU32; BITMAP_WORDS],
}

// SAFETY: `CondState` is `#[repr(C)]`, holds only atomics (no pointers or descriptors), and
// the all-zero value is a condition with no waiters and no cancelled tickets.
unsafe impl ShmSafe for CondState {}

/// Whether ticket `t` has been notified when the counter stands at `upto`.
#[inline]
fn passed(upto: u32, t: u32) -> bool {
    (upto.wrapping_sub(t) as i32) > 0
}

impl CondState {
    fn bit(&self, t: u32) -> (&AtomicU32, u32) {
        let i = t % Condition::MAX_WAITERS;
        (&self.cancelled[(i / 32) as usize], 1 << (i % 32))
    }

    fn is_cancelled(&self, t: u32) -> bool {
        let (w, m) = self.bit(t);
        w.load(Ordering::Relaxed) & m != 0
    }

    fn set_cancelled(&self, t: u32, on: bool) {
        let (w, m) = self.bit(t);
        if on {
            w.fetch_or(m, Ordering::Relaxed);
        } else {
            w.fetch_and(!m, Ordering::Relaxed);
        }
    }

    /// Under the lock: notifies up to `n` live tickets. Returns how many.
    fn notify(&self, n: usize) -> usize {
        let start = self.notified_upto.load(Ordering::Relaxed);
        let next = self.next_ticket.load(Ordering::Relaxed);
        let mut upto = start;
        let mut woken = 0;
        while upto != next {
            if self.is_cancelled(upto) {
                self.set_cancelled(upto, false);
            } else if woken == n {
                break;
            } else {
                woken += 1;
            }
            upto = upto.wrapping_add(1);
        }
        if upto != start {
            self.notified_upto.store(upto, Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if woken > 0 && self.sleepers.load(Ordering::SeqCst) > 0 {
                futex::futex_wake_all(&self.notified_upto);
            }
        }
        woken
    }

    /// Under the lock: withdraws ticket `t`, which has not been notified.
    fn cancel(&self, t: u32) {
        let upto = self.notified_upto.load(Ordering::Relaxed);
        if t != upto {
            self.set_cancelled(t, true);
            return;
        }
        // At the head of the line: step past it and any cancelled tickets behind it. Nobody
        // becomes notified, so nobody needs waking (a sleeper that sees the word change
        // re-checks its own ticket and sleeps again).
        let next = self.next_ticket.load(Ordering::Relaxed);
        let mut upto = t.wrapping_add(1);
        while upto != next && self.is_cancelled(upto) {
            self.set_cancelled(upto, false);
            upto = upto.wrapping_add(1);
        }
        self.notified_upto.store(upto, Ordering::SeqCst);
    }

    /// Sleeps until ticket `t` is notified or `deadline` passes. Returns whether notified.
    fn sleep(&self, t: u32, deadline: Option<Instant>) -> bool {
        let notified = || passed(self.notified_upto.load(Ordering::Acquire), t);
        if spin_until(notified) {
            return true;
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let upto = self.notified_upto.load(Ordering::SeqCst);
            let woken = if passed(upto, t) {
                true
            } else {
                futex::futex_wait(&self.notified_upto, upto, deadline)
            };
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            if notified() {
                return true;
            }
            if !woken || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        }
    }
}

/// The lock a [`Condition`] is built on: a [`Lock`] or an [`RLock`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub enum ConditionLock {
    /// A non-recursive lock; the condition counts it held when the calling process holds it.
    Lock(Lock),
    /// A recursive lock; the condition counts it held when the calling thread holds it.
    /// [`Condition::wait`] releases every level of the hold and restores it afterwards.
    RLock(RLock),
}

impl From<Lock> for ConditionLock {
    fn from(l: Lock) -> Self {
        ConditionLock::Lock(l)
    }
}

impl From<RLock> for ConditionLock {
    fn from(l: RLock) -> Self {
        ConditionLock::RLock(l)
    }
}

/// What a waiter saved when it let go of the lock.
#[derive(Clone, Copy)]
struct Saved(u32);

impl ConditionLock {
    fn held_by_caller(&self) -> bool {
        match self {
            ConditionLock::Lock(l) => l.owner_pid() == Some(proc::pid()),
            ConditionLock::RLock(l) => l.is_owned(),
        }
    }

    /// Lets go of the caller's whole hold. `None` if the caller does not hold it.
    fn release_all(&self) -> Option<Saved> {
        match self {
            ConditionLock::Lock(l) => {
                if l.owner_pid() != Some(proc::pid()) {
                    return None;
                }
                l.raw().unlock().ok().map(|()| Saved(1))
            }
            ConditionLock::RLock(l) => l.release_save().map(Saved),
        }
    }

    /// Takes the hold back, blocking as long as it takes (bounded by dead-owner recovery).
    fn restore(&self, saved: Saved) {
        let how = match self {
            ConditionLock::Lock(l) => l.raw().lock(proc::pid(), None).unwrap_or(Acquired::Clean),
            ConditionLock::RLock(l) => l.acquire_restore(saved.0),
        };
        if how == Acquired::OwnerDied {
            log::warn!("condition's lock taken over from a dead owner while returning from wait");
        }
    }
}

/// A condition variable shared between processes: Python's `multiprocessing.Condition`.
///
/// It pairs a lock ([`Lock`] or [`RLock`], see [`ConditionLock`]) with a queue of waiters.
/// While holding the lock, a caller may [`wait`](Condition::wait): the lock is released
/// while it sleeps and reacquired before `wait` returns. A holder of the lock wakes waiters
/// with [`notify`](Condition::notify)`(n)` — exactly `n` of those waiting (fewer if fewer
/// wait), in the order they started waiting — or [`notify_all`](Condition::notify_all).
/// Waiting or notifying without holding the lock is an error, as in Python.
///
/// A waiter that times out withdraws from the queue, so a later `notify(1)` still wakes one
/// of the remaining waiters. At most [`Condition::MAX_WAITERS`] may wait at once. A waiter
/// that dies while waiting (for instance killed by a signal) is not withdrawn: one later
/// notification is spent on it.
///
/// ```
/// use ipc_core::{Condition, Lock};
/// let cond = Condition::new(Lock::new()?)?;
/// let guard = cond.acquire();
/// assert_eq!(cond.notify_all(), Ok(0)); // nobody waits
/// // Nobody will notify: the wait times out, with the lock held again afterwards.
/// assert_eq!(cond.wait_timeout(std::time::Duration::from_millis(1)), Ok(false));
/// drop(guard);
/// assert!(cond.wait().is_err()); // not held
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Condition {
    shm: Shm<CondState>,
    lock: ConditionLock,
}

impl Condition {
    /// The most waiters (tickets outstanding) a condition supports at once.
    pub const MAX_WAITERS: u32 = 4096;

    /// Creates a condition over `lock` (a [`Lock`] or an [`RLock`]).
    pub fn new(lock: impl Into<ConditionLock>) -> io::Result<Condition> {
        Ok(Condition {
            shm: Shm::create("procpool-condition", 0)?,
            lock: lock.into(),
        })
    }

    /// Creates a condition over a fresh [`RLock`], as Python's `Condition()` does.
    pub fn new_rlock() -> io::Result<Condition> {
        Condition::new(RLock::new()?)
    }

    /// The underlying lock.
    pub fn lock(&self) -> &ConditionLock {
        &self.lock
    }

    /// Blocks until the underlying lock is held (see [`Lock::acquire`], [`RLock::acquire`]).
    pub fn acquire(&self) -> ConditionGuard<'_> {
        ConditionGuard {
            inner: match &self.lock {
                ConditionLock::Lock(l) => GuardInner::Lock(l.acquire()),
                ConditionLock::RLock(l) => GuardInner::RLock(l.acquire()),
            },
        }
    }

    /// Acquires the underlying lock if that is possible without blocking.
    pub fn try_acquire(&self) -> Result<ConditionGuard<'_>, WouldBlock> {
        Ok(ConditionGuard {
            inner: match &self.lock {
                ConditionLock::Lock(l) => GuardInner::Lock(l.try_acquire()?),
                ConditionLock::RLock(l) => GuardInner::RLock(l.try_acquire()?),
            },
        })
    }

    /// Waits at most `timeout` for the underlying lock.
    pub fn acquire_timeout(&self, timeout: Duration) -> Result<ConditionGuard<'_>, Timeout> {
        self.acquire_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for the underlying lock.
    pub fn acquire_deadline(&self, deadline: Instant) -> Result<ConditionGuard<'_>, Timeout> {
        self.acquire_until(Some(deadline))
    }

    fn acquire_until(&self, deadline: Option<Instant>) -> Result<ConditionGuard<'_>, Timeout> {
        let inner = match (&self.lock, deadline) {
            (ConditionLock::Lock(l), Some(d)) => GuardInner::Lock(l.acquire_deadline(d)?),
            (ConditionLock::Lock(l), None) => GuardInner::Lock(l.acquire()),
            (ConditionLock::RLock(l), Some(d)) => GuardInner::RLock(l.acquire_deadline(d)?),
            (ConditionLock::RLock(l), None) => GuardInner::RLock(l.acquire()),
        };
        Ok(ConditionGuard { inner })
    }

    /// Releases the underlying lock without a guard (Python's `Condition.release()`).
    pub fn release(&self) -> Result<(), ReleaseError> {
        match &self.lock {
            ConditionLock::Lock(l) => l.release(),
            ConditionLock::RLock(l) => l.release(),
        }
    }

    /// Releases the lock, sleeps until notified, and reacquires the lock. The caller must
    /// hold the lock.
    pub fn wait(&self) -> Result<(), ConditionWaitError> {
        self.wait_until(None).map(|_| ())
    }

    /// Like [`wait`](Condition::wait), for at most `timeout`. Returns `true` if notified,
    /// `false` on timeout; the lock is held again either way.
    pub fn wait_timeout(&self, timeout: Duration) -> Result<bool, ConditionWaitError> {
        self.wait_until(deadline_after(timeout))
    }

    /// Like [`wait`](Condition::wait), until `deadline`. Returns `true` if notified.
    pub fn wait_deadline(&self, deadline: Instant) -> Result<bool, ConditionWaitError> {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<bool, ConditionWaitError> {
        if !self.lock.held_by_caller() {
            return Err(ConditionWaitError::NotHeld);
        }
        let st = &*self.shm;
        let upto = st.notified_upto.load(Ordering::Relaxed);
        let t = st.next_ticket.load(Ordering::Relaxed);
        if t.wrapping_sub(upto) >= Condition::MAX_WAITERS {
            return Err(ConditionWaitError::TooManyWaiters);
        }
        st.set_cancelled(t, false); // clear already; cheap insurance
        st.next_ticket.store(t.wrapping_add(1), Ordering::Relaxed);

        let Some(saved) = self.lock.release_all() else {
            // Someone released the lock between the check and now (another thread of this
            // process, for a `Lock`). Withdraw the ticket under the lock and report.
            let fallback = Saved(1);
            self.lock.restore(fallback);
            if !passed(st.notified_upto.load(Ordering::Relaxed), t) {
                st.cancel(t);
            }
            let _ = self.lock.release_all();
            return Err(ConditionWaitError::NotHeld);
        };
        let notified = st.sleep(t, deadline);
        self.lock.restore(saved);
        if notified || passed(st.notified_upto.load(Ordering::Relaxed), t) {
            // Notified, possibly just after the deadline: the notification counts.
            return Ok(true);
        }
        st.cancel(t);
        Ok(false)
    }

    /// Waits until `predicate()` holds (Python's `wait_for`), checking it first and after
    /// each wake-up, with the lock held. The caller must hold the lock.
    pub fn wait_for(&self, predicate: impl FnMut() -> bool) -> Result<(), ConditionWaitError> {
        self.wait_for_until(predicate, None).map(|_| ())
    }

    /// Like [`wait_for`](Condition::wait_for), for at most `timeout`. Returns the predicate's
    /// last value (`false`: timed out).
    pub fn wait_for_timeout(
        &self,
        predicate: impl FnMut() -> bool,
        timeout: Duration,
    ) -> Result<bool, ConditionWaitError> {
        self.wait_for_until(predicate, deadline_after(timeout))
    }

    /// Like [`wait_for`](Condition::wait_for), until `deadline`.
    pub fn wait_for_deadline(
        &self,
        predicate: impl FnMut() -> bool,
        deadline: Instant,
    ) -> Result<bool, ConditionWaitError> {
        self.wait_for_until(predicate, Some(deadline))
    }

    fn wait_for_until(
        &self,
        mut predicate: impl FnMut() -> bool,
        deadline: Option<Instant>,
    ) -> Result<bool, ConditionWaitError> {
        if !self.lock.held_by_caller() {
            return Err(ConditionWaitError::NotHeld);
        }
        loop {
            if predicate() {
                return Ok(true);
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return Ok(false);
            }
            self.wait_until(deadline)?;
        }
    }

    /// Wakes `n` of the waiters (all, if fewer wait), in the order they started waiting.
    /// Returns how many were woken. The caller must hold the lock.
    pub fn notify(&self, n: usize) -> Result<usize, ConditionNotifyError> {
        if !self.lock.held_by_caller() {
            return Err(ConditionNotifyError::NotHeld);
        }
        Ok(self.shm.notify(n))
    }

    /// Wakes one waiter, if any: `notify(1)`.
    pub fn notify_one(&self) -> Result<usize, ConditionNotifyError> {
        self.notify(1)
    }

    /// Wakes every waiter. Returns how many were woken. The caller must hold the lock.
    pub fn notify_all(&self) -> Result<usize, ConditionNotifyError> {
        self.notify(usize::MAX)
    }

    /// Whether both handles refer to the same condition.
    pub fn same_as(&self, other: &Condition) -> bool {
        self.shm.same(&other.shm)
    }
}

impl fmt::Debug for Condition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = &*self.shm;
        let waiting = st
            .next_ticket
            .load(Ordering::Relaxed)
            .wrapping_sub(st.notified_upto.load(Ordering::Relaxed));
        f.debug_struct("Condition")
            .field("lock", &self.lock)
            .field("tickets_outstanding", &waiting)
            .finish()
    }
}

enum GuardInner<'a> {
    Lock(LockGuard<'a>),
    RLock(RLockGuard<'a>),
}

/// Holds a [`Condition`]'s lock; releases it when dropped.
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct ConditionGuard<'a> {
    inner: GuardInner<'a>,
}

impl ConditionGuard<'_> {
    /// Whether the previous holder of the lock died while holding it and this guard took it
    /// over. Data the lock protects may be half updated.
    pub fn previous_owner_died(&self) -> bool {
        match &self.inner {
            GuardInner::Lock(g) => g.previous_owner_died(),
            GuardInner::RLock(g) => g.previous_owner_died(),
        }
    }
}

impl fmt::Debug for ConditionGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConditionGuard")
            .field("previous_owner_died", &self.previous_owner_died())
            .finish()
    }
}

/// Waiting on a [`Condition`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionWaitError {
    /// The caller does not hold the condition's lock.
    NotHeld,
    /// [`Condition::MAX_WAITERS`] waits are outstanding already.
    TooManyWaiters,
}

impl fmt::Display for ConditionWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionWaitError::NotHeld => "cannot wait on an un-acquired condition",
            ConditionWaitError::TooManyWaiters => "too many waiters on one condition",
        })
    }
}
impl std::error::Error for ConditionWaitError {}

/// Notifying a [`Condition`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ConditionNotifyError {
    /// The caller does not hold the condition's lock.
    NotHeld,
}

impl fmt::Display for ConditionNotifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConditionNotifyError::NotHeld => "cannot notify on an un-acquired condition",
        })
    }
}
impl std::error::Error for ConditionNotifyError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testfork::{TestChild, fork_child, with_watchdog};

    /// Test-only shared counters.
    #[repr(C)]
    #[derive(Debug, Default)]
    struct Counters {
        waiting: AtomicU32,
        woken: AtomicU32,
        timed_out: AtomicU32,
        value: AtomicU32,
    }
    // SAFETY: `#[repr(C)]`, atomics only, all-zero is valid.
    unsafe impl ShmSafe for Counters {}

    fn counters() -> Shm<Counters> {
        Shm::create("test-counters", 0).unwrap()
    }

    fn until(what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// A child that waits (with `timeout`, or 20 s) and records the outcome.
    fn waiter(cond: &Condition, c: &Shm<Counters>, timeout: Option<Duration>) -> TestChild {
        fork_child(|| {
            let _g = cond.acquire();
            c.waiting.fetch_add(1, Ordering::SeqCst);
            let t = timeout.unwrap_or(Duration::from_secs(20));
            match cond.wait_timeout(t) {
                Ok(true) => {
                    c.woken.fetch_add(1, Ordering::SeqCst);
                }
                Ok(false) => {
                    c.timed_out.fetch_add(1, Ordering::SeqCst);
                }
                Err(_) => return 2,
            }
            if cond.lock.held_by_caller() { 0 } else { 3 }
        })
    }

    #[test]
    fn wait_and_notify_without_the_lock_are_errors() {
        for cond in [
            Condition::new(Lock::new().unwrap()).unwrap(),
            Condition::new_rlock().unwrap(),
        ] {
            assert_eq!(cond.wait(), Err(ConditionWaitError::NotHeld));
            assert_eq!(
                cond.wait_timeout(Duration::from_millis(1)),
                Err(ConditionWaitError::NotHeld)
            );
            assert_eq!(cond.wait_for(|| true), Err(ConditionWaitError::NotHeld));
            assert_eq!(cond.notify(1), Err(ConditionNotifyError::NotHeld));
            assert_eq!(cond.notify_all(), Err(ConditionNotifyError::NotHeld));
            assert_eq!(cond.release(), Err(ReleaseError::NotHeld));
            let g = cond.acquire();
            assert!(!g.previous_owner_died());
            assert_eq!(cond.notify(3), Ok(0));
            let t = Duration::from_millis(20);
            let start = Instant::now();
            assert_eq!(cond.wait_timeout(t), Ok(false));
            assert!(start.elapsed() >= t);
            assert!(cond.lock.held_by_caller());
            drop(g);
            assert!(!cond.lock.held_by_caller());
        }
    }

    #[test]
    fn rlock_hold_is_restored_after_wait() {
        let rl = RLock::new().unwrap();
        let cond = Condition::new(rl.clone()).unwrap();
        let _a = cond.acquire();
        let _b = cond.acquire();
        assert_eq!(rl.depth(), 2);
        // While waiting, the lock is free for others.
        let cond2 = cond.clone();
        let h = std::thread::spawn(move || {
            let _g = cond2.acquire_timeout(Duration::from_secs(10)).unwrap();
            cond2.notify_one().unwrap()
        });
        assert_eq!(cond.wait_timeout(Duration::from_secs(10)), Ok(true));
        assert_eq!(h.join().unwrap(), 1);
        assert_eq!(rl.depth(), 2);
        assert!(rl.is_owned());
    }

    #[test]
    fn too_many_waiters_is_an_error() {
        let cond = Condition::new(Lock::new().unwrap()).unwrap();
        let _g = cond.acquire();
        cond.shm
            .next_ticket
            .store(Condition::MAX_WAITERS, Ordering::Relaxed);
        assert_eq!(
            cond.wait_timeout(Duration::from_millis(1)),
            Err(ConditionWaitError::TooManyWaiters)
        );
        assert_eq!(cond.notify_all(), Ok(Condition::MAX_WAITERS as usize));
        assert_eq!(cond.wait_timeout(Duration::from_millis(1)), Ok(false));
    }

    #[test]
    fn notify_n_wakes_exactly_n_processes() {
        with_watchdog(Duration::from_secs(60), || {
            let cond = Condition::new(Lock::new().unwrap()).unwrap();
            let c = counters();
            let k = 5;
            let mut kids: Vec<_> = (0..k).map(|_| waiter(&cond, &c, None)).collect();
            until("waiters never arrived", || {
                c.waiting.load(Ordering::SeqCst) == k
            });
            {
                // Every waiter took its ticket before releasing the lock inside `wait`.
                let _g = cond.acquire();
                assert_eq!(cond.notify(2), Ok(2));
            }
            until("two waiters never woke", || {
                c.woken.load(Ordering::SeqCst) == 2
            });
            std::thread::sleep(Duration::from_millis(100)); // settle: nobody else wakes
            assert_eq!(c.woken.load(Ordering::SeqCst), 2);
            {
                let _g = cond.acquire();
                assert_eq!(cond.notify_all(), Ok(k as usize - 2));
            }
            for kid in &mut kids {
                assert_eq!(kid.wait(Duration::from_secs(25)), 0);
            }
            assert_eq!(c.woken.load(Ordering::SeqCst), k);
            assert_eq!(c.timed_out.load(Ordering::SeqCst), 0);
        });
    }

    #[test]
    fn a_timed_out_waiter_does_not_absorb_a_notify() {
        with_watchdog(Duration::from_secs(60), || {
            let cond = Condition::new_rlock().unwrap();
            let c = counters();
            // Tickets in order: w1 (long), quick (times out), w2 (long), quick2 (times out,
            // last in line).
            let mut kids = Vec::new();
            for (i, timeout) in [None, Some(30), None, Some(30)].into_iter().enumerate() {
                kids.push(waiter(&cond, &c, timeout.map(Duration::from_millis)));
                until("waiter never arrived", || {
                    c.waiting.load(Ordering::SeqCst) == i as u32 + 1
                });
            }
            until("quick waiters never timed out", || {
                c.timed_out.load(Ordering::SeqCst) == 2
            });
            assert_eq!(kids[1].wait(Duration::from_secs(20)), 0);
            assert_eq!(kids[3].wait(Duration::from_secs(20)), 0);
            let g = cond.acquire();
            assert_eq!(cond.notify(1), Ok(1)); // w1
            assert_eq!(cond.notify(1), Ok(1)); // skips the cancelled ticket, w2
            assert_eq!(cond.notify(1), Ok(0)); // skips the last cancelled ticket
            assert_eq!(
                cond.shm.next_ticket.load(Ordering::Relaxed),
                cond.shm.notified_upto.load(Ordering::Relaxed)
            );
            drop(g);
            assert_eq!(kids[0].wait(Duration::from_secs(20)), 0);
            assert_eq!(kids[2].wait(Duration::from_secs(20)), 0);
            assert_eq!(c.woken.load(Ordering::SeqCst), 2);
            assert!(
                cond.shm
                    .cancelled
                    .iter()
                    .all(|w| w.load(Ordering::Relaxed) == 0)
            );
        });
    }

    #[test]
    fn wait_for_a_predicate_on_shared_state() {
        with_watchdog(Duration::from_secs(60), || {
            let cond = Condition::new(Lock::new().unwrap()).unwrap();
            let c = counters();
            let mut kid = fork_child(|| {
                let _g = cond.acquire();
                let ok = cond.wait_for_timeout(
                    || c.value.load(Ordering::SeqCst) >= 3,
                    Duration::from_secs(20),
                );
                if ok == Ok(true) { 0 } else { 1 }
            });
            for _ in 0..3 {
                std::thread::sleep(Duration::from_millis(10));
                let _g = cond.acquire();
                c.value.fetch_add(1, Ordering::SeqCst);
                cond.notify_all().unwrap();
            }
            assert_eq!(kid.wait(Duration::from_secs(25)), 0);

            let _g = cond.acquire();
            let t = Duration::from_millis(30);
            let start = Instant::now();
            assert_eq!(cond.wait_for_timeout(|| false, t), Ok(false));
            assert!(start.elapsed() >= t);
            assert_eq!(cond.wait_for(|| true), Ok(()));
        });
    }

    #[test]
    fn notify_from_a_child_wakes_the_parent() {
        with_watchdog(Duration::from_secs(30), || {
            let cond = Condition::new_rlock().unwrap();
            let _outer = cond.acquire();
            let _inner = cond.acquire();
            let mut kid = fork_child(|| {
                let _g = cond.acquire();
                match cond.notify(1) {
                    Ok(1) => 0,
                    _ => 1,
                }
            });
            assert_eq!(cond.wait_timeout(Duration::from_secs(20)), Ok(true));
            let ConditionLock::RLock(rl) = cond.lock() else {
                unreachable!()
            };
            assert_eq!(rl.depth(), 2);
            assert_eq!(kid.wait(Duration::from_secs(20)), 0);
        });
    }
}
