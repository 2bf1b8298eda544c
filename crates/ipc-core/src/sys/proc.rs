//! Process and thread identity, cached, and the liveness of other processes.
//!
//! `getpid` and `gettid` are system calls (glibc no longer caches them), and the lock fast
//! path needs the caller's id on every acquisition, so both are cached. A `pthread_atfork`
//! child handler invalidates the caches in a freshly forked child, whose pid and tid differ.

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

static CACHED_PID: AtomicU32 = AtomicU32::new(0);
/// Bumped in every forked child, so per-thread caches from before the fork are discarded.
static FORK_GENERATION: AtomicU64 = AtomicU64::new(0);
/// Set once some thread's `pthread_atfork` registration has completed.
///
/// Deliberately not a `std::sync::Once`: a `Once` that is running in one thread while another
/// thread forks is copied into the child in its "running" state, with no thread left to
/// finish it, and the child's first `pid()`/`tid()` would block forever (seen in the tests).
static ATFORK_REGISTERED: AtomicBool = AtomicBool::new(false);

thread_local! {
    static CACHED_TID: Cell<(u64, u32)> = const { Cell::new((u64::MAX, 0)) };
}

extern "C" fn after_fork_in_child() {
    // Async-signal-safe: two atomic stores.
    CACHED_PID.store(0, Ordering::Relaxed);
    FORK_GENERATION.fetch_add(1, Ordering::Relaxed);
}

/// Makes sure the child handler is registered before the caller caches an id.
///
/// Never waits for another thread: threads racing on first use may each register the handler,
/// which is harmless (it only resets caches). A caller caches an id only after its own call
/// returned, so any later fork runs a registered handler.
fn register_atfork() {
    if ATFORK_REGISTERED.load(Ordering::Acquire) {
        return;
    }
    // SAFETY: the handler is an `extern "C" fn()` with static lifetime that only performs
    // atomic stores, which is allowed in a child after fork.
    let r = unsafe { libc::pthread_atfork(None, None, Some(after_fork_in_child)) };
    debug_assert_eq!(r, 0, "pthread_atfork failed");
    ATFORK_REGISTERED.store(true, Ordering::Release);
}

/// The calling process's id (cached; correct after `fork`).
#[inline]
pub(crate) fn pid() -> u32 {
    let p = CACHED_PID.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    register_atfork();
    let p = nix::unistd::getpid().as_raw() as u32;
    CACHED_PID.store(p, Ordering::Relaxed);
    p
}

/// The calling thread's kernel thread id (cached per thread; correct after `fork`).
#[inline]
pub(crate) fn tid() -> u32 {
    let generation = FORK_GENERATION.load(Ordering::Relaxed);
    CACHED_TID.with(|c| {
        let (g, t) = c.get();
        if g == generation {
            return t;
        }
        register_atfork();
        let t = nix::unistd::gettid().as_raw() as u32;
        c.set((generation, t));
        t
    })
}

/// Whether the process (or thread) with this id exists and has not terminated.
///
/// A zombie (terminated, not yet reaped) counts as dead, which `kill(pid, 0)` would not tell.
/// Reads `/proc/<id>/stat`, which also works for thread ids. If the answer cannot be
/// determined, the process is assumed alive: the cautious choice for lock recovery.
pub(crate) fn is_alive(id: u32) -> bool {
    if id == 0 {
        return false;
    }
    let path = format!("/proc/{id}/stat");
    match std::fs::read(&path) {
        Ok(stat) => {
            // Format: "pid (comm) S ...". comm may contain ')' so take the last one.
            match stat.iter().rposition(|&b| b == b')') {
                Some(i) => !matches!(stat.get(i + 2), Some(b'Z' | b'X' | b'x')),
                None => true,
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => false,
        Err(_) => true,
    }
}

/// How many CPUs the calling thread may run on (its affinity mask), read afresh: a process
/// pinned to one core after it started must see 1. At least 1.
pub(crate) fn cpus_allowed() -> usize {
    let mut mask = [0u64; 16]; // 1024 CPUs, the size of glibc's cpu_set_t
    // SAFETY: `mask` is a writable buffer of exactly the length passed, with the size and
    // alignment of `cpu_set_t` (an array of unsigned longs); the kernel writes at most that.
    let r = unsafe {
        libc::sched_getaffinity(
            0,
            std::mem::size_of_val(&mask),
            mask.as_mut_ptr().cast::<libc::cpu_set_t>(),
        )
    };
    if r != 0 {
        return 1;
    }
    (mask.iter().map(|w| w.count_ones()).sum::<u32>() as usize).max(1)
}

thread_local! {
    /// (pid it was read in, CPUs allowed, uses left before re-reading).
    static CPUS_CACHE: Cell<(u32, usize, u32)> = const { Cell::new((0, 1, 0)) };
}

/// [`cpus_allowed`], re-read in a new process (after fork) and every 256 calls otherwise, so
/// that a process pinned after it started (a benchmark pinning a child) is noticed soon,
/// without a system call on every wait.
pub(crate) fn cpus_allowed_cached() -> usize {
    let me = pid();
    CPUS_CACHE.with(|c| {
        let (p, n, left) = c.get();
        if p == me && left > 0 {
            c.set((p, n, left - 1));
            return n;
        }
        let n = cpus_allowed();
        c.set((me, n, 255));
        n
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_match_the_kernel() {
        assert_eq!(pid(), std::process::id());
        assert_eq!(tid(), nix::unistd::gettid().as_raw() as u32);
        let other = std::thread::spawn(tid).join().unwrap();
        assert_ne!(other, tid());
    }

    #[test]
    fn cpus_allowed_matches_the_machine() {
        let n = cpus_allowed();
        assert!(n >= 1);
        assert!(n <= std::thread::available_parallelism().map_or(1024, |p| p.get().max(n)));
    }

    #[test]
    fn liveness() {
        assert!(is_alive(pid()));
        assert!(is_alive(tid()));
        assert!(!is_alive(0));
        assert!(!is_alive(u32::MAX - 1));
    }
}
