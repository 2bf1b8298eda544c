//! The worker process's side of the pool.

use std::sync::atomic::Ordering;

use ipc_core::{ByteBuf, FdArg, Queue, SharedAtomics};
use serde::{Deserialize, Serialize};

use super::task::{self, FromWorker, ToWorker};

/// Words per worker in the pool's shared progress array.
pub(crate) const SLOT_WORDS: usize = 3;
/// The sequence number of the task the worker started last.
pub(crate) const STARTED: usize = 0;
/// The sequence number of the task whose result the worker put last.
pub(crate) const FINISHED: usize = 1;
/// When the worker started its current task (CLOCK_MONOTONIC, ns).
pub(crate) const STARTED_AT: usize = 2;

/// An initializer as a worker receives it: its entry and function (raw code references), its
/// arguments encoded with `encode_with_fds`, and the descriptors they refer to.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct InitArgs {
    pub(crate) entry: i64,
    pub(crate) func: i64,
    pub(crate) payload: ByteBuf,
    pub(crate) fds: Vec<FdArg>,
}

/// Everything a worker needs, passed to it as its process argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerArgs {
    pub(crate) index: usize,
    pub(crate) tasks: Queue<ToWorker>,
    pub(crate) results: Queue<FromWorker>,
    pub(crate) progress: SharedAtomics,
    /// The initializer, if any.
    pub(crate) init: Option<InitArgs>,
    /// Exit after this many tasks (0: never).
    pub(crate) maxtasks: u64,
}

/// CLOCK_MONOTONIC in nanoseconds: comparable between processes on one machine.
pub(crate) fn monotonic_ns() -> u64 {
    nix::time::clock_gettime(nix::time::ClockId::CLOCK_MONOTONIC)
        .map(|t| t.tv_sec() as u64 * 1_000_000_000 + t.tv_nsec() as u64)
        .unwrap_or(0)
}

/// A pool worker's main function (the target of its process).
pub(crate) fn worker_main(args: WorkerArgs) -> Result<(), String> {
    task::install_worker_panic_hook();
    let base = args.index * SLOT_WORDS;
    let word = |i: usize| &args.progress.as_slice()[base + i];
    if let Some(init) = args.init {
        let fds = init.fds.into_iter().map(FdArg::into_owned).collect();
        task::run_init_entry(init.entry, init.func, init.payload.into_vec(), fds)
            .map_err(|e| format!("pool initializer failed: {e}"))?;
    }
    let mut done = 0u64;
    loop {
        let msg = match args.tasks.get() {
            Ok(m) => m,
            Err(e) => return Err(format!("pool worker cannot read its task queue: {e}")),
        };
        match msg {
            ToWorker::Stop => return Ok(()),
            ToWorker::Task {
                seq,
                entry,
                func,
                payload,
            } => {
                let started = monotonic_ns();
                word(STARTED_AT).store(started, Ordering::Relaxed);
                word(STARTED).store(seq, Ordering::Release);
                let outcome = task::run_entry(entry, func, payload.into_vec()).map(ByteBuf::from);
                let busy_ns = monotonic_ns().saturating_sub(started);
                let msg = FromWorker {
                    seq,
                    busy_ns,
                    outcome,
                };
                if let Err(e) = args.results.put(msg) {
                    return Err(format!("pool worker cannot send a result: {e}"));
                }
                word(FINISHED).store(seq, Ordering::Release);
                done += 1;
                if args.maxtasks != 0 && done >= args.maxtasks {
                    return Ok(());
                }
            }
        }
    }
}
