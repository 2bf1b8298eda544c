//! The building blocks of the raw limits: syscall wrappers, CLOCK_MONOTONIC, CPU affinity,
//! shared memory, futex waits, busy-wait back-off and forked children with deadlines.

// Part of the raw baseline (see the parent module): it calls fork, mmap and futex directly on
// purpose, which the workspace otherwise confines to ipc-core/src/sys and procpool's sys module.
#![allow(clippy::disallowed_methods)]

use std::ffi::CString;
use std::hint::spin_loop;
use std::io;
use std::marker::PhantomData;
use std::mem;
use std::ops::Deref;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::panic::{self, AssertUnwindSafe};
use std::ptr::{self, NonNull};
use std::sync::atomic::AtomicU32;
use std::sync::atomic::Ordering::Acquire;
use std::time::{Duration, Instant};

use super::{REAP_TIMEOUT, Result, SPIN_LIMIT, WAIT_SLICE};
use crate::error::BenchError;
use crate::workloads::Pinning;

/// `elapsed / n` in seconds.
pub(super) fn per_item(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() / n.max(1) as f64
}

pub(super) fn cvt(ret: libc::c_int) -> io::Result<libc::c_int> {
    if ret == -1 {
        Err(io::Error::last_os_error())
    } else {
        Ok(ret)
    }
}

pub(super) fn cstring(bytes: &[u8]) -> Result<CString> {
    CString::new(bytes).map_err(|_| BenchError::new("NUL byte in a path or environment entry"))
}

/// CLOCK_MONOTONIC in nanoseconds: the same clock in every process, unlike [`Instant`]'s
/// opaque values (it is also Python's `time.perf_counter_ns` on Linux).
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux, so
    // the call cannot fail.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// `FUTEX_WAIT` (shared, not private) on `word` while it holds `expected`, for at most
