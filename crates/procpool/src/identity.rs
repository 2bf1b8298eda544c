//! Who this process is: [`current_process`], [`parent_process`], [`cpu_count`], and the
//! per-process state behind them (the registry of children, the reaper, the launcher thread,
//! the fork-server connection).
//!
//! The state lives in a leaked, replaceable cell: a forked child installs a fresh one without
//! touching any lock that another thread of the parent may have held at the moment of the fork,
//! and a `pthread_atfork` handler empties the cell in children forked by other means, so they
//! start with a fresh state too.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Once, OnceLock};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::child::{ChildShared, Reaper};
use crate::context::StartMethod;
use crate::forkserver::ServerConn;
use crate::launcher::Launcher;
use crate::sys::{self, LeakedCell};

/// What a child needs to know about itself; sent by the parent under every start method.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ChildSetup {
    pub(crate) name: String,
    pub(crate) ident: Vec<u32>,
    pub(crate) daemon: bool,
    pub(crate) parent_pid: u32,
    pub(crate) parent_name: String,
    pub(crate) method: StartMethod,
    /// The parent's `set_start_method` choice, carried to children that do not inherit
    /// memory (Python's spawn `prepare` does the same).
    pub(crate) default_method: Option<StartMethod>,
}

/// Per-process bookkeeping.
pub(crate) struct ProcState {
    pub(crate) pid: u32,
    /// `None` in the main process.
    pub(crate) setup: Option<ChildSetup>,
    counter: AtomicU32,
    pub(crate) children: Mutex<Vec<Arc<ChildShared>>>,
    pub(crate) reaper: OnceLock<Option<Reaper>>,
    pub(crate) launcher: OnceLock<Option<Launcher>>,
    pub(crate) forkserver: Mutex<Option<ServerConn>>,
}

static STATE: LeakedCell<ProcState> = LeakedCell::new();
static ATFORK: Once = Once::new();

extern "C" fn forget_state_after_fork() {
    // Async-signal-safe: one atomic store (the old state is leaked).
    STATE.clear();
}

impl ProcState {
    fn new(setup: Option<ChildSetup>) -> ProcState {
        ATFORK.call_once(|| sys::register_atfork_child(forget_state_after_fork));
        ProcState {
            pid: std::process::id(),
            setup,
            counter: AtomicU32::new(0),
            children: Mutex::new(Vec::new()),
            reaper: OnceLock::new(),
            launcher: OnceLock::new(),
            forkserver: Mutex::new(None),
        }
    }

    /// The next child number (1, 2, ...), in creation order.
    pub(crate) fn next_count(&self) -> u32 {
        self.counter.fetch_add(1, Ordering::Relaxed) + 1
    }

    pub(crate) fn is_daemon(&self) -> bool {
        self.setup.as_ref().is_some_and(|s| s.daemon)
    }

    pub(crate) fn name(&self) -> &str {
        self.setup
            .as_ref()
            .map_or("MainProcess", |s| s.name.as_str())
    }

    pub(crate) fn ident(&self) -> &[u32] {
        self.setup.as_ref().map_or(&[], |s| s.ident.as_slice())
    }

    pub(crate) fn register(&self, child: Arc<ChildShared>) {
        self.children.lock().push(child);
    }

    pub(crate) fn unregister(&self, child: &ChildShared) {
        self.children
            .lock()
            .retain(|c| !std::ptr::eq(Arc::as_ptr(c), child));
    }
}

/// This process's state (created on first use).
pub(crate) fn state() -> &'static ProcState {
    STATE.get_or_init(|| ProcState::new(None))
}

/// A child's state, built before the child starts (under fork, in the parent: the child then
/// only publishes it, touching as little memory as possible, since every page it writes is a
/// copy-on-write fault).
pub(crate) struct PreparedState {
    state: Box<ProcState>,
    /// Known to be inherited ignored (fork), so the child need not ignore it again.
    pub(crate) sigpipe_ignored: bool,
}

impl PreparedState {
    pub(crate) fn new(setup: ChildSetup) -> PreparedState {
        PreparedState {
            state: Box::new(ProcState::new(Some(setup))),
            sigpipe_ignored: false,
        }
    }

    pub(crate) fn setup(&self) -> &ChildSetup {
        self.state
            .setup
            .as_ref()
            .expect("a child's state has a setup")
    }

    /// Publishes the state in the (new) child process that runs this.
    pub(crate) fn install(self) -> &'static ProcState {
        let mut st = self.state;
        st.pid = std::process::id();
        STATE.set_boxed(st)
    }
}

