//! What travels between the pool and its workers, and the task errors users see.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};

use ipc_core::ByteBuf;
use ipc_core::code::CodeRef;
use ipc_core::codec;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Why a task produced no value.
///
/// ```
/// use procpool::{Pool, TaskError};
///
/// fn crash(_: ()) -> u32 { std::process::abort() } // as if the OOM killer struck
///
/// let pool = Pool::new(1)?;
/// match pool.apply(crash, ()) {
///     Err(procpool::ApplyError::Task(TaskError::WorkerLost { signal, .. })) => {
///         assert_eq!(signal, Some(6)); // SIGABRT
///     }
///     other => panic!("{other:?}"),
/// }
/// assert_eq!(pool.replacements(), 1); // a new worker took its place
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TaskError {
    /// The task panicked in the worker. The worker survives and goes on.
    Panicked {
        /// The panic message, with its location.
        message: String,
        /// The backtrace text, when `RUST_BACKTRACE` enabled one in the worker.
        backtrace: Option<String>,
    },
    /// The worker running the task died (killed by a signal, out of memory, aborted, exited).
    /// A replacement worker was started; other tasks are unaffected. (Python's pool hangs
    /// forever here.)
    WorkerLost {
        /// The dead worker's pid.
        pid: u32,
        /// The signal that killed it, if any.
        signal: Option<i32>,
        /// Its exit code, if it exited.
        exit_code: Option<i32>,
    },
    /// The task ran longer than the pool's task time limit; its worker was killed and
    /// replaced.
    TimeLimit {
        /// The limit, in milliseconds.
        limit_ms: u64,
        /// The pid of the worker that was killed.
        pid: u32,
    },
    /// The task's arguments could not be decoded in the worker.
    BadArguments(String),
    /// The task's result could not be encoded in the worker, or decoded in the parent.
    BadResult(String),
    /// The pool was terminated before the task finished.
    Terminated,
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::Panicked { message, .. } => write!(f, "task panicked: {message}"),
            TaskError::WorkerLost {
                pid,
                signal: Some(s),
                ..
            } => {
                write!(f, "worker {pid} died (signal {s}) while running the task")
            }
            TaskError::WorkerLost { pid, exit_code, .. } => {
                write!(
                    f,
                    "worker {pid} exited ({exit_code:?}) while running the task"
                )
            }
            TaskError::TimeLimit { limit_ms, pid } => {
                write!(
                    f,
                    "task exceeded its {limit_ms} ms time limit; worker {pid} was killed"
                )
            }
            TaskError::BadArguments(e) => write!(f, "cannot decode task arguments: {e}"),
            TaskError::BadResult(e) => write!(f, "cannot transfer task result: {e}"),
            TaskError::Terminated => f.write_str("the pool was terminated"),
        }
    }
}

impl std::error::Error for TaskError {}

/// The worker-side entry for one kind of task: decodes the arguments, runs the function on
/// each, and encodes the results.
pub(crate) type Entry = fn(i64, Vec<u8>) -> Result<Vec<u8>, TaskError>;

/// The worker-side entry for an initializer: decodes its arguments (which may hold queues,
/// locks and other process-shared objects, delivered as descriptors) and runs it.
pub(crate) type InitEntry = fn(i64, Vec<u8>, Vec<std::os::fd::OwnedFd>) -> Result<(), TaskError>;

/// A message from the pool to one worker.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) enum ToWorker {
    /// Run a chunk of calls.
    Task {
        /// Pool-wide sequence number of this dispatch.
        seq: u64,
        /// `CodeRef<Entry>` as raw.
        entry: i64,
        /// `CodeRef<fn(A) -> R>` as raw.
        func: i64,
        /// Encoded `Vec<A>`.
        payload: ByteBuf,
    },
    /// Finish and exit.
    Stop,
}

/// [`ToWorker`] as the parent encodes it, borrowing the task's payload instead of copying it
/// (same variants, same fields, so the same encoding).
#[derive(Debug, Serialize)]
pub(crate) enum ToWorkerRef<'a> {
    /// [`ToWorker::Task`].
    Task {
        seq: u64,
        entry: i64,
        func: i64,
        payload: &'a ipc_core::Bytes,
    },
}

/// A message from a worker to the pool.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct FromWorker {
    pub(crate) seq: u64,
    /// How long the task ran in the worker, in nanoseconds.
    pub(crate) busy_ns: u64,
    /// Encoded `Vec<R>`, or why not.
    pub(crate) outcome: Result<ByteBuf, TaskError>,
}

/// A task kind ready to send: the entry and function as raw code references.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Code {
    pub(crate) entry: i64,
    pub(crate) func: i64,
}