/// `timeout`. Returns on a wake-up, a changed value, a signal or the timeout alike: callers
/// re-check their condition.
pub(super) fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs() as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` points to an aligned u32 that stays valid for the call (the kernel only
    // reads it); `ts` is a valid relative timeout; the unused arguments are null/0. Every error
    // (EAGAIN, EINTR, ETIMEDOUT) means "re-check", so the result is ignored.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
            ptr::null::<u32>(),
            0u32,
        )
    };
}

/// `FUTEX_WAKE` (shared, not private) of up to `n` processes waiting on `word`.
pub(super) fn futex_wake(word: &AtomicU32, n: i32) {
    // SAFETY: `word` is a valid, aligned u32; FUTEX_WAKE only uses its address as a key.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, n) };
}

/// Sleeps on the futex `word` (in slices of at most [`WAIT_SLICE`]) until `done(value)` holds,
/// or fails at `deadline`.
pub(super) fn wait_until(
    word: &AtomicU32,
    deadline: Instant,
    what: &str,
    mut done: impl FnMut(u32) -> bool,
) -> Result<()> {
    loop {
        let value = word.load(Acquire);
        if done(value) {
            return Ok(());
        }
        let now = Instant::now();
        if now >= deadline {
            return Err(BenchError::new(format!("timed out waiting for {what}")));
        }
        futex_wait(word, value, (deadline - now).min(WAIT_SLICE));
    }
}

/// The back-off of a busy wait: [`SPIN_LIMIT`] spins with `pause`, then `sched_yield` (so a
/// peer pinned to the same CPU gets to run), checking the deadline every 256 rounds.
#[derive(Debug)]
pub(super) struct Backoff {
    rounds: u32,
    deadline: Instant,
    what: &'static str,
}

impl Backoff {
    pub(super) fn new(deadline: Instant, what: &'static str) -> Self {
        Backoff {
            rounds: 0,
            deadline,
            what,
        }
    }

    #[inline]
    pub(super) fn reset(&mut self) {
        self.rounds = 0;
    }

    #[inline]
    pub(super) fn snooze(&mut self) -> Result<()> {
        self.rounds = self.rounds.wrapping_add(1);
        if self.rounds <= SPIN_LIMIT {
            spin_loop();
            return Ok(());
        }
        // SAFETY: sched_yield has no preconditions.
        unsafe { libc::sched_yield() };
        if self.rounds % 256 == 0 && Instant::now() >= self.deadline {
            return Err(BenchError::new(format!(
                "timed out waiting for {}",
                self.what
            )));
        }
        Ok(())
    }
}

/// Fails unless the calling process has exactly one thread, which forking a child that runs
/// Rust code (allocates, formats errors) requires.
///
/// A thread that was just joined can still be listed for a moment (the kernel finishes tearing
/// it down after `pthread_join` returns; it runs no user code by then), so the check retries for
/// up to 200 ms before failing.
pub fn ensure_single_threaded() -> Result<()> {
    let deadline = Instant::now() + Duration::from_millis(200);
    loop {
        let threads = std::fs::read_dir("/proc/self/task")
            .map_err(|e| BenchError::io("reading /proc/self/task", e))?
            .count();
        if threads == 1 {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BenchError::new(format!(
                "the raw benchmarks fork, and need a single-threaded process \
                 (found {threads} threads)"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn get_affinity() -> io::Result<libc::cpu_set_t> {
    // SAFETY: cpu_set_t is a plain bit array, for which all-zero is valid (the empty set).
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `set` is a valid, writable cpu_set_t of the size passed.
    cvt(unsafe { libc::sched_getaffinity(0, mem::size_of::<libc::cpu_set_t>(), &mut set) })?;
    Ok(set)
}

fn set_affinity(set: &libc::cpu_set_t) -> io::Result<()> {
    // SAFETY: `set` is a valid cpu_set_t of the size passed; the kernel only reads it.
    cvt(unsafe { libc::sched_setaffinity(0, mem::size_of::<libc::cpu_set_t>(), set) })?;
    Ok(())
}

/// Pins the calling process (its only thread) to CPU `cpu`.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    if cpu >= libc::CPU_SETSIZE as usize {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "CPU number out of range",
        ));
    }
    // SAFETY: all-zero is the empty cpu_set_t.
    let mut set: libc::cpu_set_t = unsafe { mem::zeroed() };
    // SAFETY: `cpu < CPU_SETSIZE`, checked above, so the bit lies inside `set`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    set_affinity(&set)
}

/// Whether `pinning` can be honoured here: CPUs 0 (and 1 for [`Pinning::TwoCores`]) are in the
/// calling process's affinity set.
pub fn can_pin(pinning: Pinning) -> bool {
    let Ok(set) = get_affinity() else {
        return false;
    };
    let (a, b) = pinning.cpus();
    [a, b].into_iter().flatten().all(|cpu| {
        // SAFETY: `cpu` is 0 or 1, inside any cpu_set_t.
        unsafe { libc::CPU_ISSET(cpu, &set) }
    })
}

/// Pins the calling process to one CPU for its lifetime, then restores the previous CPU set.
pub struct AffinityGuard {
    saved: Option<libc::cpu_set_t>,
}

impl AffinityGuard {
    /// Pins to `cpu`; `None` leaves the affinity alone (and the guard does nothing).
    pub fn pin(cpu: Option<usize>) -> io::Result<AffinityGuard> {
        let Some(cpu) = cpu else {
            return Ok(AffinityGuard { saved: None });
        };
        let saved = get_affinity()?;
        pin_to_cpu(cpu)?;
        Ok(AffinityGuard { saved: Some(saved) })
    }
}

impl Drop for AffinityGuard {
    fn drop(&mut self) {
        if let Some(saved) = &self.saved {
            // Nothing useful to do on failure: the set was valid when it was read.
            let _ = set_affinity(saved);
        }
    }
}

impl std::fmt::Debug for AffinityGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AffinityGuard")
            .field("restores", &self.saved.is_some())
            .finish()
    }
}

/// A type that may be placed in a [`Shared`] mapping.
///
/// # Safety
///
/// Implementors are `#[repr(C)]`, hold no pointers, file descriptors or heap data, are valid
/// when all their bytes are zero, and are used only through shared references (atomics), so
/// that several processes may use one instance at once.
pub(super) unsafe trait ShmSafe: Sync {}

/// A `MAP_SHARED` mapping of a fresh memfd: a zeroed `T` at its start, then `data_len` zeroed
/// bytes at the next page boundary. Forked children share it with the parent.
#[derive(Debug)]
pub(super) struct Shared<T: ShmSafe> {
    ptr: NonNull<u8>,
    len: usize,
    data_offset: usize,
    _marker: PhantomData<T>,
}

impl<T: ShmSafe> Shared<T> {
    const PAGE: usize = 4096;

