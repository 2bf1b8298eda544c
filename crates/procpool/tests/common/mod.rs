#![allow(unreachable_pub)] // shared by several test binaries
//! Helpers for procpool's integration tests: a watchdog, unique scratch files, deadlines.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Runs `f` on a thread and fails the test if it does not finish within `limit` (a deadlock
/// fails instead of hanging the suite).
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

/// A path for a scratch file that no other test uses (removed by `Scratch`'s drop).
pub(crate) struct Scratch(pub(crate) PathBuf);

impl Scratch {
    pub(crate) fn new(tag: &str) -> Scratch {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Scratch(
            std::env::temp_dir().join(format!("procpool-test-{}-{n}-{tag}", std::process::id())),
        )
    }

    pub(crate) fn path(&self) -> String {
        self.0.to_string_lossy().into_owned()
    }

    /// Waits (up to `timeout`) until the file exists and is not empty; returns its content.
    pub(crate) fn read_within(&self, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(s) = std::fs::read_to_string(&self.0) {
                if !s.is_empty() {
                    return s;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never written",
                self.0.display()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub(crate) fn read(&self) -> String {
        std::fs::read_to_string(&self.0).unwrap_or_default()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Writes `content` atomically (write to a temporary name, then rename), so that a reader never
/// sees a partial file.
pub(crate) fn publish(path: &str, content: &str) {
    let tmp = format!("{path}.tmp");
    std::fs::write(&tmp, content).expect("write scratch file");
    std::fs::rename(&tmp, path).expect("rename scratch file");
}

/// Whether process `pid` is gone: no `/proc` entry, or a zombie (ended, awaiting its reaper).
pub(crate) fn pid_gone(pid: u32) -> bool {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.iter().rposition(|&b| b == b')') {
            Some(i) => matches!(stat.get(i + 2), Some(b'Z' | b'X' | b'x')),
            None => false,
        },
        Err(_) => true,
    }
}

/// Whether `/proc/<pid>` has disappeared (the process was reaped).
pub(crate) fn pid_reaped(pid: u32) -> bool {
    !std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Polls `cond` every few milliseconds until it holds or `timeout` passes.
pub(crate) fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}
