//! Python's `multiprocessing`, done right in Rust (Linux).
//!
//! # Hello, world
//!
//! ```
//! use procpool::Process;
//!
//! fn hello(i: u32) {
//!     println!("Process: {i} (pid {})", std::process::id());
//! }
//!
//! let mut children = Vec::new();
//! for i in 0..3 {
//!     let mut p = Process::new(hello, i);
//!     p.start()?;
//!     children.push(p);
//! }
//! for p in &children {
//!     assert_eq!(p.join()?, 0);
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A target is a function (or a non-capturing closure) taking one argument — a tuple for
//! several — of any type that serde can serialise. A user-defined process type implements
//! [`Run`]; under the fork start method any closure works too ([`Process::from_fn`]).
//! A target's return value is discarded, as in Python (it may choose the exit code, see
//! [`Exit`]); results come back through a queue, a pipe, a shared value, or a pool.
//!
//! [`Process`] has Python's semantics: `start`, `join` (and `join_timeout`/`join_deadline`,
//! which never kill), `is_alive`, `pid`, `name` (`Process-1`, `Process-2`... in creation
//! order), `daemon`, `exitcode` (−N after death by signal N), `terminate`, `kill`, `close` and
//! a `sentinel` descriptor. Misuse is a typed error ([`ProcessError`], [`StartError`]), never a
//! panic. [`current_process`], [`parent_process`], [`active_children`] and [`cpu_count`] are
//! there too.
//!
//! # Start methods
//!
//! Python's three start methods on Linux are all here ([`StartMethod`]); choose one for the
//! whole program with [`set_start_method`], or per object with a [`Context`]
//! ([`get_context`]):
//!
//! * **Fork** (the default, as in Python up to 3.13): the child is a copy of the parent. The
//!   fastest way to start a process (about the cost of a raw `fork`), and it can run closures.
//! * **Spawn**: the child executes the current binary afresh and runs only the target. It
//!   needs no setup in `main` and works under `cargo test`: procpool recognises a spawned child
//!   in an ELF constructor, before `main` (or the test harness) runs. [`init`] is a fallback for
//!   setups where library constructors do not run.
//! * **ForkServer**: a small single-threaded server process, started by spawn on first use,
//!   forks each child on request. Thread-safe, and nearly as fast as fork.
//!
//! A child can tell which method started it: [`CurrentProcess::start_method`].
//!
//! # Safety: `fork` in a multi-threaded program
//!
//! `fork` copies only the calling thread. If another thread held a lock at that moment (the
//! allocator's, stdout's, a mutex of your own), the lock stays locked forever in the child, and
//! a child that needs it hangs. Python has exactly the same problem, which is why Python 3.14
//! made the fork server its default. procpool's own child start-up takes no lock another thread
//! could hold, and glibc keeps `malloc` usable after `fork`, but your target runs in that copied
//! world. So:
//!
//! * single-threaded parent (or threads that hold no locks the target needs): **Fork**;
//! * multi-threaded parent (thread pools, async runtimes, logging threads...): **ForkServer**
//!   (fast) or **Spawn** (the most isolated);
//! * a large parent (hundreds of MiB touched): `fork` copies page tables (about 41 µs per
//!   MiB here), so **ForkServer** is faster per child.
//!
//! procpool's own objects are safe across `fork` whatever the threads do: queues, locks and
//! values live in shared memory and record their holder by process (or thread) id, so a
//! [`Lock`] that a parent thread holds at the moment another thread forks stays the
//! parent's, and the parent releases it as usual. The hazard is everything else in the
//! process: `std::sync::Mutex`es, a logger's lock, an async runtime's state. None of this
//! concerns **Spawn** and **ForkServer**, whose children do not copy the parent's threads'
//! state at all. [`Process::from_fn`] closures exist only under Fork, for the same reason.
//!
//! # Passing objects to children
//!
//! Queues, pipes, locks, events, semaphores and shared values are passed to a child **as
//! arguments**, under every start method:
//!
//! ```
//! use procpool::{Lock, Process};
//!
//! fn worker(lock: Lock) {
//!     let _guard = lock.acquire();
//!     println!("{} has the lock", std::process::id());
//! }
//!
//! let lock = Lock::new()?;
//! let mut p = Process::new(worker, lock.clone());
//! p.start()?;
//! p.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Their descriptors travel with the arguments: inherited under fork, kept open across `exec`
//! under spawn, sent with `SCM_RIGHTS` to the fork server. Module-level globals are *not*
//! shared (a child works on its own copy, or under spawn on a fresh one): that was the
//! tutorials' bug under spawn, and the reason procpool passes primitives explicitly.
//!
//! # Pools
//!
//! A [`Pool`] keeps worker processes and runs tasks on them: `map`, `starmap`, `imap`,
//! `apply`, `apply_async` (with callbacks), as in Python. A task is a function of one
//! argument (a tuple for several) whose argument and result serde can serialise:
//!
//! ```
//! use procpool::{Pool, TaskError};
//!
//! fn square(x: u64) -> u64 { x * x }
//! fn check(x: i32) -> i32 { assert!(x >= 0, "negative input {x}"); x }
//!
//! let pool = Pool::new(3)?;
//! assert_eq!(pool.map(square, 1..=4)?, [1, 4, 9, 16]);
//! let pending = pool.apply_async(square, 12)?; // returns at once
//! assert_eq!(pending.get()?, 144);
//! // A panic in a task is an error value; the worker survives.
//! let err = pool.apply_async(check, -1)?.get().unwrap_err();
//! assert!(matches!(err, TaskError::Panicked { .. }));
//! pool.close();
//! pool.join()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! A worker that dies in the middle of a task (killed, out of memory) fails exactly that task
//! with [`TaskError::WorkerLost`] and is replaced; Python's pool hangs for ever there.
//!
//! # Blocking calls and timeouts
//!
//! Every call that waits comes in up to four forms, as in crossbeam-channel: `op()` waits as
//! long as it takes, `try_op()` does not wait, `op_timeout(Duration)` waits at most that
//! long, and `op_deadline(Instant)` waits until then (a timeout too large to represent means
//! "for ever"). So Python's `q.get(timeout=1)` is `q.get_timeout(Duration::from_secs(1))`,
//! `q.get(block=False)` is `q.try_get()` (or `get_nowait()`), `p.join(5)` is
//! `p.join_timeout(...)`, `r.get(timeout)` is [`AsyncResult::get_timeout`]. A timed-out wait
//! never kills or cancels anything: [`Process::join_timeout`] leaves the child running, and
//! [`AsyncResult::get_timeout`] gives the handle back.
//!
//! # Errors
//!
//! Python raises exceptions; procpool returns a small error type made for each operation,
//! never a string, and never panics on bad input or a misbehaving child:
//!
//! | operation | error | Python |
//! |---|---|---|
//! | [`Process::start`] | [`StartError`] (`AlreadyStarted`, `DaemonicParent`, `ForkOnly`, `Os`, ...) | `AssertionError`, `OSError` |
//! | [`Process::join`], `terminate`, `close`, ... | [`ProcessError`] | `ValueError`, `AssertionError` |
//! | [`Process::join_timeout`] | [`JoinTimeoutError`] (`Timeout`: the child is still running) | `join(t)` returns, `exitcode` is `None` |
//! | [`Pool::new`], [`Pool::join`] | [`PoolError`] | `ValueError` |
//! | [`Pool::apply_async`], `map_async`, ... | [`SubmitError`] (`NotRunning`, ...) | `ValueError: Pool not running` |
//! | [`Pool::apply`], [`Pool::map`], ... | [`ApplyError`]: `Submit` or `Task` | the task's exception |
//! | [`AsyncResult::get`] | [`TaskError`] (`Panicked`, `WorkerLost`, `TimeLimit`, `Terminated`, ...) | the task's exception (or a hang) |
//! | [`AsyncResult::get_timeout`] | [`GetTimeoutError`] (`Timeout(handle)` or `Failed`) | `TimeoutError` |
//! | [`set_start_method`] | [`AlreadySet`] | `RuntimeError: context has already been set` |
//! | queues, locks, values, ... | see [`ipc_core`]'s crate docs | |
//!
//! In a child, a target that returns `Err` (or panics) ends with exit code 1 after printing
//! the error; that is how an exception ends a Python child. All the error types implement
//! [`std::error::Error`], so `?` into `Box<dyn Error>` works everywhere.
//!
//! # Lifetimes of children
//!
//! When the main program ends normally, daemon children are terminated and non-daemon
//! children are waited for, as in Python. Beyond Python, a daemon child also dies (within a
//! second) when its parent is killed abruptly (`SIGKILL`): it is created with
//! `PR_SET_PDEATHSIG`, from a thread that lives as long as its parent. Every child is reaped,
//! joined or not: a `Process` dropped while its child runs hands it to a reaper thread.
//!
//! # Cost of starting a process
//!
//! Start + join of a process with an empty target, measured side by side with
//! `examples/start_join.rs` on a 2-vCPU VM (medians): raw `fork` + `_exit` + `waitpid` 115–145
//! µs; Fork 155–205 µs (1.3–1.4× raw); ForkServer 280–370 µs; Spawn 0.9–1.1 ms (an `exec` of
//! the binary). Python 3.11 on the same machine: fork 2.8 ms, forkserver 7.7 ms, spawn
//! 53 ms.
//!
//! # Panics in children
//!
//! A panic in a child is caught, its message is printed on standard error after a
//! `Process <name>:` line (with a backtrace if `RUST_BACKTRACE` asks for one), and the exit code
//! is 1. procpool installs a panic hook for this the first time it forks; it defers to the
//! previous hook in any process that is not a procpool child. A panic hook installed by the
//! program later replaces it, and forked children then report panics through that hook.
//!
//! This crate re-exports [`ipc_core`], so `use procpool::{Process, Lock, ...}` is the whole
//! toolbox.
#![deny(unsafe_code)]
#![deny(rustdoc::broken_intra_doc_links)]
#![doc(test(attr(deny(warnings))))]

mod child;
mod context;
mod error;
mod forkserver;
mod identity;
mod launcher;
mod pool;
mod process;
mod runtime;
mod spawn;
mod sys;
mod target;

pub use ipc_core::*;

pub use child::{ActiveChild, active_children};
pub use context::{
    AlreadySet, Context, StartMethod, UnknownStartMethod, get_context, get_start_method,
    set_start_method, set_start_method_force,
};
pub use error::{JoinTimeoutError, ProcessError, StartError};
pub use identity::{CurrentProcess, ParentProcess, cpu_count, current_process, parent_process};
pub use pool::{
    ApplyError, AsyncResult, GetTimeoutError, IMap, NotReady, Pool, PoolBuilder, PoolError,
    SubmitError, TaskError,
};
pub use process::Process;
pub use spawn::init;
pub use target::{Exit, ExitCode, Run, exit};

/// The code blocks of the top-level README, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../README.md")]
pub struct ReadmeDoctests;

/// The code blocks of the Python-to-procpool guide (`docs/python-guide.md`), compiled and run
/// as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/python-guide.md")]
pub struct PythonGuideDoctests;
