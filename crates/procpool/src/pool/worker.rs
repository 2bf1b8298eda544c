//! The worker process's side of the pool.

use std::sync::atomic::Ordering;

use ipc_core::{ByteBuf, Queue, SharedAtomics};
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

/// Everything a worker needs, passed to it as its process argument.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct WorkerArgs {
    pub(crate) index: usize,
    pub(crate) tasks: Queue<ToWorker>,
    pub(crate) results: Queue<FromWorker>,
    pub(crate) progress: SharedAtomics,
    /// `(entry, func, encoded args)` of the initializer.
    pub(crate) init: Option<(i64, i64, ByteBuf)>,
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
    if let Some((entry, func, payload)) = args.init {
        task::run_entry(entry, func, payload.into_vec())
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