    pub(super) fn new(data_len: usize) -> Result<Self> {
        const { assert!(mem::align_of::<T>() <= Self::PAGE) };
        let data_offset = mem::size_of::<T>().div_ceil(Self::PAGE).max(1) * Self::PAGE;
        let len = data_offset + data_len;
        let size = libc::off_t::try_from(len).map_err(|_| BenchError::new("mapping too large"))?;
        // SAFETY: the name is a valid C string and the flags are valid.
        let fd =
            cvt(unsafe { libc::memfd_create(c"procpool-bench-raw".as_ptr(), libc::MFD_CLOEXEC) })
                .map_err(|e| BenchError::io("memfd_create", e))?;
        // SAFETY: `fd` was just returned by memfd_create and belongs to nothing else.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        // SAFETY: `fd` is a valid memfd.
        cvt(unsafe { libc::ftruncate(fd.as_raw_fd(), size) })
            .map_err(|e| BenchError::io("ftruncate", e))?;
        // SAFETY: a null hint lets the kernel pick an address that overlaps no existing
        // mapping; `fd` is a valid file of `len` bytes. The mapping outlives `fd`.
        let ptr = unsafe {
            libc::mmap(
                ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd.as_raw_fd(),
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(BenchError::io("mmap", io::Error::last_os_error()));
        }
        let ptr =
            NonNull::new(ptr.cast::<u8>()).ok_or_else(|| BenchError::new("mmap gave null"))?;
        Ok(Shared {
            ptr,
            len,
            data_offset,
            _marker: PhantomData,
        })
    }

    /// The start of the data area (page-aligned, `data_len` bytes).
    pub(super) fn data(&self) -> *mut u8 {
        self.ptr.as_ptr().wrapping_add(self.data_offset)
    }
}

impl<T: ShmSafe> Deref for Shared<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: the mapping starts with at least `size_of::<T>()` bytes, zero-filled by the
        // kernel and page-aligned (so aligned for T, checked in `new`); all-zero is a valid T
        // (ShmSafe); the mapping lives as long as `self`, which the reference borrows; T is
        // only mutated through its atomics.
        unsafe { self.ptr.cast::<T>().as_ref() }
    }
}

impl<T: ShmSafe> Drop for Shared<T> {
    fn drop(&mut self) {
        // SAFETY: `ptr`/`len` is exactly the mapping made in `new`, and no reference into it
        // outlives `self` (`deref` borrows `self`).
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.len) };
    }
}

/// Aligns (and pads) a value to 128 bytes, two cache lines, so that the adjacent-line
/// prefetcher does not couple it with its neighbour.
#[repr(C, align(128))]
#[derive(Debug)]
pub(super) struct CacheLine<T>(pub(super) T);

/// A child process of a raw measurement. Dropping one that has not been reaped kills it with
/// SIGKILL and reaps it, waiting at most [`REAP_TIMEOUT`].
#[derive(Debug)]
pub(super) struct Child {
    pid: libc::pid_t,
    reaped: bool,
}

impl Child {
    /// Takes charge of the child `pid` of this process.
    pub(super) fn adopt(pid: libc::pid_t) -> Child {
        Child { pid, reaped: false }
    }

    /// Forks a child that pins itself to `cpu` (if given), runs `body` and exits: with 0 when
    /// `body` succeeds, 1 when it fails (printing the error), 101 when it panics, 2 when the
    /// parent died before the child started. The caller must be single-threaded
    /// ([`ensure_single_threaded`]).
    pub(super) fn fork(cpu: Option<usize>, body: impl FnOnce() -> Result<()>) -> Result<Child> {
        ensure_single_threaded()?;
        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: the process is single-threaded (checked above), so the child is a complete
        // copy in which no lock is held by a thread that does not exist there: it may run
        // ordinary Rust code.
        let pid = cvt(unsafe { libc::fork() }).map_err(|e| BenchError::io("fork", e))?;
        if pid == 0 {
            let code = run_child(parent, cpu, body);
            // SAFETY: ends the child without running destructors of objects copied from the
            // parent (which the parent still owns) or its atexit handlers.
            unsafe { libc::_exit(code) }
        }
        Ok(Child::adopt(pid))
    }

