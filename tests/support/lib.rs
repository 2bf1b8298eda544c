//! Support for the integration and reliability tests: a watchdog, process-resource counters,
//! process-table probes, a small seeded random generator, the soak switch and figure reports.
//!
//! The reliability suite (see the Reliability section of README.md) runs bounded in CI; `PROCPOOL_SOAK=1`
//! makes every test run its long form (more rounds, bigger loads), and the `#[ignore]`d soak
//! tests run with `cargo test -p integration -- --ignored`.

use std::collections::BTreeSet;
use std::io::Write;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Runs `f` on a thread and fails (panics) if it has not finished within `limit`, so a
/// deadlock fails the test instead of hanging the suite.
pub fn watchdog<R: Send + 'static>(limit: Duration, f: impl FnOnce() -> R + Send + 'static) -> R {
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

/// A process-wide lock for tests of one binary that must not overlap (resource counts, load
/// figures). Poisoning is ignored: a failed test must not fail the others.
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|p| p.into_inner())
}

/// Whether the long (soak) form was asked for with `PROCPOOL_SOAK=1`.
pub fn soak() -> bool {
    std::env::var("PROCPOOL_SOAK").is_ok_and(|v| v == "1")
}

/// `ci` normally, `soak` under `PROCPOOL_SOAK=1`.
pub fn scaled<T>(ci: T, soak_value: T) -> T {
    if soak() { soak_value } else { ci }
}

/// Open file descriptors of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Mappings of this process (lines of `/proc/self/maps`).
pub fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|s| s.lines().count())
        .unwrap_or(0)
}

/// Entries in `/dev/shm`.
pub fn dev_shm_entries() -> usize {
    std::fs::read_dir("/dev/shm")
        .map(|d| d.count())
        .unwrap_or(0)
}

/// Names in `/dev/shm`.
pub fn dev_shm_names() -> BTreeSet<String> {
    std::fs::read_dir("/dev/shm")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// The state letter of process `pid` (`R`, `S`, `Z`...), or `None` if there is no such
/// process.
pub fn pid_state(pid: u32) -> Option<char> {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may contain ')', so take the last one.
    let i = stat.iter().rposition(|&b| b == b')')?;
    stat.get(i + 2).map(|&b| b as char)
}

/// The parent pid of process `pid`, if it exists.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Whether process `pid` has ended: no such process, or a zombie (dead, not yet reaped).
pub fn pid_gone(pid: u32) -> bool {
    matches!(pid_state(pid), None | Some('Z' | 'X' | 'x'))
}

/// The direct children of this process (from `/proc/self/task/*/children`), running or zombie.
pub fn child_pids() -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    if let Ok(tasks) = std::fs::read_dir("/proc/self/task") {
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                out.extend(s.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// The children of this process that are zombies (dead and not reaped).
pub fn zombie_children() -> Vec<u32> {
    child_pids()
        .into_iter()
        .filter(|&p| pid_state(p) == Some('Z'))
        .collect()
}

/// Polls `cond` every millisecond until it holds or `limit` passes; whether it held.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Sends `SIGKILL` to `pid` (ignoring a process that is already gone).
pub fn kill9(pid: u32) {
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
}

/// A small, fast, seeded random generator (xorshift64*), good enough to pick moments and
/// sizes. Not for anything cryptographic.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value; 0 is remapped).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The seed for a test: `PROCPOOL_SEED` if set, else the clock. Printed, so that a failing
    /// run can be repeated.
    pub fn for_test(name: &str) -> Rng {
        let seed = std::env::var("PROCPOOL_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos() as u64)
                    .unwrap_or(1)
            });
        eprintln!("{name}: PROCPOOL_SEED={seed}");
        Rng::new(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A value in `lo..hi` (`lo` if the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            lo
        } else {
            lo + self.next_u64() % (hi - lo)
        }
    }

    /// A duration in `lo..hi`.
    pub fn duration(&mut self, lo: Duration, hi: Duration) -> Duration {
        Duration::from_nanos(self.range(lo.as_nanos() as u64, hi.as_nanos() as u64))
    }

    /// `true` with probability `1/n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.range(0, n.max(1)) == 0
    }
}

/// Deterministic payload bytes for message `(who, seq)` of length `len`, so that a receiver
/// can check every byte it got.
pub fn payload(who: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut r = Rng::new(who.wrapping_mul(1_000_003) ^ seq.wrapping_mul(0x9E37_79B9));
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        let w = r.next_u64().to_le_bytes();
        let n = (len - out.len()).min(8);
        out.extend_from_slice(&w[..n]);
    }
    out
}

/// Records a figure for the reliability report: printed on standard error (shown with
/// `--nocapture`) and appended to the file named by `PROCPOOL_FIGURES`, if set.
pub fn figure(name: &str, text: impl std::fmt::Display) {
    let line = format!("[figure] {name}: {text}");
    eprintln!("{line}");
    if let Ok(path) = std::env::var("PROCPOOL_FIGURES") {
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}
