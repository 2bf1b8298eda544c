//! [`Event`]: a flag shared between processes that callers can wait on.
//!
//! The state word holds the flag in bit 0 and, above it, a count of the times the flag went
//! from clear to set. Waiters sleep on the word; [`set`](Event::set) wakes all of them, but
//! issues `FUTEX_WAKE` only when the sleepers counter says someone may be asleep (Dekker's
//! pattern: a waiter increments `sleepers` and then re-reads the word; `set` writes the word,
//! fences, and then reads `sleepers`; only a waiter decrements its own announcement).
//!
//! Because each set bumps the count, a waiter that slept through a `set` quickly followed by
//! a `clear` still sees that the event was set while it waited, and returns `true` (as
//! `threading.Event` does; `multiprocessing.Event` can miss such a pulse).

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::{deadline_after, spin_until};
use crate::region::{Shm, ShmSafe};
use crate::sys::futex;

const SET: u32 = 1;

#[repr(C)]
#[derive(Debug)]
struct EventState {
    /// Bit 0: the flag. Bits 1..: how many times it was set (wrapping). The futex word.
    word: AtomicU32,
    /// How many waiters announced that they may be asleep on `word`.
    sleepers: AtomicU32,
}

// SAFETY: `EventState` is `#[repr(C)]`, holds two atomics and no pointers or descriptors, and
// the all-zero value is a clear event with no sleepers.
unsafe impl ShmSafe for EventState {}

/// An event shared between processes: Python's `multiprocessing.Event`.
///
/// A flag that starts clear. [`set`](Event::set) sets it and wakes everyone waiting;
/// [`clear`](Event::clear) clears it; [`wait`](Event::wait) blocks until it is set. The
/// timed forms return whether the event was set (`false` on timeout), as Python's `wait`
/// does.
///
/// ```
/// let light = ipc_core::Event::new()?;
/// assert!(!light.is_set());
/// assert!(!light.wait_timeout(std::time::Duration::from_millis(1)));
/// light.set();
/// assert!(light.wait());
/// light.clear();
/// assert!(!light.is_set());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone, Serialize, Deserialize)]
pub struct Event {
    shm: Shm<EventState>,
}

impl Event {
    /// Creates a clear event.
    pub fn new() -> io::Result<Event> {
        Ok(Event {
            shm: Shm::create("procpool-event", 0)?,
        })
    }

    /// Whether the flag is set (a snapshot).
    pub fn is_set(&self) -> bool {
        self.shm.word.load(Ordering::Acquire) & SET != 0
    }

    /// Sets the flag and wakes every waiter. Setting a set event does nothing.
    pub fn set(&self) {
        let r = self
            .shm
            .word
            .fetch_update(Ordering::SeqCst, Ordering::Relaxed, |w| {
                (w & SET == 0).then(|| ((w >> 1).wrapping_add(1) << 1) | SET)
            });
        if r.is_err() {
            return; // already set: its waiters were woken by the set that set it
        }
        fence(Ordering::SeqCst);
        if self.shm.sleepers.load(Ordering::SeqCst) > 0 {
            futex::futex_wake_all(&self.shm.word);
        }
    }

    /// Clears the flag; later waits block until the next [`set`](Event::set).
    pub fn clear(&self) {
        self.shm.word.fetch_and(!SET, Ordering::Release);
    }

    /// Blocks until the event is set. Returns `true` (kept for symmetry with Python, whose
    /// `wait()` returns the flag).
    pub fn wait(&self) -> bool {
        self.wait_until(None)
    }

    /// Waits at most `timeout` for the event; returns whether it was set (`false` on timeout).
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        self.wait_until(deadline_after(timeout))
    }

    /// Waits until `deadline` for the event; returns whether it was set.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        let start = self.shm.word.load(Ordering::Acquire);
        if start & SET != 0 {
            return true;
        }
        // Any change of the word from a clear `start` means a `set` happened (a `clear` of a
        // clear word changes nothing).
        let changed = || self.shm.word.load(Ordering::Acquire) != start;
        if spin_until(changed) {
            return true;
        }
        loop {
            self.shm.sleepers.fetch_add(1, Ordering::SeqCst);
            let woken = if self.shm.word.load(Ordering::SeqCst) == start {
                futex::futex_wait(&self.shm.word, start, deadline)
            } else {
                true
            };
            self.shm.sleepers.fetch_sub(1, Ordering::Relaxed);
            if changed() {
                return true;
            }
            if !woken || deadline.is_some_and(|d| Instant::now() >= d) {
                return false;
            }
        }
    }

    /// Whether both handles refer to the same event.
    pub fn same_as(&self, other: &Event) -> bool {
        self.shm.same(&other.shm)
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("is_set", &self.is_set())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::testfork::{fork_child, with_watchdog};

    #[test]
    fn set_clear_and_timeouts() {
        let e = Event::new().unwrap();
        let t = Duration::from_millis(40);
        let start = Instant::now();
        assert!(!e.wait_timeout(t));
        assert!(start.elapsed() >= t);
        assert!(!e.wait_deadline(Instant::now()));
        e.set();
        e.set();
        assert!(e.is_set());
        assert!(e.wait());
        assert!(e.wait_timeout(t));
        e.clear();
        e.clear();
        assert!(!e.is_set());
        let start = Instant::now();
        assert!(!e.wait_timeout(t));
        assert!(start.elapsed() >= t);
    }

    #[test]
    fn set_in_parent_wakes_waiting_children() {
        with_watchdog(Duration::from_secs(30), || {
            let e = Event::new().unwrap();
            let mut kids: Vec<_> = (0..4)
                .map(|i| {
                    fork_child(|| {
                        let ok = if i % 2 == 0 {
                            e.wait_timeout(Duration::from_secs(20))
                        } else {
                            e.wait()
                        };
                        if ok && e.is_set() { 0 } else { 1 }
                    })
                })
                .collect();
            std::thread::sleep(Duration::from_millis(50));
            e.set();
            for k in &mut kids {
                assert_eq!(k.wait(Duration::from_secs(25)), 0);
            }
        });
    }

    #[test]
    fn a_set_then_clear_pulse_is_not_missed() {
        with_watchdog(Duration::from_secs(30), || {
            let e = Event::new().unwrap();
            let mut child = fork_child(|| {
                if e.wait_timeout(Duration::from_secs(20)) {
                    0
                } else {
                    1
                }
            });
            std::thread::sleep(Duration::from_millis(50));
            e.set();
            e.clear();
            assert_eq!(child.wait(Duration::from_secs(25)), 0);
            assert!(!e.is_set());
        });
    }

    #[test]
    fn waiter_times_out_while_clear_across_processes() {
        with_watchdog(Duration::from_secs(30), || {
            let e = Event::new().unwrap();
            let mut child = fork_child(|| {
                let t = Duration::from_millis(40);
                let start = Instant::now();
                let r = e.wait_timeout(t);
                if !r && start.elapsed() >= t { 0 } else { 1 }
            });
            assert_eq!(child.wait(Duration::from_secs(25)), 0);
        });
    }
}
