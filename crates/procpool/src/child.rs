//! The parent's side of a running child: [`ChildShared`] (exit status, sentinel, signals),
//! the registry behind [`active_children`], the reaper thread that collects children whose
//! handles were dropped, and the exit path that ends a process's children (Python's
//! `_exit_function`).
//!
//! Children started by fork or spawn are ours: a pidfd is their sentinel (readable when they
//! end) and `waitid(P_PIDFD)` reaps them. Children of the fork server are the server's: it
//! reaps them and writes the exit status into a pipe whose read end is their sentinel; we also
//! hold a pidfd (sent by the server) to signal them without a pid-reuse race.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::eventfd::{EfdFlags, EventFd};
use nix::sys::signal::Signal;
use parking_lot::Mutex;

use crate::identity::{ProcState, state};
use crate::sys;

/// Exit code recorded when the status of a child cannot be known (something else reaped it,
/// or the fork server died before reporting it).
pub(crate) const UNKNOWN_EXIT: i32 = 255;

/// How long daemon children get between `SIGTERM` and `SIGKILL` when their parent exits.
const DAEMON_GRACE: Duration = Duration::from_secs(1);

/// A started child, shared by its [`Process`](crate::Process) handle, the registry and the
/// reaper.
pub(crate) struct ChildShared {
    pub(crate) pid: u32,
    pub(crate) name: String,
    pub(crate) daemon: bool,
    /// The process that started the child (only it may wait for or signal it).
    owner: u32,
    pidfd: OwnedFd,
    /// Fork-server children: the status pipe.
    status: Option<OwnedFd>,
    /// The fork server died without reporting the status: fall back to the pidfd.
    server_lost: AtomicBool,
    /// A thread is in a blocking `waitid` for this child (so ECHILD elsewhere means "being
    /// reaped", not "lost").
    reaping: AtomicBool,
    exit: Mutex<Option<i32>>,
}

impl fmt::Debug for ChildShared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildShared")
            .field("pid", &self.pid)
            .field("name", &self.name)
            .field("daemon", &self.daemon)
            .field("exit", &*self.exit.lock())
            .finish()
    }
}

/// Whether `fd` is readable (or hung up) before `deadline` (`None`: wait forever).
pub(crate) fn wait_readable(fd: BorrowedFd<'_>, deadline: Option<Instant>) -> bool {
    loop {
        let timeout = match deadline {
            None => PollTimeout::NONE,
            Some(d) => {
                let left = d.saturating_duration_since(Instant::now());
                let ms = left.as_nanos().div_ceil(1_000_000).min(i32::MAX as u128) as i32;
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX)
            }
        };
        let mut pfd = [PollFd::new(fd, PollFlags::POLLIN)];
        match poll(&mut pfd, timeout) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return false;
                }
            }
            Ok(_) => return true,
            Err(nix::errno::Errno::EINTR) => {}
            Err(_) => return true, // a broken descriptor: let the caller's reap decide
        }
    }
}

impl ChildShared {
    /// A child we forked or spawned.
    pub(crate) fn own(pid: u32, pidfd: OwnedFd, name: String, daemon: bool) -> Arc<ChildShared> {
        Arc::new(ChildShared {
            pid,
            name,
            daemon,
            owner: state().pid,
            pidfd,
            status: None,
            server_lost: AtomicBool::new(false),
            reaping: AtomicBool::new(false),
            exit: Mutex::new(None),
        })
    }

    /// A child forked by our fork server.
    pub(crate) fn via_server(
        pid: u32,
        pidfd: OwnedFd,
        status: OwnedFd,
        name: String,
        daemon: bool,
    ) -> Arc<ChildShared> {
        Arc::new(ChildShared {
            pid,
            name,
            daemon,
            owner: state().pid,
            pidfd,
            status: Some(status),
            server_lost: AtomicBool::new(false),
            reaping: AtomicBool::new(false),
            exit: Mutex::new(None),
        })
    }

    /// Whether the calling process started this child.
    pub(crate) fn owned_here(&self) -> bool {
        self.owner == state().pid
    }

    /// The exit code if it is already known (no system call).
    pub(crate) fn known_exit(&self) -> Option<i32> {
        *self.exit.lock()
    }

