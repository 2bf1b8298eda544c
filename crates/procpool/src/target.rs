//! What a child runs: a target function with serialisable arguments, a user type implementing
//! [`Run`], or (fork only) any closure; and how its result becomes an exit code ([`Exit`],
//! [`ExitCode`], [`exit`]).
//!
//! Under spawn and the fork server the child finds the code through a monomorphised
//! *trampoline*: the parent sends `CodeRef`s (offsets from an anchor in the binary) for the
//! trampoline and the target, with the encoded arguments; the trampoline decodes the arguments
//! with their concrete type and calls the target.

use std::fmt;
use std::io::Write;

use ipc_core::code::CodeRef;
use ipc_core::transfer::{Encoded, encode_with_fds};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StartError;
use crate::sys::Trusted;

/// An exit code chosen by a target (Python's `sys.exit(n)` from a target, as a return value).
///
/// ```
/// use procpool::{ExitCode, Process};
/// fn check(n: i32) -> ExitCode { if n > 0 { ExitCode::SUCCESS } else { ExitCode(3) } }
/// let mut p = Process::new(check, -1);
/// p.start()?;
/// assert_eq!(p.join()?, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ExitCode(pub i32);

impl ExitCode {
    /// Exit code 0.
    pub const SUCCESS: ExitCode = ExitCode(0);
    /// Exit code 1.
    pub const FAILURE: ExitCode = ExitCode(1);
}

impl From<i32> for ExitCode {
    fn from(code: i32) -> Self {
        ExitCode(code)
    }
}

/// What a process target may return. The value becomes the child's exit code; nothing else
/// reaches the parent (as in Python, `Process` discards a target's result).
///
/// Implemented for `()` (exit code 0), [`ExitCode`], [`Infallible`](std::convert::Infallible),
/// and `Result<T, E>` with `T: Exit` and `E: Debug`: an `Err` is printed to standard error after
/// a `Process <name>:` line and the exit code is 1, as for an uncaught Python exception.
///
/// A target that returns a value the parent needs must send it back through a queue, a pipe or
/// a shared value, or be a pool task:
///
/// ```compile_fail
/// fn square(x: u64) -> u64 { x * x }
/// let p = procpool::Process::new(square, 7); // error: Process discards results
/// ```
#[diagnostic::on_unimplemented(
    message = "a process target cannot return `{Self}`: `Process` discards a target's result, \
               as Python's multiprocessing does",
    label = "this target returns `{Self}`",
    note = "send results back through a Queue, a Pipe or a shared Value, or use a Pool, whose \
            tasks return values",
    note = "a target may return `()`, an `ExitCode`, or a `Result<T, E>` with `T` one of these \
            and `E: Debug` (an `Err` is printed and the exit code is 1)"
)]
pub trait Exit {
    /// Turns the value into an exit code, printing what needs printing.
    fn report(self) -> i32;
}

impl Exit for () {
    fn report(self) -> i32 {
        0
    }
}

impl Exit for ExitCode {
    fn report(self) -> i32 {
        self.0
    }
}

impl Exit for std::convert::Infallible {
    fn report(self) -> i32 {
        match self {}
    }
}

impl<T: Exit, E: fmt::Debug> Exit for Result<T, E> {
    fn report(self) -> i32 {
        match self {
            Ok(v) => v.report(),
            Err(e) => {
                let name = crate::identity::state().name().to_owned();
                let _ = writeln!(std::io::stderr(), "Process {name}:\nError: {e:?}");
                1
            }
        }
    }
}

/// Ends the current process with `code` (Python's `sys.exit(code)` inside a target).
///
/// In a child started by procpool it flushes standard output and error, waits for its own
/// non-daemon children and terminates its daemon children (the child's normal exit path), then
/// exits without running the parent's atexit handlers or destructors. In the main process it is
/// [`std::process::exit`].
///
/// ```
/// use procpool::{ExitCode, Process};
///
/// fn quit(code: i32) -> ExitCode {
///     procpool::exit(code) // Python: sys.exit(code)
/// }
///
/// let mut p = Process::new(quit, 7);
/// p.start()?;
/// assert_eq!(p.join()?, 7);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn exit(code: i32) -> ! {
    if crate::identity::state().setup.is_some() {
        crate::runtime::finish(code)
    } else {
        std::process::exit(code)
    }
}

/// A user-defined process type: the tutorials' subclass of `Process` overriding `run`.
///
/// The value is the process's state; it is moved to the child (serialised under spawn and the
/// fork server), where `run` is called.
///
/// ```
/// use procpool::{Process, Run};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct MyProcess { count: u32 }
///
/// impl Run for MyProcess {
///     type Output = ();
///     fn run(self) {
///         for c in 0..self.count {
///             println!("Pid: {} LoopCount: {c}", std::process::id());
///         }
///     }
/// }
///
/// let mut p = Process::from_run(MyProcess { count: 2 });
/// assert!(p.name().starts_with("MyProcess-"));
/// p.start()?;
/// p.join()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub trait Run: Serialize + DeserializeOwned + Send + 'static {
    /// What `run` returns: `()`, an [`ExitCode`] or a `Result` (see [`Exit`]).
    type Output: Exit;

    /// The process's work, run in the child.
    fn run(self) -> Self::Output;
}

