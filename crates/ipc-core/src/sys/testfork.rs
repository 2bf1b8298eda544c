//! A minimal fork helper for ipc-core's own tests (procpool's `Process` sits above this crate).
//!
//! Every test that forks takes [`FORK_LOCK`] so that forks do not interleave with each other,
//! and the child runs only the given closure and then `_exit`s (no destructors, no test
//! harness). A child that panics exits with code 101.
#![allow(clippy::disallowed_methods)] // fork lives here for the tests

use std::sync::Mutex;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid};

/// Serialises forks in the test process.
pub(crate) static FORK_LOCK: Mutex<()> = Mutex::new(());

/// A forked test child. Dropping it kills and reaps the child if it is still running.
#[derive(Debug)]
pub(crate) struct TestChild {
    pid: Pid,
    reaped: bool,
}

/// Runs `f` in a forked child, which exits with the returned code.
pub(crate) fn fork_child(f: impl FnOnce() -> i32) -> TestChild {
    let _g = FORK_LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: the child only runs `f` (test code that uses this crate's primitives and
    // allocates; glibc's fork keeps malloc usable in the child) and then calls `_exit`,
    // never returning into the test harness.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        ForkResult::Child => {
            let code = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or(101);
            // SAFETY: `_exit` is async-signal-safe and ends the child without running the
            // parent's atexit handlers or destructors.
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => TestChild {
            pid: child,
            reaped: false,
        },
    }
}

impl TestChild {
    /// The child's pid.
    pub(crate) fn pid(&self) -> u32 {
        self.pid.as_raw() as u32
    }

    /// Waits up to `timeout` for the child to exit; returns its exit code, or -signal.
    /// Panics (failing the test) if the child is still running at the deadline.
    pub(crate) fn wait(&mut self, timeout: Duration) -> i32 {
        let deadline = Instant::now() + timeout;
        loop {
            match waitpid(self.pid, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(_, code)) => {
                    self.reaped = true;
                    return code;
                }
                Ok(WaitStatus::Signaled(_, sig, _)) => {
                    self.reaped = true;
                    return -(sig as i32);
                }
                Ok(_) => {}
                Err(e) => panic!("waitpid: {e}"),
            }
            if Instant::now() >= deadline {
                panic!("child {} still running after {:?}", self.pid, timeout);
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// Sends SIGKILL.
    pub(crate) fn kill(&self) {
        let _ = kill(self.pid, Signal::SIGKILL);
    }
}

impl Drop for TestChild {
    fn drop(&mut self) {
        if !self.reaped {
            let _ = kill(self.pid, Signal::SIGKILL);
            let _ = waitpid(self.pid, None);
        }
    }
}

/// Runs `f` on a thread and fails the test if it does not finish within `limit`
/// (a watchdog: a deadlock fails instead of hanging the suite).
pub(crate) fn with_watchdog<T: Send + 'static>(
    limit: Duration,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    let h = std::thread::spawn(move || {
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
        let _ = tx.send(());
        r
    });
    match rx.recv_timeout(limit) {
        Ok(()) => match h.join().expect("watchdog thread") {
            Ok(v) => v,
            Err(p) => std::panic::resume_unwind(p),
        },
        Err(_) => panic!("watchdog: test did not finish within {limit:?} (deadlock?)"),
    }
}