    /// The descriptor that becomes readable when the child has ended.
    pub(crate) fn sentinel(&self) -> BorrowedFd<'_> {
        match &self.status {
            Some(s) if !self.server_lost.load(Ordering::Relaxed) => s.as_fd(),
            _ => self.pidfd.as_fd(),
        }
    }

    /// Collects the exit status if the child has ended (never blocks). Removes a finished
    /// child from the registry.
    pub(crate) fn poll(&self) -> Option<i32> {
        let mut exit = self.exit.lock();
        if let Some(code) = *exit {
            return Some(code);
        }
        if !self.owned_here() {
            return None;
        }
        let code = self.collect()?;
        *exit = Some(code);
        drop(exit);
        state().unregister(self);
        Some(code)
    }

    fn collect(&self) -> Option<i32> {
        let Some(status) = &self.status else {
            return match sys::waitid_pidfd(self.pidfd.as_fd(), false) {
                Ok(r) => r,
                // Another thread's blocking join reaped it and is about to store the code.
                Err(e)
                    if e.raw_os_error() == Some(libc::ECHILD)
                        && self.reaping.load(Ordering::SeqCst) =>
                {
                    None
                }
                Err(e) => {
                    log::warn!("procpool: cannot reap child {}: {e}", self.pid);
                    Some(UNKNOWN_EXIT)
                }
            };
        };
        if !self.server_lost.load(Ordering::Relaxed) {
            if !wait_readable(status.as_fd(), Some(Instant::now())) {
                return None;
            }
            let mut buf = [0u8; 4];
            match nix::unistd::read(status, &mut buf) {
                Ok(4) => return Some(i32::from_le_bytes(buf)),
                _ => {
                    // The server died before reporting: watch the process itself.
                    self.server_lost.store(true, Ordering::Relaxed);
                }
            }
        }
        if wait_readable(self.pidfd.as_fd(), Some(Instant::now())) {
            Some(UNKNOWN_EXIT)
        } else {
            None
        }
    }

    /// Waits until the child ends or `deadline` passes; returns its exit code if it ended.
    pub(crate) fn wait(&self, deadline: Option<Instant>) -> Option<i32> {
        if deadline.is_none() && self.status.is_none() && self.owned_here() {
            // Fast path for a plain join of our own child: one blocking `waitid`, without
            // holding the lock (other threads may poll meanwhile). If another thread reaps the
            // child first, this gets ECHILD and the loop below finds the stored code.
            if self.known_exit().is_none() {
                self.reaping.store(true, Ordering::SeqCst);
                let r = sys::waitid_pidfd(self.pidfd.as_fd(), true);
                if let Ok(Some(code)) = r {
                    let mut exit = self.exit.lock();
                    if exit.is_none() {
                        *exit = Some(code);
                        drop(exit);
                        state().unregister(self);
                    }
                }
                self.reaping.store(false, Ordering::SeqCst);
            }
        }
        loop {
            if let Some(code) = self.poll() {
                return Some(code);
            }
            if !self.owned_here() {
                return None;
            }
            if !wait_readable(self.sentinel(), deadline) {
                return self.poll();
            }
        }
    }

    /// Sends `sig` unless the child is known to have ended.
    pub(crate) fn signal(&self, sig: Signal) {
        if self.known_exit().is_some() {
            return;
        }
        if let Err(e) = sys::pidfd_send_signal(self.pidfd.as_fd(), sig) {
            if e.raw_os_error() != Some(libc::ESRCH) {
                log::warn!("procpool: cannot signal child {}: {e}", self.pid);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// registry

/// Reaps finished children of this process (Python's `_cleanup`).
pub(crate) fn sweep(st: &ProcState) {
    let list: Vec<Arc<ChildShared>> = st.children.lock().clone();
    for c in list {
        c.poll();
    }
}

/// A child of this process that is still running, as listed by [`active_children`].
///
/// It can be inspected and signalled; joining it is the business of its
/// [`Process`](crate::Process) handle.
#[derive(Clone)]
pub struct ActiveChild {
    shared: Arc<ChildShared>,
}

impl ActiveChild {
    /// The child's name.
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.shared.pid
    }

    /// Whether the child is a daemon.
    pub fn daemon(&self) -> bool {
        self.shared.daemon
    }

    /// Whether the child is still running (reaps it if it has ended).
    pub fn is_alive(&self) -> bool {
        self.shared.poll().is_none()
    }

    /// The exit code, once the child has ended.
    pub fn exitcode(&self) -> Option<i32> {
        self.shared.poll()
    }

    /// Sends `SIGTERM`.
    pub fn terminate(&self) {
        self.shared.signal(Signal::SIGTERM);
    }

    /// Sends `SIGKILL`.
    pub fn kill(&self) {
        self.shared.signal(Signal::SIGKILL);
    }
}

impl fmt::Display for ActiveChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "<Process name='{}' pid={} parent={} ",
            self.shared.name, self.shared.pid, self.shared.owner
        )?;
        match self.shared.poll() {
            None => f.write_str("started")?,
            Some(code) => write!(f, "stopped exitcode={}", ExitCodeName(code))?,
        }
        if self.shared.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

impl fmt::Debug for ActiveChild {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The children of this process that are still running, in creation order (Python's
/// `multiprocessing.active_children()`). Finished children are reaped on the way.
///
/// ```
/// use procpool::{active_children, Process};
/// fn nap(ms: u64) { std::thread::sleep(std::time::Duration::from_millis(ms)); }
/// let mut p = Process::new(nap, 5_000);
/// p.start()?;
/// assert!(active_children().iter().any(|c| Some(c.pid()) == p.pid()));
/// p.kill()?;
/// p.join()?;
/// assert!(active_children().iter().all(|c| Some(c.pid()) != p.pid()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn active_children() -> Vec<ActiveChild> {
    let st = state();
    sweep(st);
    st.children
        .lock()
        .iter()
        .map(|c| ActiveChild { shared: c.clone() })
        .collect()
}

/// Formats an exit code as Python does: `-SIGTERM` for death by a known signal.
pub(crate) struct ExitCodeName(pub(crate) i32);

impl fmt::Display for ExitCodeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 < 0 {
            if let Ok(sig) = Signal::try_from(-self.0) {
                return write!(f, "-{}", sig.as_str());
            }
        }
        write!(f, "{}", self.0)
    }
}

