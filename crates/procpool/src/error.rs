//! Errors of [`Process`](crate::Process) operations: one small type per operation.

use std::fmt;
use std::io;

use ipc_core::codec::EncodeError;

/// Misuse of a [`Process`](crate::Process) handle (Python raises `ValueError` or
/// `AssertionError` for these).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProcessError {
    /// The process has not been started (for instance `join` before `start`).
    NotStarted,
    /// The process has already been started (for instance `set_daemon` after `start`).
    AlreadyStarted,
    /// The process handle was closed with [`close`](crate::Process::close).
    Closed,
    /// `close` was called while the process is still running.
    StillRunning,
    /// The handle belongs to another process (it was inherited through `fork`); only the
    /// process that created a child may join, signal or close it.
    NotParent,
}

impl fmt::Display for ProcessError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ProcessError::NotStarted => "the process has not been started",
            ProcessError::AlreadyStarted => "the process has already been started",
            ProcessError::Closed => "the process object is closed",
            ProcessError::StillRunning => "cannot close a process while it is still running",
            ProcessError::NotParent => "the process is not a child of this process",
        })
    }
}
impl std::error::Error for ProcessError {}

/// [`join_timeout`](crate::Process::join_timeout) or
/// [`join_deadline`](crate::Process::join_deadline) failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JoinTimeoutError {
    /// The process was still running at the deadline (it keeps running: joining never kills).
    Timeout,
    /// The handle was misused.
    Process(ProcessError),
}

impl JoinTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, JoinTimeoutError::Timeout)
    }
}

impl From<ProcessError> for JoinTimeoutError {
    fn from(e: ProcessError) -> Self {
        JoinTimeoutError::Process(e)
    }
}

impl fmt::Display for JoinTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JoinTimeoutError::Timeout => f.write_str("timed out waiting for the process to end"),
            JoinTimeoutError::Process(e) => e.fmt(f),
        }
    }
}
impl std::error::Error for JoinTimeoutError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JoinTimeoutError::Timeout => None,
            JoinTimeoutError::Process(e) => Some(e),
        }
    }
}

/// [`start`](crate::Process::start) failed; the process was not started (and may be started
/// again if the cause was transient).
///
/// ```
/// use procpool::{Process, StartError, StartMethod};
///
/// let mut p = Process::from_fn(|| ()).with_start_method(StartMethod::Spawn);
/// assert!(matches!(p.start(), Err(StartError::ForkOnly))); // a closure cannot be sent
///
/// fn noop(_: ()) {}
/// let mut p = Process::new(noop, ());
/// p.start()?;
/// assert!(matches!(p.start(), Err(StartError::AlreadyStarted)));
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum StartError {
    /// `start` was called twice.
    AlreadyStarted,
    /// The handle was closed.
    Closed,
    /// The handle was created by another process (inherited through `fork`).
    NotParent,
    /// Daemon processes are not allowed to have children (as in Python).
    DaemonicParent,
    /// A closure ([`Process::from_fn`](crate::Process::from_fn)) can only be started with the
    /// fork start method: under spawn and the fork server the child does not share the parent's
    /// memory, and a closure's captured state cannot be sent.
    ForkOnly,
    /// The arguments could not be encoded for the child.
    Encode(EncodeError),
    /// The operating system refused (fork or exec failed, descriptor limit, the fork server
    /// could not be started...).
    Os(io::Error),
}

impl StartError {
    /// The same error as a [`ProcessError`], when it is a misuse of the handle.
    pub fn as_process_error(&self) -> Option<ProcessError> {
        match self {
            StartError::AlreadyStarted => Some(ProcessError::AlreadyStarted),
            StartError::Closed => Some(ProcessError::Closed),
            StartError::NotParent => Some(ProcessError::NotParent),
            _ => None,
        }
    }
}

impl fmt::Display for StartError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StartError::AlreadyStarted => f.write_str("processes can only be started once"),
            StartError::Closed => f.write_str("the process object is closed"),
            StartError::NotParent => {
                f.write_str("can only start a process object created by the current process")
            }
            StartError::DaemonicParent => {
                f.write_str("daemonic processes are not allowed to have children")
            }
            StartError::ForkOnly => f.write_str(
                "a closure can only be started with the fork start method; use a function \
                 with serialisable arguments (Process::new) or a Run type",
            ),
            StartError::Encode(e) => write!(f, "cannot send the arguments to the child: {e}"),
            StartError::Os(e) => write!(f, "cannot start the process: {e}"),
        }
    }
}

impl std::error::Error for StartError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            StartError::Encode(e) => Some(e),
            StartError::Os(e) => Some(e),
            _ => None,
        }
    }
}

impl From<EncodeError> for StartError {
    fn from(e: EncodeError) -> Self {
        StartError::Encode(e)
    }
}

impl From<io::Error> for StartError {
    fn from(e: io::Error) -> Self {
        StartError::Os(e)
    }
}
