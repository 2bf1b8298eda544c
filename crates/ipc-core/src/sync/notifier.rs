//! [`Notifier`]: the wait/notify word pair that shared-memory structures sleep on.
//!
//! A waiter spins briefly on its condition, then announces itself as a sleeper and sleeps on
//! a futex sequence word; a notifier that has just made a condition true wakes sleepers only
//! if there are any (no system call on the fast path) — and only once per batch: a `pending`
//! flag records that a wake-up is on its way, so a producer that puts item after item while
//! the consumer it woke has not run yet (two processes on one core) does not repeat the
//! `FUTEX_WAKE` for every item. The sleeper clears `pending` each time it registers, before
//! it (re-)checks its condition; only the sleeper clears its own sleeping mark (a notifier that
//! cleared it could erase a newer one and lose a wake-up).
//!
//! Intended for one sleeper at a time (the holder of a queue's reader or writer lock) or for
//! conditions that stay true once true (a join count reaching zero). Waits are also bounded by
//! the robust-lock liveness interval, so even a misuse costs latency, never a hang.

use std::sync::atomic::{AtomicU32, Ordering, fence};
use std::time::Instant;

use super::raw::LIVENESS_INTERVAL;
use super::spin_until;
use crate::sys::futex;

/// A futex sequence word with a sleeper count and a pending-wake flag. `#[repr(C)]`, all
/// atomics: place it inside shared state.
#[repr(C)]
#[derive(Debug, Default)]
pub(crate) struct Notifier {
    seq: AtomicU32,
    sleepers: AtomicU32,
    pending: AtomicU32,
    _pad: AtomicU32,
}

impl Notifier {
    /// Waits until `ready()` holds (`true`) or `deadline` passes (`false`). `liveness` runs
    /// whenever a [`LIVENESS_INTERVAL`] of sleep ends without a wake-up, so the caller can
    /// repair a dead peer's leftovers.
    pub(crate) fn wait(
        &self,
        deadline: Option<Instant>,
        mut ready: impl FnMut() -> bool,
        mut liveness: impl FnMut(),
    ) -> bool {
        if spin_until(&mut ready) {
            return true;
        }
        loop {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            // Whatever wake-up was pending is ours to see now (we re-check below): later
            // notifications must wake again. Clearing it here, on every registration, keeps a
            // flag left by a wake-up that found us awake from silencing the next one.
            self.pending.store(0, Ordering::SeqCst);
            let s = self.seq.load(Ordering::SeqCst);
            fence(Ordering::SeqCst);
            if ready() {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return true;
            }
            let now = Instant::now();
            if deadline.is_some_and(|d| now >= d) {
                self.sleepers.fetch_sub(1, Ordering::SeqCst);
                return false;
            }
            let check = now + LIVENESS_INTERVAL;
            let until = match deadline {
                Some(d) if d < check => d,
                _ => check,
            };
            let woken = futex::futex_wait(&self.seq, s, Some(until));
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            if !woken {
                liveness(); // repair first, then look again
            }
            if ready() {
                return true;
            }
        }
    }

    /// Wakes the sleepers, if any and if no wake-up is already on its way. Call after making
    /// the condition true.
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 && self.pending.swap(1, Ordering::SeqCst) == 0
        {
            self.seq.fetch_add(1, Ordering::SeqCst);
            futex::futex_wake_all(&self.seq);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    #[test]
    fn a_stream_of_notifications_reaches_one_consumer() {
        let n = Arc::new(Notifier::default());
        let count = Arc::new(AtomicU64::new(0));
        let (n2, c2) = (n.clone(), count.clone());
        let consumer = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(30);
            let mut seen = 0;
            while seen < 10_000 {
                assert!(n2.wait(Some(deadline), || c2.load(Ordering::Acquire) > seen, || {}));
                seen = c2.load(Ordering::Acquire);
            }
        });
        for _ in 0..10_000 {
            count.fetch_add(1, Ordering::Release);
            n.notify();
        }
        consumer.join().unwrap();
    }

    #[test]
    fn a_wake_that_finds_the_waiter_awake_does_not_silence_the_next() {
        // The waiter registers, finds its condition true and leaves without sleeping, after a
        // notification set `pending`; the next wait must still be woken promptly.
        let n = Arc::new(Notifier::default());
        let flag = Arc::new(AtomicU64::new(0));
        let mut notified = false;
        assert!(n.wait(
            None,
            || {
                if !notified && n.sleepers.load(Ordering::SeqCst) > 0 {
                    // Registered as a sleeper by now: notify as a producer would.
                    notified = true;
                    flag.store(1, Ordering::SeqCst);
                    n.notify();
                }
                flag.load(Ordering::SeqCst) == 1
            },
            || {}
        ));
        let (n2, f2) = (n.clone(), flag.clone());
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            f2.store(2, Ordering::SeqCst);
            n2.notify();
        });
        let start = Instant::now();
        // No liveness repair needed: the wake-up must arrive well before the 250 ms re-check.
        let mut woke_by_timeout = false;
        assert!(n.wait(
            Some(Instant::now() + Duration::from_secs(10)),
            || flag.load(Ordering::SeqCst) == 2,
            || woke_by_timeout = true,
        ));
        t.join().unwrap();
        assert!(
            !woke_by_timeout,
            "the wake-up was lost ({:?})",
            start.elapsed()
        );
    }

    #[test]
    fn wait_times_out_no_earlier_than_the_deadline() {
        let n = Notifier::default();
        let t = Duration::from_millis(30);
        let start = Instant::now();
        assert!(!n.wait(Some(start + t), || false, || {}));
        assert!(start.elapsed() >= t);
    }
}