// ---------------------------------------------------------------------------------------------
// exit path

/// Ends this process's children as Python does when a process exits: daemon children are
/// terminated (SIGTERM, then SIGKILL after a grace period), non-daemon children are waited for.
pub(crate) fn end_children() {
    let st = state();
    let list: Vec<Arc<ChildShared>> = {
        let children = st.children.lock();
        if children.is_empty() {
            return;
        }
        children.clone()
    };
    let daemons: Vec<_> = list.iter().filter(|c| c.daemon).collect();
    for d in &daemons {
        if d.poll().is_none() {
            d.signal(Signal::SIGTERM);
        }
    }
    let grace = Instant::now() + DAEMON_GRACE;
    for d in &daemons {
        if d.wait(Some(grace)).is_none() {
            d.signal(Signal::SIGKILL);
            d.wait(Some(Instant::now() + Duration::from_secs(5)));
        }
    }
    for c in list.iter().filter(|c| !c.daemon) {
        c.wait(None);
    }
}

extern "C" fn at_exit() {
    // Never unwind out of an `extern "C"` function.
    let _ = std::panic::catch_unwind(end_children);
}

/// Registers the exit handler once per program (a forked child inherits the registration,
/// a spawned one makes its own).
pub(crate) fn ensure_atexit() {
    static DONE: std::sync::Once = std::sync::Once::new();
    DONE.call_once(|| {
        if let Err(e) = sys::register_atexit(at_exit) {
            log::warn!("procpool: {e}; children will not be ended at exit");
        }
    });
}

// ---------------------------------------------------------------------------------------------
// reaper

/// A background thread that reaps children whose handles were dropped before they ended, so
/// that no zombie is left behind.
pub(crate) struct Reaper {
    tx: Sender<Arc<ChildShared>>,
    wake: Arc<EventFd>,
}

impl Reaper {
    fn start() -> io::Result<Reaper> {
        let (tx, rx) = crossbeam_channel::unbounded();
        let wake = Arc::new(EventFd::from_flags(
            EfdFlags::EFD_CLOEXEC | EfdFlags::EFD_NONBLOCK,
        )?);
        let w = wake.clone();
        std::thread::Builder::new()
            .name("procpool-reaper".into())
            .stack_size(64 * 1024)
            .spawn(move || reap_loop(rx, w))?;
        Ok(Reaper { tx, wake })
    }

    fn adopt(&self, child: Arc<ChildShared>) {
        if self.tx.send(child).is_ok() {
            let _ = self.wake.write(1);
        }
    }
}

fn reap_loop(rx: Receiver<Arc<ChildShared>>, wake: Arc<EventFd>) {
    let mut orphans: Vec<Arc<ChildShared>> = Vec::new();
    loop {
        while let Ok(c) = rx.try_recv() {
            orphans.push(c);
        }
        orphans.retain(|c| c.poll().is_none());
        let mut fds = vec![PollFd::new(wake.as_fd(), PollFlags::POLLIN)];
        fds.extend(
            orphans
                .iter()
                .map(|c| PollFd::new(c.sentinel(), PollFlags::POLLIN)),
        );
        let _ = poll(&mut fds, PollTimeout::NONE);
        let _ = wake.read();
    }
}

/// Hands a child whose handle is gone to the reaper (falls back to the registry sweeps and the
/// exit path if no thread can be started).
pub(crate) fn adopt_orphan(child: Arc<ChildShared>) {
    if child.poll().is_some() {
        return;
    }
    let reaper = state().reaper.get_or_init(|| match Reaper::start() {
        Ok(r) => Some(r),
        Err(e) => {
            log::warn!("procpool: cannot start the reaper thread: {e}");
            None
        }
    });
    if let Some(r) = reaper {
        r.adopt(child);
    }
}

#[cfg(test)]
mod tests {
    use super::ExitCodeName;

    #[test]
    fn exit_codes_are_named_like_python() {
        assert_eq!(ExitCodeName(0).to_string(), "0");
        assert_eq!(ExitCodeName(3).to_string(), "3");
        assert_eq!(ExitCodeName(-15).to_string(), "-SIGTERM");
        assert_eq!(ExitCodeName(-9).to_string(), "-SIGKILL");
        assert_eq!(ExitCodeName(-200).to_string(), "-200");
    }
}
