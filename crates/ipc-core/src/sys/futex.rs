//! Futex wait and wake on a 32-bit word that may live in memory shared between processes.
//!
//! `FUTEX_PRIVATE_FLAG` is deliberately *not* used: private futexes are keyed by the
//! (mm, address) pair, so a wake from another process would never reach the waiter.
//! Waits take an absolute `CLOCK_MONOTONIC` deadline (`FUTEX_WAIT_BITSET`), so a retry after
//! `EINTR` does not stretch the wait.
#![allow(clippy::disallowed_methods)] // this module is the home of `libc::syscall(SYS_futex)`

use std::sync::atomic::AtomicU32;
use std::time::Instant;

/// Converts a deadline given as an [`Instant`] into an absolute `CLOCK_MONOTONIC` timespec.
///
/// `Instant` is `CLOCK_MONOTONIC` on Linux but offers no conversion, so the remaining time is
/// added to a fresh reading of the clock. Returns `None` if the deadline has passed.
fn abs_timespec(deadline: Instant) -> Option<libc::timespec> {
    let remaining = deadline.checked_duration_since(Instant::now())?;
    let now = nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC).ok()?;
    let mut sec = now
        .tv_sec()
        .saturating_add(remaining.as_secs() as libc::time_t);
    let mut nsec = now.tv_nsec() + remaining.subsec_nanos() as libc::c_long;
    if nsec >= 1_000_000_000 {
        nsec -= 1_000_000_000;
        sec = sec.saturating_add(1);
    }
    Some(libc::timespec {
        tv_sec: sec,
        tv_nsec: nsec,
    })
}

/// Sleeps while `*word == expected`, until woken or until `deadline`.
///
/// Returns `false` only when the deadline has passed; `true` when woken, when the word did not
/// hold `expected` (the caller re-checks its condition either way), or on a spurious wake-up.
/// `EINTR` is retried internally against the same absolute deadline.
pub(crate) fn futex_wait(word: &AtomicU32, expected: u32, deadline: Option<Instant>) -> bool {
    let ts = match deadline {
        Some(d) => match abs_timespec(d) {
            Some(ts) => Some(ts),
            None => return false,
        },
        None => None,
    };
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    loop {
        // SAFETY: `word` is a valid, aligned `AtomicU32` for the duration of the call (the
        // reference guarantees it); the kernel only reads it. `ts_ptr` is null or points to
        // a timespec that outlives the call. FUTEX_WAIT_BITSET with FUTEX_BITSET_MATCH_ANY
        // and no FUTEX_CLOCK_REALTIME takes an absolute CLOCK_MONOTONIC deadline.
        let r = unsafe {
            libc::syscall(
                libc::SYS_futex,
                word.as_ptr(),
                libc::FUTEX_WAIT_BITSET,
                expected,
                ts_ptr,
                std::ptr::null::<u32>(),
                libc::FUTEX_BITSET_MATCH_ANY,
            )
        };
        if r == 0 {
            return true;
        }
        match nix::errno::Errno::last() {
            nix::errno::Errno::EINTR => continue,
            nix::errno::Errno::ETIMEDOUT => return false,
            // EAGAIN: the word did not hold `expected`. Anything else is treated as a
            // spurious wake-up; callers always re-check their condition.
            _ => return true,
        }
    }
}

/// Wakes up to `n` waiters sleeping on `word`. Returns how many were woken.
pub(crate) fn futex_wake(word: &AtomicU32, n: u32) -> usize {
    let n = n.min(i32::MAX as u32) as libc::c_int;
    // SAFETY: `word` is a valid, aligned `AtomicU32`; FUTEX_WAKE does not access memory
    // through the pointer, it only uses the address as a key.
    let r = unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
    usize::try_from(r).unwrap_or(0)
}

/// Wakes every waiter sleeping on `word`.
pub(crate) fn futex_wake_all(word: &AtomicU32) -> usize {
    futex_wake(word, i32::MAX as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::Ordering;
    use std::time::Duration;

    #[test]
    fn wait_times_out_no_earlier_than_the_deadline() {
        let w = AtomicU32::new(0);
        let start = Instant::now();
        let timeout = Duration::from_millis(30);
        assert!(!futex_wait(&w, 0, Some(start + timeout)));
        assert!(start.elapsed() >= timeout);
    }

    #[test]
    fn wait_returns_at_once_on_mismatch() {
        let w = AtomicU32::new(1);
        assert!(futex_wait(
            &w,
            0,
            Some(Instant::now() + Duration::from_secs(10))
        ));
    }

    #[test]
    fn past_deadline_is_a_timeout() {
        let w = AtomicU32::new(0);
        assert!(!futex_wait(&w, 0, Some(Instant::now())));
    }

    #[test]
    fn wake_reaches_a_sleeping_thread() {
        let w = Arc::new(AtomicU32::new(0));
        let w2 = w.clone();
        let t = std::thread::spawn(move || {
            let deadline = Instant::now() + Duration::from_secs(10);
            while w2.load(Ordering::Acquire) == 0 {
                assert!(futex_wait(&w2, 0, Some(deadline)), "never woken");
            }
        });
        std::thread::sleep(Duration::from_millis(20));
        w.store(1, Ordering::Release);
        futex_wake_all(&w);
        t.join().unwrap();
    }
}
