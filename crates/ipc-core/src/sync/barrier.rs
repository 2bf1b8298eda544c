//! [`Barrier`]: a reusable rendezvous point for a fixed number of parties across processes.
//!
//! The algorithm is CPython's `threading.Barrier` (also used by `multiprocessing`): a state
//! (filling, draining, resetting, broken) and a count of parties inside `wait`, guarded by an
//! internal lock, with waiters sleeping on a sequence word that every state change bumps
//! ("notify all"). The last party to arrive runs the action and switches to draining; the
//! others leave; the last to leave switches back to filling for the next generation.
//!
//! Beyond Python, a party that dies inside `wait` (killed by a signal) does not hang the
//! others: each party records its thread id in a slot of the data area while it is inside
//! `wait`, and sleepers wake every quarter of a second to check that every recorded party is
//! still alive. A dead party is removed; if the barrier was filling, it breaks, and the others
//! get [`BarrierWaitError::Broken`]. The internal lock recovers from a dead holder the same
//! way (and breaks the barrier, since the holder may have left the state half updated).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::deadline_after;
use super::raw::{Acquired, RawLock};
use crate::code::CodeRef;
use crate::region::{Shm, ShmSafe};
use crate::sys::{futex, proc};

const FILLING: u32 = 0;
const DRAINING: u32 = 1;
const RESETTING: u32 = 2;
const BROKEN: u32 = 3;

/// How often a sleeping party checks that the others are alive.
const LIVENESS_INTERVAL: Duration = Duration::from_millis(250);
const SLOT: usize = std::mem::size_of::<u32>();

#[repr(C)]
#[derive(Debug)]
struct BarrierState {
    /// Guards everything below and the slots; the owner is a thread id.
    lock: RawLock,
    /// Bumped on every notify-all; the futex word parties sleep on.
    seq: AtomicU32,
    /// FILLING, DRAINING, RESETTING or BROKEN.
    state: AtomicU32,
    /// Parties inside `wait` (CPython's `_count`).
    count: AtomicU32,
    /// The number of parties; written once at creation.
    parties: AtomicU32,
}

// SAFETY: `BarrierState` is `#[repr(C)]`, holds only atomics (no pointers or descriptors), and
// the all-zero value is an unlocked, filling barrier with no parties inside (`create` sets
// `parties` before any handle is shared).
unsafe impl ShmSafe for BarrierState {}

/// A barrier shared between processes: Python's `multiprocessing.Barrier`.
///
/// Created for `parties` parties. Each party calls [`wait`](Barrier::wait); the call returns
/// once all `parties` have called it, each with a distinct index in `0..parties` (the last to
/// arrive gets `parties - 1`). The barrier then resets itself for the next round. If an
/// action was given, the last party to arrive runs it once per round, before the others are
/// released. The action is a plain function (`fn()`), so that it can travel to child
/// processes with the barrier.
///
/// The barrier *breaks* when a wait times out, when [`abort`](Barrier::abort) is called, when
/// the action panics, or when a party dies while waiting: every party waiting then, and every
/// later `wait`, gets [`BarrierWaitError::Broken`] (the party whose wait timed out gets
/// [`BarrierWaitError::Timeout`]) until [`reset`](Barrier::reset).
///
/// ```
/// use ipc_core::{Barrier, BarrierWaitError};
/// let barrier = Barrier::new(2, None)?;
/// let other = barrier.clone();
/// let t = std::thread::spawn(move || other.wait());
/// let mine = barrier.wait()?;
/// let theirs = t.join().unwrap()?;
/// assert_eq!(mine + theirs, 1); // indices 0 and 1
///
/// // Alone, a timed wait breaks the barrier.
/// assert_eq!(
///     barrier.wait_timeout(std::time::Duration::from_millis(1)),
///     Err(BarrierWaitError::Timeout)
/// );
/// assert!(barrier.broken());
/// barrier.reset();
/// assert!(!barrier.broken());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Barrier {
    shm: Shm<BarrierState>,
    action: Option<CodeRef<fn()>>,
}

/// How a sleep inside the barrier ended.
#[derive(PartialEq, Eq)]
enum Slept {
    Continue,
    TimedOut,
}

