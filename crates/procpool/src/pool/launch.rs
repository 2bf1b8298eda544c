//! Starting and watching worker processes: the pool's only contact with [`Process`].

use std::io;
use std::time::{Duration, Instant};

use super::worker::WorkerArgs;
use crate::{Context, Process};

/// How a worker ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ExitInfo {
    /// The signal that killed it.
    pub(crate) signal: Option<i32>,
    /// Its exit code, if it exited.
    pub(crate) code: Option<i32>,
}

impl ExitInfo {
    fn from_exitcode(c: i32) -> ExitInfo {
        if c < 0 {
            ExitInfo {
                signal: Some(-c),
                code: None,
            }
        } else {
            ExitInfo {
                signal: None,
                code: Some(c),
            }
        }
    }
}

/// A running worker.
#[derive(Debug)]
pub(crate) struct WorkerProcess {
    process: Process,
    pid: u32,
}

/// Starts a daemon worker running `main(args)` with the context's start method.
pub(crate) fn start_worker(
    ctx: &Context,
    args: WorkerArgs,
    main: fn(WorkerArgs) -> Result<(), String>,
) -> io::Result<WorkerProcess> {
    let name = format!("PoolWorker-{}", args.index + 1);
    let mut process = ctx.process(main, args).with_name(name).with_daemon(true);
    process.start().map_err(io::Error::other)?;
    let pid = process
        .pid()
        .ok_or_else(|| io::Error::other("worker has no pid"))?;
    Ok(WorkerProcess { process, pid })
}

impl WorkerProcess {
    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// The exit status if the worker has ended (reaping it), without blocking.
    pub(crate) fn poll_exit(&mut self) -> Option<ExitInfo> {
        self.process.exitcode().map(ExitInfo::from_exitcode)
    }

    /// Waits until `deadline` for the worker to end; whether it did.
    pub(crate) fn wait_until(&mut self, deadline: Instant) -> bool {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(Duration::from_millis(1));
        self.process.join_timeout(left).is_ok()
    }

    pub(crate) fn terminate(&self) {
        let _ = self.process.terminate();
    }

    pub(crate) fn kill(&self) {
        let _ = self.process.kill();
    }
}
