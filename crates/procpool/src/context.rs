//! Start methods and contexts: [`StartMethod`], [`Context`], [`get_context`],
//! [`set_start_method`], [`get_start_method`].

use std::fmt;
use std::io;
use std::str::FromStr;
use std::sync::atomic::{AtomicU8, Ordering};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::process::Process;
use crate::target::{Exit, Run};

/// How a child process is created (Python's start methods on Linux).
///
/// * [`Fork`](StartMethod::Fork) — the default: the child is a copy of the parent made by
///   `fork(2)` and runs the target at once. The fastest, and the only method that can run
///   closures that capture state ([`Process::from_fn`]). Unsafe in spirit for a multi-threaded
///   parent (see the crate docs).
/// * [`Spawn`](StartMethod::Spawn) — the current binary is executed afresh and runs only the
///   target, with its arguments sent over. Clean and thread-safe, slower to start (an `exec`).
/// * [`ForkServer`](StartMethod::ForkServer) — a small single-threaded server process, started
///   by spawn on first use, forks each child on request. Thread-safe and nearly as fast as
///   fork.
///
/// ```
/// use procpool::{StartMethod, current_process, get_context};
///
/// fn report(_: ()) -> procpool::ExitCode {
///     // A child knows how it was started.
///     let code = match current_process().start_method() {
///         Some(StartMethod::Fork) => 1,
///         Some(StartMethod::Spawn) => 2,
///         Some(StartMethod::ForkServer) => 3,
///         None => 0,
///     };
///     procpool::ExitCode(code)
/// }
///
/// for (method, code) in StartMethod::ALL.into_iter().zip(1..) {
///     assert_eq!(method.as_str().parse::<StartMethod>(), Ok(method)); // "fork", ...
///     let mut p = get_context(method).process(report, ());
///     p.start()?;
///     assert_eq!(p.join()?, code);
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StartMethod {
    /// `fork(2)` the current process.
    Fork,
    /// Re-execute the current binary.
    Spawn,
    /// Ask a single-threaded fork server to fork the child.
    ForkServer,
}

impl StartMethod {
    /// Every start method, in Python's order of `get_all_start_methods()` on Linux.
    pub const ALL: [StartMethod; 3] = [
        StartMethod::Fork,
        StartMethod::Spawn,
        StartMethod::ForkServer,
    ];

    /// Python's name for the method: `"fork"`, `"spawn"` or `"forkserver"`.
    pub fn as_str(self) -> &'static str {
        match self {
            StartMethod::Fork => "fork",
            StartMethod::Spawn => "spawn",
            StartMethod::ForkServer => "forkserver",
        }
    }

    fn code(self) -> u8 {
        match self {
            StartMethod::Fork => 1,
            StartMethod::Spawn => 2,
            StartMethod::ForkServer => 3,
        }
    }

    fn from_code(c: u8) -> Option<StartMethod> {
        match c {
            1 => Some(StartMethod::Fork),
            2 => Some(StartMethod::Spawn),
            3 => Some(StartMethod::ForkServer),
            _ => None,
        }
    }
}

impl fmt::Display for StartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str()) // honours width and alignment: {:>10}
    }
}

/// A name that is not a start method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownStartMethod;

impl fmt::Display for UnknownStartMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("unknown start method (expected fork, spawn or forkserver)")
    }
}
impl std::error::Error for UnknownStartMethod {}

impl FromStr for StartMethod {
    type Err = UnknownStartMethod;

    /// Parses Python's names: `"fork"`, `"spawn"`, `"forkserver"`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "fork" => Ok(StartMethod::Fork),
            "spawn" => Ok(StartMethod::Spawn),
            "forkserver" => Ok(StartMethod::ForkServer),
            _ => Err(UnknownStartMethod),
        }
    }
}

/// 0: not set (the default, Fork, applies); otherwise a `StartMethod::code`.
static DEFAULT: AtomicU8 = AtomicU8::new(0);

/// [`set_start_method`] was called when the start method was already set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AlreadySet(pub StartMethod);

impl fmt::Display for AlreadySet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the start method has already been set (to {})", self.0)
    }
}
impl std::error::Error for AlreadySet {}

/// Sets the start method used by [`Process::new`] and friends (Python's
/// `multiprocessing.set_start_method`). Like Python, it may be set only once: a second call
/// is an error, even with the same method; use [`set_start_method_force`] to change it.
///
/// ```
/// use procpool::StartMethod;
/// procpool::set_start_method(StartMethod::Spawn)?;
/// assert_eq!(procpool::get_start_method(), StartMethod::Spawn);
/// assert!(procpool::set_start_method(StartMethod::Fork).is_err());
/// # Ok::<(), procpool::AlreadySet>(())
/// ```
pub fn set_start_method(method: StartMethod) -> Result<(), AlreadySet> {
    match DEFAULT.compare_exchange(0, method.code(), Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Ok(()),
        Err(cur) => Err(AlreadySet(
            StartMethod::from_code(cur).unwrap_or(StartMethod::Fork),
        )),
    }
}

