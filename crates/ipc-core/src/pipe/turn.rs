//! Turn-taking between the threads of one process that use one direction of an end.
//!
//! A message is written (or read) with one or more system calls that must not interleave with
//! another thread's, so each direction has a "turn" that one thread holds at a time. It is a
//! flag under a `std::sync::Mutex` plus a `Condvar` rather than a mutex held across the I/O,
//! so that a receive with a deadline can give up waiting for the turn (a std mutex cannot be
//! locked with a timeout). The mutex itself is held only for a few instructions.
//!
//! The flag records the *process* that holds the turn. A child forked while a thread of its
//! parent held the turn inherits the flag set, but that thread does not exist in the child;
//! the child sees another pid and takes the turn over instead of waiting forever.
//!
//! The turn also lends out a scratch buffer (the encoded message on the send side, a long body
//! on the receive side), so steady traffic allocates nothing. Buffers above [`KEEP_SCRATCH`]
//! are dropped after use rather than kept for the life of the connection.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::sys::proc;

/// Scratch buffers up to this capacity are kept between messages.
const KEEP_SCRATCH: usize = 1 << 20;

/// The direction can be used.
pub(super) const OPEN: u8 = 0;
/// Receiving: end of file was seen. Sending: the end was shut down.
pub(super) const ENDED: u8 = 1;
/// The stream lost its framing.
pub(super) const BROKEN: u8 = 2;
/// Sending: every receiver is gone.
pub(super) const DISCONNECTED: u8 = 3;

/// One direction (send or receive) of an end.
#[derive(Debug)]
pub(super) struct Half {
    slot: Mutex<Slot>,
    free: Condvar,
    status: AtomicU8,
}

#[derive(Debug)]
struct Slot {
    /// The process whose thread holds the turn.
    holder: Option<u32>,
    /// Threads waiting for the turn (so that a release skips the wake-up when there are none).
    waiters: u32,
    scratch: Vec<u8>,
}

/// The right to do I/O in one direction, with the direction's scratch buffer.
#[derive(Debug)]
pub(super) struct Turn<'a> {
    half: &'a Half,
    pub(super) scratch: Vec<u8>,
}

impl Half {
    pub(super) fn new() -> Half {
        Half {
            slot: Mutex::new(Slot {
                holder: None,
                waiters: 0,
                scratch: Vec::new(),
            }),
            free: Condvar::new(),
            status: AtomicU8::new(OPEN),
        }
    }

    pub(super) fn status(&self) -> u8 {
        self.status.load(Ordering::Acquire)
    }

    /// Records a new status. A broken or disconnected direction stays so.
    pub(super) fn set_status(&self, s: u8) {
        let _ = self
            .status
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |cur| {
                (cur == OPEN || (cur == ENDED && s != OPEN)).then_some(s)
            });
    }

    fn lock(&self) -> MutexGuard<'_, Slot> {
        // The slot holds no invariant a panic could break half-way.
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits for the turn.
    pub(super) fn take(&self) -> Turn<'_> {
        let me = proc::pid();
        let mut s = self.lock();
        while s.holder == Some(me) {
            s.waiters += 1;
            s = self.free.wait(s).unwrap_or_else(PoisonError::into_inner);
            s.waiters -= 1;
        }
        self.grant(s, me)
    }

    /// Waits for the turn until `deadline`; `None` if it passed first.
    pub(super) fn take_until(&self, deadline: Instant) -> Option<Turn<'_>> {
        let me = proc::pid();
        let mut s = self.lock();
        while s.holder == Some(me) {
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            s.waiters += 1;
            s = match self.free.wait_timeout(s, deadline - now) {
                Ok((g, _)) => g,
                Err(p) => p.into_inner().0,
            };
            s.waiters -= 1;
        }
        Some(self.grant(s, me))
    }

    fn grant(&self, mut s: MutexGuard<'_, Slot>, me: u32) -> Turn<'_> {
        s.holder = Some(me);
        let scratch = std::mem::take(&mut s.scratch);
        Turn {
            half: self,
            scratch,
        }
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut s = self.half.lock();
        if self.scratch.capacity() <= KEEP_SCRATCH {
            s.scratch = std::mem::take(&mut self.scratch);
        }
        s.holder = None;
        if s.waiters > 0 {
            self.half.free.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn turn_is_exclusive_and_times_out() {
        let h = Half::new();
        let t = h.take();
        let start = Instant::now();
        let d = Duration::from_millis(30);
        assert!(h.take_until(start + d).is_none());
        assert!(start.elapsed() >= d);
        drop(t);
        assert!(h.take_until(Instant::now()).is_some());
    }

    #[test]
    fn a_turn_held_by_another_process_is_taken_over() {
        // What a child forked while a parent thread held the turn sees.
        let h = Half::new();
        h.lock().holder = Some(proc::pid().wrapping_add(1));
        let t = h
            .take_until(Instant::now())
            .expect("not wedged by a thread of another process");
        assert_eq!(h.lock().holder, Some(proc::pid()));
        drop(t);
        assert_eq!(h.lock().holder, None);
    }

    #[test]
    fn status_is_sticky() {
        let h = Half::new();
        h.set_status(ENDED);
        assert_eq!(h.status(), ENDED);
        h.set_status(BROKEN);
        assert_eq!(h.status(), BROKEN);
        h.set_status(ENDED);
        h.set_status(OPEN);
        assert_eq!(h.status(), BROKEN);
    }
}
