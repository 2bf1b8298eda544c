//! Forks and spawns that must happen on a thread that lives as long as the process.
//!
//! `PR_SET_PDEATHSIG` fires when the *thread* that created the child exits, not the process.
//! A daemon child (and the fork server) must die with its parent process, not with whichever
//! thread happened to start it; so when the caller is not the main thread, the fork is handed
//! to a launcher thread that is started on first use and never exits. From the main thread (the
//! common case) the fork happens inline. The hand-over costs a channel round trip between two
//! threads, two cross-core wake-ups: measured with `examples/start_join.rs` on a 2-vCPU VM,
//! start + join of a daemon child from a non-main thread took about 200–330 µs (medians of
//! several runs on a loaded machine) against 155–205 µs from the main thread. Non-daemon children need no `PDEATHSIG` and are forked
//! inline on any thread.

use std::io;

use crossbeam_channel::Sender;

use crate::identity::state;

type Job = Box<dyn FnOnce() + Send>;

/// The long-lived launcher thread of this process.
pub(crate) struct Launcher {
    tx: Sender<Job>,
}

impl Launcher {
    fn start() -> io::Result<Launcher> {
        let (tx, rx) = crossbeam_channel::unbounded::<Job>();
        std::thread::Builder::new()
            .name("procpool-launcher".into())
            // A forked child runs its target on a copy of this thread's stack.
            .stack_size(8 << 20)
            .spawn(move || {
                while let Ok(job) = rx.recv() {
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                }
                // The sender lives in the process state and is never dropped; park for ever
                // rather than exit (which would fire PDEATHSIG in our children).
                loop {
                    std::thread::park();
                }
            })?;
        Ok(Launcher { tx })
    }
}

/// Whether the caller is the process's main thread (whose exit is the process's exit).
pub(crate) fn on_main_thread() -> bool {
    nix::unistd::gettid() == nix::unistd::getpid()
}

/// Runs `f` on a thread that lives as long as the process: inline on the main thread,
/// otherwise on the launcher thread.
pub(crate) fn on_long_lived_thread<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    if on_main_thread() {
        return Ok(f());
    }
    let launcher = state().launcher.get_or_init(|| match Launcher::start() {
        Ok(l) => Some(l),
        Err(e) => {
            log::warn!("procpool: cannot start the launcher thread: {e}");
            None
        }
    });
    let Some(launcher) = launcher else {
        return Err(io::Error::other("no launcher thread"));
    };
    let (rtx, rrx) = crossbeam_channel::bounded(1);
    launcher
        .tx
        .send(Box::new(move || {
            let _ = rtx.send(f());
        }))
        .map_err(|_| io::Error::other("the launcher thread is gone"))?;
    rrx.recv()
        .map_err(|_| io::Error::other("the launcher thread failed"))
}