/// The current process, as Python's `multiprocessing.current_process()`: name, pid, daemon
/// flag, identity and the start method that created it. A snapshot.
///
/// ```
/// let me = procpool::current_process();
/// assert_eq!(me.name(), "MainProcess");
/// assert_eq!(me.pid(), std::process::id());
/// assert!(me.start_method().is_none());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentProcess {
    name: String,
    pid: u32,
    daemon: bool,
    ident: Vec<u32>,
    parent_pid: Option<u32>,
    start_method: Option<StartMethod>,
}

impl CurrentProcess {
    /// `MainProcess` in the main process; the child's name (`Process-1`, `Process-1:2`, a
    /// custom name...) in a child.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether this process is a daemon (which may not start children).
    pub fn daemon(&self) -> bool {
        self.daemon
    }

    /// Python's `_identity`: empty in the main process, `[1]` for its first child, `[1, 2]` for
    /// that child's second child, and so on.
    pub fn ident(&self) -> &[u32] {
        &self.ident
    }

    /// The start method that created this process; `None` in the main process.
    pub fn start_method(&self) -> Option<StartMethod> {
        self.start_method
    }

    /// Whether this is the main process (not started by procpool).
    pub fn is_main(&self) -> bool {
        self.start_method.is_none()
    }
}

impl fmt::Display for CurrentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = if self.is_main() {
            "_MainProcess"
        } else {
            "Process"
        };
        write!(f, "<{kind} name='{}' parent=", self.name)?;
        match self.parent_pid {
            Some(p) => write!(f, "{p}")?,
            None => f.write_str("None")?,
        }
        f.write_str(" started")?;
        if self.daemon {
            f.write_str(" daemon")?;
        }
        f.write_str(">")
    }
}

/// The process this code runs in (Python's `multiprocessing.current_process()`).
pub fn current_process() -> CurrentProcess {
    let st = state();
    CurrentProcess {
        name: st.name().to_owned(),
        pid: st.pid,
        daemon: st.is_daemon(),
        ident: st.ident().to_vec(),
        parent_pid: st.setup.as_ref().map(|s| s.parent_pid),
        start_method: st.setup.as_ref().map(|s| s.method),
    }
}

/// The process that started this one (Python's `multiprocessing.parent_process()`).
///
/// Under the fork server method this is the logical parent (the process that asked for the
/// child), not the server that forked it.
///
/// ```
/// use procpool::{Process, parent_process};
///
/// fn check_parent(expected: u32) -> procpool::ExitCode {
///     let parent = parent_process().expect("a child has a parent");
///     assert_eq!(parent.name(), "MainProcess");
///     procpool::ExitCode(i32::from(parent.pid() == expected && parent.is_alive()))
/// }
///
/// let mut p = Process::new(check_parent, std::process::id());
/// p.start()?;
/// assert_eq!(p.join()?, 1);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParentProcess {
    pid: u32,
    name: String,
}

impl ParentProcess {
    /// The parent's pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The parent's name (`MainProcess` for the main process).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the parent is still running (a snapshot; a zombie counts as dead).
    pub fn is_alive(&self) -> bool {
        pid_alive(self.pid)
    }
}

impl fmt::Display for ParentProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<_ParentProcess name='{}' pid={}>", self.name, self.pid)
    }
}

/// The parent of this process, or `None` in the main process.
///
/// ```
/// assert!(procpool::parent_process().is_none()); // this doctest is the main process
/// ```
pub fn parent_process() -> Option<ParentProcess> {
    state().setup.as_ref().map(|s| ParentProcess {
        pid: s.parent_pid,
        name: s.parent_name.clone(),
    })
}

/// The number of CPUs this process may run on (its affinity mask and cgroup quota taken into
/// account), at least 1. This is the default size of a pool.
///
/// ```
/// assert!(procpool::cpu_count() >= 1);
/// ```
pub fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Whether process `pid` exists and has not terminated (a zombie counts as dead).
pub(crate) fn pid_alive(pid: u32) -> bool {
    if pid == 0 {
        return false;
    }
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(stat) => match stat.iter().rposition(|&b| b == b')') {
            Some(i) => !matches!(stat.get(i + 2), Some(b'Z' | b'X' | b'x')),
            None => true,
        },
        Err(e) => e.kind() != std::io::ErrorKind::NotFound,
    }
}