/// Sets the start method even if it was set before (Python's `force=True`).
pub fn set_start_method_force(method: StartMethod) {
    DEFAULT.store(method.code(), Ordering::Release);
}

/// The start method that [`Process::new`] uses: the one set with [`set_start_method`], else
/// [`StartMethod::Fork`] (Python's default on Linux up to 3.13).
pub fn get_start_method() -> StartMethod {
    explicit_default().unwrap_or(StartMethod::Fork)
}

pub(crate) fn explicit_default() -> Option<StartMethod> {
    StartMethod::from_code(DEFAULT.load(Ordering::Acquire))
}

/// In a child that did not inherit the parent's memory: adopt the parent's choice.
pub(crate) fn inherit_default(method: Option<StartMethod>) {
    DEFAULT.store(method.map_or(0, StartMethod::code), Ordering::Release);
}

/// A start method bound to the objects it creates (Python's `multiprocessing.get_context`).
///
/// ```
/// use procpool::{get_context, StartMethod};
/// fn hello(who: String) { println!("hello, {who}"); }
///
/// let ctx = get_context(StartMethod::ForkServer);
/// let mut p = ctx.process(hello, "world".to_string());
/// p.start()?;
/// assert_eq!(p.join()?, 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Context {
    method: StartMethod,
}

/// A context for `method`.
pub fn get_context(method: StartMethod) -> Context {
    Context { method }
}

impl Context {
    /// The start method of this context.
    pub fn start_method(&self) -> StartMethod {
        self.method
    }

    /// [`Process::new`] with this context's start method.
    pub fn process<A, R>(&self, target: fn(A) -> R, args: A) -> Process
    where
        A: Serialize + DeserializeOwned + Send + 'static,
        R: Exit + 'static,
    {
        Process::new(target, args).with_start_method(self.method)
    }

    /// [`Process::from_run`] with this context's start method.
    pub fn process_from_run<T: Run>(&self, value: T) -> Process {
        Process::from_run(value).with_start_method(self.method)
    }

    /// [`Process::from_fn`] with this context's start method (only [`StartMethod::Fork`] can
    /// start it).
    pub fn process_from_fn<F, R>(&self, f: F) -> Process
    where
        F: FnOnce() -> R + Send + 'static,
        R: Exit + 'static,
    {
        Process::from_fn(f).with_start_method(self.method)
    }

    /// A new [`Lock`](crate::Lock) (locks work the same under every method; this exists so that
    /// code written against a context reads like Python's `ctx.Lock()`).
    pub fn lock(&self) -> io::Result<crate::Lock> {
        crate::Lock::new()
    }

    /// A new [`RLock`](crate::RLock) (Python's `ctx.RLock()`).
    pub fn rlock(&self) -> io::Result<crate::RLock> {
        crate::RLock::new()
    }

    /// A new [`Semaphore`](crate::Semaphore) (Python's `ctx.Semaphore(value)`).
    pub fn semaphore(&self, value: u32) -> io::Result<crate::Semaphore> {
        crate::Semaphore::new(value)
    }

    /// A new [`Event`](crate::Event) (Python's `ctx.Event()`).
    pub fn event(&self) -> io::Result<crate::Event> {
        crate::Event::new()
    }

    /// A new [`Queue`](crate::Queue) (Python's `ctx.Queue(maxsize)`; `0`: unbounded). Queues
    /// work the same under every start method.
    pub fn queue<T>(&self, maxsize: usize) -> io::Result<crate::Queue<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        crate::Queue::new(maxsize)
    }

    /// A new [`JoinableQueue`](crate::JoinableQueue) (Python's `ctx.JoinableQueue(maxsize)`).
    pub fn joinable_queue<T>(&self, maxsize: usize) -> io::Result<crate::JoinableQueue<T>>
    where
        T: serde::Serialize + serde::de::DeserializeOwned,
    {
        crate::JoinableQueue::new(maxsize)
    }

    /// A pool builder whose workers start with this context's method (Python's
    /// `ctx.Pool(...)`).
    ///
    /// ```
    /// fn double(x: u32) -> u32 { x * 2 }
    /// let ctx = procpool::get_context(procpool::StartMethod::Spawn);
    /// let pool = ctx.pool_builder().processes(2).build()?;
    /// assert_eq!(pool.map(double, [1, 2, 3])?, [2, 4, 6]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn pool_builder(&self) -> crate::PoolBuilder {
        crate::Pool::builder().context(*self)
    }

    /// A pool of `processes` workers started with this context's method (Python's
    /// `ctx.Pool(processes)`).
    pub fn pool(&self, processes: usize) -> Result<crate::Pool, crate::PoolError> {
        self.pool_builder().processes(processes).build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for m in StartMethod::ALL {
            assert_eq!(m.as_str().parse(), Ok(m));
            assert_eq!(m.to_string(), m.as_str());
            assert_eq!(StartMethod::from_code(m.code()), Some(m));
        }
        assert_eq!("threads".parse::<StartMethod>(), Err(UnknownStartMethod));
    }
}