impl Barrier {
    /// Creates a barrier for `parties` parties, running `action` (if any) once per round in
    /// the last party to arrive. Fails with [`io::ErrorKind::InvalidInput`] if `parties` is 0
    /// or does not fit in a `u32`.
    pub fn new(parties: usize, action: Option<fn()>) -> io::Result<Barrier> {
        let n = u32::try_from(parties)
            .ok()
            .filter(|&n| n > 0)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a barrier needs 1..=u32::MAX parties",
                )
            })?;
        let extra = parties
            .checked_mul(SLOT)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let shm = Shm::<BarrierState>::create("procpool-barrier", extra)?;
        shm.parties.store(n, Ordering::Relaxed);
        Ok(Barrier {
            shm,
            action: action.map(CodeRef::new),
        })
    }

    /// Waits until all parties have called `wait`; returns this party's index in
    /// `0..parties` (distinct within a round).
    ///
    /// # Panics
    /// If this party runs the action and the action panics, the barrier is broken and the
    /// panic continues in this party (as Python re-raises the action's exception).
    pub fn wait(&self) -> Result<usize, BarrierWaitError> {
        self.wait_until(None)
    }

    /// Like [`wait`](Barrier::wait), for at most `timeout`. On timeout the barrier breaks:
    /// this party gets [`BarrierWaitError::Timeout`], the others
    /// [`BarrierWaitError::Broken`].
    ///
    /// # Panics
    /// As [`wait`](Barrier::wait).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<usize, BarrierWaitError> {
        self.wait_until(deadline_after(timeout))
    }

    /// Like [`wait_timeout`](Barrier::wait_timeout), until `deadline`.
    ///
    /// # Panics
    /// As [`wait`](Barrier::wait).
    pub fn wait_deadline(&self, deadline: Instant) -> Result<usize, BarrierWaitError> {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> Result<usize, BarrierWaitError> {
        let st = &*self.shm;
        let me = proc::tid();
        self.lock(me);
        // Wait for the previous round to drain (or a reset to finish).
        while matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING) {
            if self.sleep(me, deadline) == Slept::TimedOut
                && matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING)
            {
                // Not yet a party of this round: leave without breaking anything.
                self.unlock();
                return Err(BarrierWaitError::Timeout);
            }
        }
        if st.state.load(Ordering::Relaxed) == BROKEN {
            self.unlock();
            return Err(BarrierWaitError::Broken);
        }
        let index = st.count.load(Ordering::Relaxed);
        st.count.store(index + 1, Ordering::Relaxed);
        self.set_slot(index, me);
        let parties = st.parties.load(Ordering::Relaxed);

        let result = if index + 1 >= parties {
            // Last to arrive: run the action, then release everyone.
            let ran = match self.action {
                Some(action) => std::panic::catch_unwind(action.get()),
                None => Ok(()),
            };
            if let Err(panic) = ran {
                self.break_barrier();
                self.leave(index);
                self.unlock();
                std::panic::resume_unwind(panic);
            }
            st.state.store(DRAINING, Ordering::Relaxed);
            self.notify_all();
            Ok(index as usize)
        } else {
            let mut result = Ok(index as usize);
            while st.state.load(Ordering::Relaxed) == FILLING {
                if self.sleep(me, deadline) == Slept::TimedOut
                    && st.state.load(Ordering::Relaxed) == FILLING
                {
                    self.break_barrier();
                    result = Err(BarrierWaitError::Timeout);
                }
            }
            if result.is_ok() && matches!(st.state.load(Ordering::Relaxed), BROKEN | RESETTING) {
                result = Err(BarrierWaitError::Broken);
            }
            result
        };
        self.leave(index);
        self.unlock();
        result
    }

    /// Under the lock: this party leaves `wait` (CPython's `_exit`).
    fn leave(&self, index: u32) {
        let st = &*self.shm;
        self.set_slot(index, 0);
        let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
        st.count.store(count, Ordering::Relaxed);
        self.maybe_refill();
    }

    /// Under the lock: once everyone has left a drained or reset round, start filling again.
    fn maybe_refill(&self) {
        let st = &*self.shm;
        if st.count.load(Ordering::Relaxed) == 0
            && matches!(st.state.load(Ordering::Relaxed), DRAINING | RESETTING)
        {
            st.state.store(FILLING, Ordering::Relaxed);
            self.notify_all();
        }
    }

    /// Under the lock: breaks the barrier and wakes everyone.
    fn break_barrier(&self) {
        self.shm.state.store(BROKEN, Ordering::Relaxed);
        self.notify_all();
    }

    fn notify_all(&self) {
        self.shm.seq.fetch_add(1, Ordering::Release);
        futex::futex_wake_all(&self.shm.seq);
    }

    fn lock(&self, me: u32) {
        if self.shm.lock.lock(me, None) == Some(Acquired::OwnerDied) {
            self.owner_died();
        }
    }

    fn unlock(&self) {
        // Fails only if the lock was not held, which the callers rule out.
        let _ = self.shm.lock.unlock();
    }

    /// Under the lock, taken over from a holder that died: its update may be half done, so
    /// break the round (unless it had finished), and sweep dead parties.
    fn owner_died(&self) {
        log::warn!("a barrier party died inside the barrier's critical section");
        if self.shm.state.load(Ordering::Relaxed) == FILLING {
            self.break_barrier();
        }
        self.sweep_dead();
    }

    /// Under the lock: releases the lock, sleeps until notified, a liveness check is due, or
    /// `deadline`; then retakes the lock.
    fn sleep(&self, me: u32, deadline: Option<Instant>) -> Slept {
        let seq = self.shm.seq.load(Ordering::Relaxed);
        self.unlock();
        let now = Instant::now();
        let check_at = now + LIVENESS_INTERVAL;
        let wake_by = match deadline {
            Some(d) if d < check_at => d,
            _ => check_at,
        };
        let woken = futex::futex_wait(&self.shm.seq, seq, Some(wake_by));
        self.lock(me);
        if !woken {
            self.sweep_dead();
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            Slept::TimedOut
        } else {
            Slept::Continue
        }
    }

    /// Under the lock: removes parties that died inside `wait`; breaks a filling round, or the
    /// next round if a dead party had completed the last one.
    fn sweep_dead(&self) {
        let st = &*self.shm;
        let mut found = false;
        for i in 0..self.slots() {
            let id = self.slot(i);
            if id != 0 && !proc::is_alive(id) {
                log::warn!("barrier party {id} died while waiting; the barrier breaks");
                self.set_slot(i, 0);
                let count = st.count.load(Ordering::Relaxed).saturating_sub(1);
                st.count.store(count, Ordering::Relaxed);
                found = true;
            }
        }
        if found {
            let state = st.state.load(Ordering::Relaxed);
            // Draining with no live party left: a dead party completed the last round (it
            // arrived, then died before leaving). It will never come to the next round, which
            // would wait for it for ever: break.
            if state == FILLING || (state == DRAINING && st.count.load(Ordering::Relaxed) == 0) {
                self.break_barrier();
            }
            self.maybe_refill();
        }
    }

    /// How many slots the data area holds (the party count, unless the region is short).
    fn slots(&self) -> u32 {
        let parties = self.shm.parties.load(Ordering::Relaxed);
        let room = (self.shm.region().len() - self.shm.data_offset()) / SLOT;
        parties.min(u32::try_from(room).unwrap_or(u32::MAX))
    }

    /// Under the lock: the thread id recorded in slot `i` (0: empty).
    fn slot(&self, i: u32) -> u32 {
        if i >= self.slots() {
            return 0;
        }
        let mut b = [0u8; SLOT];
        self.shm
            .region()
            .read_at(self.shm.data_offset() + i as usize * SLOT, &mut b);
        u32::from_ne_bytes(b)
    }

    /// Under the lock: records thread `id` in slot `i` (0: clears it).
    fn set_slot(&self, i: u32, id: u32) {
        if i >= self.slots() {
            return;
        }
        self.shm.region().write_at(
            self.shm.data_offset() + i as usize * SLOT,
            &id.to_ne_bytes(),
        );
    }

    /// Breaks the barrier: every party waiting now, and every later `wait`, gets
    /// [`BarrierWaitError::Broken`] until [`reset`](Barrier::reset).
    pub fn abort(&self) {
        self.lock(proc::tid());
        self.break_barrier();
        self.unlock();
    }

    /// Returns the barrier to its initial state. Parties waiting now get
    /// [`BarrierWaitError::Broken`]; the barrier is usable again once they have left.
    pub fn reset(&self) {
        let st = &*self.shm;
        self.lock(proc::tid());
        if st.count.load(Ordering::Relaxed) > 0 {
            if matches!(st.state.load(Ordering::Relaxed), FILLING | BROKEN) {
                st.state.store(RESETTING, Ordering::Relaxed);
            }
        } else {
            st.state.store(FILLING, Ordering::Relaxed);
        }
        self.notify_all();
        self.unlock();
    }

    /// Whether the barrier is broken (a snapshot).
    pub fn broken(&self) -> bool {
        self.shm.state.load(Ordering::Relaxed) == BROKEN
    }

    /// How many parties are waiting in the current round (a snapshot).
    pub fn n_waiting(&self) -> usize {
        if self.shm.state.load(Ordering::Relaxed) == FILLING {
            self.shm.count.load(Ordering::Relaxed) as usize
        } else {
            0
        }
    }

    /// The number of parties needed to pass the barrier.
    pub fn parties(&self) -> usize {
        self.shm.parties.load(Ordering::Relaxed) as usize
    }

    /// Whether both handles refer to the same barrier.
    pub fn same_as(&self, other: &Barrier) -> bool {
        self.shm.same(&other.shm)
    }
}