impl Code {
    pub(crate) fn of<A, R>(f: fn(A) -> R) -> Code
    where
        A: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        Code {
            entry: CodeRef::new(run_chunk::<A, R> as Entry).to_raw(),
            func: CodeRef::new(f).to_raw(),
        }
    }

    /// The initializer `f`, whose arguments travel with their descriptors.
    pub(crate) fn init_of<A>(f: fn(A)) -> Code
    where
        A: Serialize + DeserializeOwned + 'static,
    {
        Code {
            entry: CodeRef::new(run_init::<A> as InitEntry).to_raw(),
            func: CodeRef::new(f).to_raw(),
        }
    }

    pub(crate) fn of2<A, B, R>(f: fn(A, B) -> R) -> Code
    where
        A: Serialize + DeserializeOwned + 'static,
        B: Serialize + DeserializeOwned + 'static,
        R: Serialize + DeserializeOwned + 'static,
    {
        Code {
            entry: CodeRef::new(run_chunk2::<A, B, R> as Entry).to_raw(),
            func: CodeRef::new(f).to_raw(),
        }
    }
}

std::thread_local! {
    static LAST_PANIC: std::cell::RefCell<Option<(String, Option<String>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Installs, in a worker, a panic hook that records the message, location and backtrace of a
/// task's panic for the pool instead of printing it.
pub(crate) fn install_worker_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let msg = if let Some(s) = info.payload().downcast_ref::<&str>() {
            (*s).to_string()
        } else if let Some(s) = info.payload().downcast_ref::<String>() {
            s.clone()
        } else {
            "Box<dyn Any>".to_string()
        };
        let msg = match info.location() {
            Some(l) => format!("{msg} (at {}:{}:{})", l.file(), l.line(), l.column()),
            None => msg,
        };
        let bt = std::backtrace::Backtrace::capture();
        let bt = (bt.status() == std::backtrace::BacktraceStatus::Captured).then(|| bt.to_string());
        LAST_PANIC.with(|p| *p.borrow_mut() = Some((msg, bt)));
    }));
}

fn take_panic() -> TaskError {
    let (message, backtrace) = LAST_PANIC
        .with(|p| p.borrow_mut().take())
        .unwrap_or_else(|| ("unknown panic".to_string(), None));
    TaskError::Panicked { message, backtrace }
}

/// Runs `f` (passed as a raw code reference) on each decoded argument. The first panic fails
/// the whole chunk, as the first exception fails Python's `map`.
fn run_chunk<A, R>(func: i64, payload: Vec<u8>) -> Result<Vec<u8>, TaskError>
where
    A: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let f: fn(A) -> R = crate::sys::trusted_code(func);
    let args: Vec<A> =
        codec::decode(&payload).map_err(|e| TaskError::BadArguments(e.to_string()))?;
    let mut out = Vec::with_capacity(args.len());
    for a in args {
        match catch_unwind(AssertUnwindSafe(|| f(a))) {
            Ok(r) => out.push(r),
            Err(_) => return Err(take_panic()),
        }
    }
    codec::encode(&out).map_err(|e| TaskError::BadResult(e.to_string()))
}

/// [`run_chunk`] for functions of two arguments, over pairs (`starmap`).
fn run_chunk2<A, B, R>(func: i64, payload: Vec<u8>) -> Result<Vec<u8>, TaskError>
where
    A: Serialize + DeserializeOwned + 'static,
    B: Serialize + DeserializeOwned + 'static,
    R: Serialize + DeserializeOwned + 'static,
{
    let f: fn(A, B) -> R = crate::sys::trusted_code(func);
    let args: Vec<(A, B)> =
        codec::decode(&payload).map_err(|e| TaskError::BadArguments(e.to_string()))?;
    let mut out = Vec::with_capacity(args.len());
    for (a, b) in args {
        match catch_unwind(AssertUnwindSafe(|| f(a, b))) {
            Ok(r) => out.push(r),
            Err(_) => return Err(take_panic()),
        }
    }
    codec::encode(&out).map_err(|e| TaskError::BadResult(e.to_string()))
}

/// Runs an initializer `f` (a raw code reference) on its arguments, encoded by
/// `encode_with_fds` in the pool's parent with the descriptor table `fds`.
fn run_init<A>(func: i64, payload: Vec<u8>, fds: Vec<std::os::fd::OwnedFd>) -> Result<(), TaskError>
where
    A: Serialize + DeserializeOwned + 'static,
{
    let f: fn(A) = crate::sys::trusted_code(func);
    let args: A = crate::sys::decode_trusted(&payload, fds)
        .map_err(|e| TaskError::BadArguments(e.to_string()))?;
    catch_unwind(AssertUnwindSafe(|| f(args))).map_err(|_| take_panic())
}

/// Runs an initializer entry received from the parent.
pub(crate) fn run_init_entry(
    entry: i64,
    func: i64,
    payload: Vec<u8>,
    fds: Vec<std::os::fd::OwnedFd>,
) -> Result<(), TaskError> {
    let e: InitEntry = crate::sys::trusted_code(entry);
    e(func, payload, fds)
}

/// Runs an entry received from the parent.
pub(crate) fn run_entry(entry: i64, func: i64, payload: Vec<u8>) -> Result<Vec<u8>, TaskError> {
    let e: Entry = crate::sys::trusted_code(entry);
    e(func, payload)
}
