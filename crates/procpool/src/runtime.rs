//! The child's side: what every child runs, whatever the start method (Python's
//! `BaseProcess._bootstrap`).
//!
//! 1. Install the child's identity (name, pid, parent, daemon flag, start method) in fresh
//!    per-process state: the registry of the parent's children is not inherited (a child does
//!    not own its siblings).
//! 2. Ignore `SIGPIPE` explicitly (a spawned child runs before Rust's runtime would do it).
//! 3. A daemon child asks for `SIGKILL` when its parent dies (`PR_SET_PDEATHSIG`), then checks
//!    that the parent did not die before that.
//! 4. Run the target under `catch_unwind`, with a panic hook that prints `Process <name>:`
//!    and the panic message; a panic gives exit code 1.
//! 5. Flush standard output and error, terminate daemon children and wait for the others.
//! 6. `_exit` with the code: never return into the caller's stack, never run the parent's
//!    atexit handlers or destructors.

use std::io::Write;
use std::panic::AssertUnwindSafe;

use nix::sys::signal::Signal;

use crate::identity::PreparedState;
use crate::sys;

/// Runs a child's body (which returns the exit code) and exits.
pub(crate) fn run_child(state: PreparedState, expected_ppid: u32, body: impl FnOnce() -> i32) -> ! {
    let daemon = state.setup().daemon;
    let sigpipe_ignored = state.sigpipe_ignored;
    crate::context::inherit_default(state.setup().default_method);
    state.install();
    if !sigpipe_ignored {
        sys::ignore_sigpipe();
    }
    if daemon {
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
        if nix::unistd::getppid().as_raw() as u32 != expected_ppid {
            // The parent died before the request took effect: die as if it had.
            let _ = nix::sys::signal::raise(Signal::SIGKILL);
            sys::exit_now(1);
        }
    }
    install_panic_hook(); // inherited (nothing to do) under fork
    let code = std::panic::catch_unwind(AssertUnwindSafe(body)).unwrap_or(1);
    finish(code)
}

/// The end of a child: flush, end its own children, `_exit(code)`.
pub(crate) fn finish(code: i32) -> ! {
    // (Rust's stderr is unbuffered: only stdout needs flushing.)
    let _ = std::io::stdout().flush();
    let _ = std::panic::catch_unwind(crate::child::end_children);
    let _ = std::io::stdout().flush();
    sys::exit_now(code)
}

/// Installs, once per program, a panic hook that reports a panic in a procpool child as Python
/// reports an exception in a child (`Process <name>:` then the message, and a backtrace if
/// `RUST_BACKTRACE` asks for one) and defers to the previous hook everywhere else.
///
/// It is installed in the parent before the first fork, so that a forked child inherits it
/// instead of writing to the hook's memory (each page a forked child writes costs a
/// copy-on-write fault). A hook that the program installs later replaces it; forked children
/// then report panics through that hook.
pub(crate) fn install_panic_hook() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if crate::identity::state().setup.is_some() {
                report_child_panic(info);
            } else {
                previous(info);
            }
        }));
    });
}

fn report_child_panic(info: &std::panic::PanicHookInfo<'_>) {
    {
        let name = crate::identity::state().name().to_owned();
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<&str>()
            .copied()
            .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
            .unwrap_or("Box<dyn Any>");
        let mut text = format!("Process {name}:\n");
        match info.location() {
            Some(loc) => text.push_str(&format!("panicked at {loc}:\n{msg}\n")),
            None => text.push_str(&format!("panicked:\n{msg}\n")),
        }
        let bt = std::backtrace::Backtrace::capture();
        if bt.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("stack backtrace:\n{bt}\n"));
        }
        // Straight to the descriptor: not through the test harness's output capture.
        let _ = std::io::stderr().write_all(text.as_bytes());
    }
}