    /// Waits for the child to exit, until `deadline`; kills it then. Fails if it timed out or
    /// did not exit with status 0.
    ///
    /// Sleeps in `poll` on a pidfd, which becomes readable when the child exits, so the wait
    /// costs one wake-up, like a blocking `waitpid`, but has a deadline (a `WNOHANG` poll every
    /// millisecond where pidfds are missing).
    pub(super) fn wait(&mut self, deadline: Instant) -> Result<()> {
        let mut pidfd: Option<OwnedFd> = None;
        loop {
            if let Some(status) = self.try_reap()? {
                return exit_status(self.pid, status);
            }
            let now = Instant::now();
            if now >= deadline {
                self.kill();
                return Err(BenchError::new(format!(
                    "child {} timed out and was killed",
                    self.pid
                )));
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            if pidfd.is_none() {
                pidfd = pidfd_open(self.pid).ok();
            }
            match &pidfd {
                Some(fd) => {
                    poll_readable(fd.as_raw_fd(), slice).map_err(|e| BenchError::io("poll", e))?;
                }
                None => std::thread::sleep(slice.min(Duration::from_millis(1))),
            }
        }
    }

    /// `waitpid(WNOHANG)`: the raw status if the child has exited (and is now reaped).
    fn try_reap(&mut self) -> Result<Option<libc::c_int>> {
        if self.reaped {
            return Err(BenchError::new(format!(
                "child {} was already reaped",
                self.pid
            )));
        }
        let mut status = 0;
        // SAFETY: `status` is a valid out-pointer; `pid` is our child, not yet reaped.
        match cvt(unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) }) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.reaped = true;
                Ok(Some(status))
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(None),
            Err(e) => Err(BenchError::io("waitpid", e)),
        }
    }

    /// SIGKILLs the child (if not yet reaped) and reaps it, waiting at most [`REAP_TIMEOUT`].
    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SAFETY: `pid` is our child and not yet reaped, so the pid cannot have been reused.
        unsafe { libc::kill(self.pid, libc::SIGKILL) };
        let deadline = Instant::now() + REAP_TIMEOUT;
        while Instant::now() < deadline {
            match self.try_reap() {
                Ok(None) => std::thread::sleep(Duration::from_millis(1)),
                Ok(Some(_)) | Err(_) => return,
            }
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The body of a [`Child::fork`] child; returns its exit code.
fn run_child(
    parent: libc::pid_t,
    cpu: Option<usize>,
    body: impl FnOnce() -> Result<()>,
) -> libc::c_int {
    // SAFETY: PR_SET_PDEATHSIG only sets an attribute of the calling process.
    unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong) };
    // SAFETY: getppid has no preconditions.
    if unsafe { libc::getppid() } != parent {
        return 2; // the parent died before the death signal was armed
    }
    let outcome = panic::catch_unwind(AssertUnwindSafe(|| {
        if let Some(cpu) = cpu {
            pin_to_cpu(cpu).map_err(|e| BenchError::io(format!("pinning to CPU {cpu}"), e))?;
        }
        body()
    }));
    match outcome {
        Ok(Ok(())) => 0,
        Ok(Err(e)) => {
            eprintln!("raw benchmark child {}: {e}", std::process::id());
            1
        }
        Err(_) => 101, // the panic hook has printed the message
    }
}

/// Turns a `waitpid` status into `Ok` (exit code 0) or a descriptive error.
fn exit_status(pid: libc::pid_t, status: libc::c_int) -> Result<()> {
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else if libc::WIFEXITED(status) {
        Err(BenchError::new(format!(
            "child {pid} exited with code {}",
            libc::WEXITSTATUS(status)
        )))
    } else if libc::WIFSIGNALED(status) {
        Err(BenchError::new(format!(
            "child {pid} killed by signal {}",
            libc::WTERMSIG(status)
        )))
    } else {
        Err(BenchError::new(format!(
            "child {pid} ended with status {status:#x}"
        )))
    }
}

/// `pidfd_open(pid, 0)`: a file descriptor (close-on-exec) that polls readable when `pid` exits.
fn pidfd_open(pid: libc::pid_t) -> io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes a pid and flags and returns a new descriptor or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` is a new descriptor that nothing else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Waits until `fd` is readable or `timeout` passes (rounded up to a millisecond); `true` if
/// readable. A signal counts as a timeout.
fn poll_readable(fd: RawFd, timeout: Duration) -> io::Result<bool> {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX);
    // SAFETY: `pfd` is one valid, writable pollfd.
    match cvt(unsafe { libc::poll(&mut pfd, 1, ms) }) {
        Ok(n) => Ok(n > 0),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Forks a child that only calls async-signal-safe functions (so forking from libtest's
    /// multi-threaded process is fine): `pause()` forever if `code` is `None`, else `_exit`.
    fn raw_child(code: Option<libc::c_int>) -> Child {
        // SAFETY: the child calls only pause and _exit, both async-signal-safe.
        let pid = cvt(unsafe { libc::fork() }).unwrap();
        if pid == 0 {
            if code.is_none() {
                // SAFETY: pause has no preconditions.
                unsafe { libc::pause() };
            }
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(code.unwrap_or(0)) }
        }
        Child::adopt(pid)
    }

    #[test]
    fn a_failing_child_is_reported() {
        let err = raw_child(Some(3))
            .wait(Instant::now() + Duration::from_secs(10))
            .unwrap_err();
        assert!(err.to_string().contains("exited with code 3"), "{err}");
        raw_child(Some(0))
            .wait(Instant::now() + Duration::from_secs(10))
            .unwrap();
    }

    #[test]
    fn a_stuck_child_is_killed_at_the_deadline() {
        let mut child = raw_child(None);
        let t0 = Instant::now();
        let err = child
            .wait(Instant::now() + Duration::from_millis(200))
            .unwrap_err();
        assert!(err.to_string().contains("timed out"), "{err}");
        assert!(t0.elapsed() >= Duration::from_millis(200));
        assert!(child.reaped, "the killed child must be reaped");
    }

    #[test]
    fn dropping_an_unreaped_child_kills_it() {
        let child = raw_child(None);
        let pid = child.pid;
        drop(child);
        // SAFETY: signal 0 only checks whether `pid` exists.
        let exists = unsafe { libc::kill(pid, 0) } == 0;
        assert!(!exists, "child {pid} survived its Child");
    }
}