/// The type-erased trampoline a spawned child calls.
pub(crate) type Trampoline = fn(Trusted) -> i32;

/// A task encoded for a child that does not share our memory.
pub(crate) struct Payload {
    pub(crate) trampoline: CodeRef<Trampoline>,
    pub(crate) body: Encoded,
}

/// Something a child can run.
pub(crate) trait Task: Send {
    /// Runs here (in a forked child), returning the exit code. Called at most once; it takes
    /// `&mut self` so that the child can leak the task's box instead of freeing it (freeing
    /// would write to allocator pages shared copy-on-write with the parent, just before exit).
    fn run(&mut self) -> i32;
    /// Encodes the task for spawn / the fork server.
    fn encode(&self) -> Result<Payload, StartError>;
}

fn decode_failed(what: &str, e: impl fmt::Display) -> i32 {
    let name = crate::identity::state().name().to_owned();
    let _ = writeln!(
        std::io::stderr(),
        "Process {name}:\ncannot decode {what}: {e}"
    );
    1
}

/// A target function and its arguments.
pub(crate) struct FnTask<A, R> {
    pub(crate) f: fn(A) -> R,
    pub(crate) args: Option<A>,
}

fn fn_trampoline<A, R>(body: Trusted) -> i32
where
    A: DeserializeOwned + 'static,
    R: Exit + 'static,
{
    match body.decode::<(CodeRef<fn(A) -> R>, A)>() {
        Ok((f, args)) => (f.get())(args).report(),
        Err(e) => decode_failed("the target's arguments", e),
    }
}

impl<A, R> Task for FnTask<A, R>
where
    A: Serialize + DeserializeOwned + Send + 'static,
    R: Exit + 'static,
{
    fn run(&mut self) -> i32 {
        match self.args.take() {
            Some(args) => (self.f)(args).report(),
            None => 1,
        }
    }

    fn encode(&self) -> Result<Payload, StartError> {
        let Some(args) = &self.args else {
            return Err(StartError::Closed);
        };
        let body = encode_with_fds(&(CodeRef::new(self.f), args))?;
        Ok(Payload {
            trampoline: CodeRef::new(fn_trampoline::<A, R> as Trampoline),
            body,
        })
    }
}

/// A user process type.
pub(crate) struct RunTask<T>(pub(crate) Option<T>);

fn run_trampoline<T: Run>(body: Trusted) -> i32 {
    match body.decode::<T>() {
        Ok(v) => v.run().report(),
        Err(e) => decode_failed("the process object", e),
    }
}

impl<T: Run> Task for RunTask<T> {
    fn run(&mut self) -> i32 {
        match self.0.take() {
            Some(v) => v.run().report(),
            None => 1,
        }
    }

    fn encode(&self) -> Result<Payload, StartError> {
        let Some(v) = &self.0 else {
            return Err(StartError::Closed);
        };
        let body = encode_with_fds(v)?;
        Ok(Payload {
            trampoline: CodeRef::new(run_trampoline::<T> as Trampoline),
            body,
        })
    }
}

/// A closure (fork only).
pub(crate) struct ClosureTask<F>(pub(crate) Option<F>);

impl<F, R> Task for ClosureTask<F>
where
    F: FnOnce() -> R + Send + 'static,
    R: Exit,
{
    fn run(&mut self) -> i32 {
        match self.0.take() {
            Some(f) => f().report(),
            None => 1,
        }
    }

    fn encode(&self) -> Result<Payload, StartError> {
        Err(StartError::ForkOnly)
    }
}

/// The last path segment of a type's name, without generics (`MyProcess` for
/// `my_crate::MyProcess<u8>`), as Python names a subclass's processes.
pub(crate) fn short_type_name<T>() -> &'static str {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    mod inner {
        pub(super) struct MyProcess<T>(pub(super) T);
    }

    #[test]
    fn short_names_drop_paths_and_generics() {
        assert_eq!(short_type_name::<inner::MyProcess<u8>>(), "MyProcess");
        assert_eq!(short_type_name::<u32>(), "u32");
    }

    #[test]
    fn results_become_exit_codes() {
        assert_eq!(().report(), 0);
        assert_eq!(ExitCode(7).report(), 7);
        assert_eq!(Ok::<ExitCode, String>(ExitCode(3)).report(), 3);
        assert_eq!(Err::<(), &str>("printed on stderr").report(), 1);
        assert_eq!(ExitCode::from(5), ExitCode(5));
    }

    #[test]
    fn closures_do_not_encode() {
        let t = ClosureTask(Some(|| ()));
        assert!(matches!(t.encode(), Err(StartError::ForkOnly)));
    }
}