impl fmt::Debug for Barrier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Barrier")
            .field("parties", &self.parties())
            .field("n_waiting", &self.n_waiting())
            .field("broken", &self.broken())
            .finish()
    }
}

/// Waiting at a [`Barrier`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BarrierWaitError {
    /// The barrier is broken, or was broken or reset while waiting (Python's
    /// `BrokenBarrierError`).
    Broken,
    /// This party's wait timed out; the barrier broke for the others.
    Timeout,
}

impl BarrierWaitError {
    /// Whether this is [`BarrierWaitError::Timeout`].
    pub fn is_timeout(&self) -> bool {
        *self == BarrierWaitError::Timeout
    }
}

impl fmt::Display for BarrierWaitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BarrierWaitError::Broken => "the barrier is broken",
            BarrierWaitError::Timeout => "timed out waiting at the barrier",
        })
    }
}
impl std::error::Error for BarrierWaitError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testfork::{fork_child, with_watchdog};
    use std::sync::OnceLock;

    const ROUNDS: usize = 6;
    const PARTIES: usize = 3;

    /// Test-only shared counters.
    #[repr(C)]
    #[derive(Debug)]
    struct Counters {
        actions: AtomicU32,
        seen: [[AtomicU32; PARTIES]; ROUNDS],
        bad: AtomicU32,
    }
    // SAFETY: `#[repr(C)]`, atomics only, all-zero is valid.
    unsafe impl ShmSafe for Counters {}

    /// Where the action counts; set before forking, so the children inherit it.
    static ACTIONS: OnceLock<Shm<Counters>> = OnceLock::new();

    fn count_action() {
        if let Some(c) = ACTIONS.get() {
            c.actions.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn panicking_action() {
        panic!("action failed (expected by the test)");
    }

    fn until(what: &str, mut f: impl FnMut() -> bool) {
        let start = Instant::now();
        while !f() {
            assert!(start.elapsed() < Duration::from_secs(20), "{what}");
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    #[test]
    fn rounds_across_processes_give_distinct_indices_and_run_the_action_once() {
        with_watchdog(Duration::from_secs(60), || {
            let c = ACTIONS.get_or_init(|| Shm::create("test-counters", 0).unwrap());
            let b = Barrier::new(PARTIES, Some(count_action)).unwrap();
            assert_eq!(b.parties(), PARTIES);
            let run = || {
                for round in 0..ROUNDS {
                    match b.wait_timeout(Duration::from_secs(20)) {
                        Ok(i) => {
                            c.seen[round][i].fetch_add(1, Ordering::SeqCst);
                            // The action ran before anyone was released.
                            if (c.actions.load(Ordering::SeqCst) as usize) < round + 1 {
                                c.bad.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        Err(_) => return 1,
                    }
                }
                0
            };
            let mut kids: Vec<_> = (0..PARTIES - 1).map(|_| fork_child(run)).collect();
            assert_eq!(run(), 0);
            for k in &mut kids {
                assert_eq!(k.wait(Duration::from_secs(25)), 0);
            }
            assert_eq!(c.actions.load(Ordering::SeqCst) as usize, ROUNDS);
            assert_eq!(c.bad.load(Ordering::SeqCst), 0);
            for round in &c.seen {
                for idx in round {
                    assert_eq!(idx.load(Ordering::SeqCst), 1);
                }
            }
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.broken());
        });
    }

    #[test]
    fn a_timeout_breaks_the_barrier_for_everyone() {
        with_watchdog(Duration::from_secs(30), || {
            let b = Barrier::new(3, None).unwrap();
            let mut kid = fork_child(|| match b.wait() {
                Err(BarrierWaitError::Broken) => 0,
                _ => 1,
            });
            until("child never arrived", || b.n_waiting() == 1);
            let t = Duration::from_millis(40);
            let start = Instant::now();
            assert_eq!(b.wait_timeout(t), Err(BarrierWaitError::Timeout));
            assert!(start.elapsed() >= t);
            assert!(b.broken());
            assert_eq!(kid.wait(Duration::from_secs(20)), 0);
            assert_eq!(b.wait(), Err(BarrierWaitError::Broken));
            assert_eq!(b.n_waiting(), 0);

            // Reset makes it usable again.
            b.reset();
            assert!(!b.broken());
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    std::thread::spawn(move || b.wait_timeout(Duration::from_secs(20)))
                })
                .collect();
            let mut idx = vec![b.wait_timeout(Duration::from_secs(20)).unwrap()];
            idx.extend(hs.into_iter().map(|h| h.join().unwrap().unwrap()));
            idx.sort_unstable();
            assert_eq!(idx, [0, 1, 2]);
        });
    }

    #[test]
    fn abort_and_reset_release_waiters() {
        with_watchdog(Duration::from_secs(30), || {
            let b = Barrier::new(2, None).unwrap();
            let mut kid = fork_child(|| match b.wait() {
                Err(BarrierWaitError::Broken) => 0,
                _ => 1,
            });
            until("child never arrived", || b.n_waiting() == 1);
            b.abort();
            assert!(b.broken());
            assert_eq!(kid.wait(Duration::from_secs(20)), 0);
            b.reset();
            assert!(!b.broken());

            // A reset while someone waits also releases it with Broken.
            let mut kid = fork_child(|| match b.wait() {
                Err(BarrierWaitError::Broken) => 0,
                _ => 1,
            });
            until("child never arrived", || b.n_waiting() == 1);
            b.reset();
            assert_eq!(kid.wait(Duration::from_secs(20)), 0);
            assert!(!b.broken());
            let b2 = b.clone();
            let h = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(20)));
            let mine = b.wait_timeout(Duration::from_secs(20)).unwrap();
            assert_eq!(mine + h.join().unwrap().unwrap(), 1);
        });
    }

    #[test]
    fn a_party_killed_mid_wait_breaks_the_barrier() {
        with_watchdog(Duration::from_secs(30), || {
            let b = Barrier::new(3, None).unwrap();
            let mut survivor = fork_child(|| match b.wait() {
                Err(BarrierWaitError::Broken) => 0,
                _ => 1,
            });
            let victim = fork_child(|| {
                let _ = b.wait();
                2
            });
            until("children never arrived", || b.n_waiting() == 2);
            victim.kill();
            assert_eq!(survivor.wait(Duration::from_secs(20)), 0);
            assert!(b.broken());
            assert_eq!(
                b.wait_timeout(Duration::from_secs(20)),
                Err(BarrierWaitError::Broken)
            );
            drop(victim);
            // The dead party's place was freed: after a reset, a full round works.
            b.reset();
            let hs: Vec<_> = (0..2)
                .map(|_| {
                    let b = b.clone();
                    std::thread::spawn(move || b.wait_timeout(Duration::from_secs(20)))
                })
                .collect();
            assert!(b.wait_timeout(Duration::from_secs(20)).is_ok());
            for h in hs {
                assert!(h.join().unwrap().is_ok());
            }
        });
    }

    #[test]
    fn a_dead_party_that_completed_a_round_breaks_the_next() {
        with_watchdog(Duration::from_secs(30), || {
            // The victim arrives, dies, and the other two arrive before any liveness sweep:
            // the round completes (the victim had arrived). The next round must break, not
            // wait for ever for a party that is dead.
            let b = Barrier::new(3, None).unwrap();
            let victim = fork_child(|| {
                let _ = b.wait();
                2
            });
            until("victim never arrived", || b.n_waiting() == 1);
            victim.kill();
            drop(victim); // reaped
            let b2 = b.clone();
            let h = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(20)));
            let mine = b.wait_timeout(Duration::from_secs(20));
            let theirs = h.join().unwrap();
            // Both see the same outcome: completed, or broken if a sweep came first.
            assert_eq!(mine.is_ok(), theirs.is_ok());
            let b2 = b.clone();
            let h = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(20)));
            assert_eq!(
                b.wait_timeout(Duration::from_secs(20)),
                Err(BarrierWaitError::Broken)
            );
            assert_eq!(h.join().unwrap(), Err(BarrierWaitError::Broken));
        });
    }

    #[test]
    fn a_panicking_action_breaks_the_barrier() {
        with_watchdog(Duration::from_secs(30), || {
            let b = Barrier::new(2, Some(panicking_action)).unwrap();
            let b2 = b.clone();
            let h = std::thread::spawn(move || b2.wait_timeout(Duration::from_secs(20)));
            until("thread never arrived", || b.n_waiting() == 1);
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.wait()));
            assert!(r.is_err(), "the action's panic reaches the last party");
            assert_eq!(h.join().unwrap(), Err(BarrierWaitError::Broken));
            assert!(b.broken());
        });
    }

    #[test]
    fn bad_party_counts_are_refused() {
        assert_eq!(
            Barrier::new(0, None).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        let one = Barrier::new(1, None).unwrap();
        assert_eq!(one.wait(), Ok(0));
        assert_eq!(one.wait(), Ok(0));
    }
}
