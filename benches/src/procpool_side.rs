//! The procpool column of the comparison: each workload done with procpool's API.
//!
//! Not written yet: [`procpool_impl`] returns `None` for every workload, so the harness prints
//! and records `null` in the procpool column and runs with the raw and Python columns filled.
//!
//! # Contract for the implementation
//!
//! [`procpool_impl`] runs ONE repetition of a [`Case`] and returns its value in the workload's
//! unit ([`Workload::unit`](crate::workloads::Workload::unit)), or `None` if procpool has no
//! equivalent. It must measure the same thing, in the same way, as `benches/python/mp_bench.py`
//! (read it side by side), with the same sizes (`quick` shrinks them as the script does):
//!
//! | workload | timed region | full / quick size |
//! |---|---|---|
//! | `start_join_{fork,spawn,forkserver}` | n × (start + join) of an empty target, after one unmeasured start (which starts the fork server) | fork 300 / 60, spawn 20 / 5, forkserver 100 / 20 |
//! | `pool_map_default`, `pool_map_chunk1` | `map` of a trivial function on `Pool(2)`, after a warm-up map; default chunk size, or 1 | 100,000 / 10,000 tasks |
//! | `apply_async_pipelined` | submit all, then get all, on `Pool(2)` | 10,000 / 2,000 tasks |
//! | `apply_async_serial` | `apply_async(f, i).get()` one at a time, after 50 unmeasured | 3,000 / 500 round trips |
//! | `queue_small` | from the "go" signal to the consumer (the measuring process) having got every integer; the producer is a child that put a "ready" item first | 200,000 / 20,000 items |
//! | `queue_64k` | the same with `Vec<u8>`/bytes items of 64 KiB; MB = 10^6 bytes | 10,000 / 1,000 items |
//! | `pipe_rtt` | send + recv of a 16-byte message to an echo child, after 200 unmeasured | 20,000 / 4,000 round trips |
//! | `lock_uncontended` | acquire + release in a loop | 1,000,000 / 200,000 |
//! | `lock_contended` | 2 children each acquire + release n times, from the first one's start to the last one's end, ÷ 2n | 500,000 / 100,000 per process |
//! | `event_wake` | the measuring process sleeps 2 ms, reads CLOCK_MONOTONIC and sets the event; the child reads the clock when its wait returns; median of the samples | 300 / 60 samples |
//! | `cpu_speedup` | sequential time ÷ time of `Pool(10)` creation + `map` + close, task n counting from n down to -n | TOTAL 20,000 / 4,000 |
//!
//! For the pinned cases ([`Pinning::SameCore`](crate::workloads::Pinning::SameCore),
//! [`Pinning::TwoCores`](crate::workloads::Pinning::TwoCores)) pin the measuring process with
//! [`crate::raw::AffinityGuard`] (it restores the CPU set afterwards) and the peer process (the
//! producer, the echo child, the waiter, the pool's workers, the second lock hammer) with
//! [`crate::raw::pin_to_cpu`] in the child; [`Pinning::cpus`](crate::workloads::Pinning::cpus)
//! gives the two CPUs.
//!
//! The harness is single-threaded between measurements, and the raw measurements fork: a
//! procpool measurement must not leave threads behind (drop its pools before returning). The
//! spawn start method re-executes the harness binary: if procpool needs a hook at the start of
//! `main` for that, call it in `src/bin/compare.rs` next to
//! [`crate::raw::exit_if_spawn_probe`].

use crate::error::BenchError;
use crate::workloads::Case;

/// Runs one repetition of `case` with procpool, sized for a quick or a full run.
///
/// Returns `None` where procpool does not implement the workload; for now, everywhere.
pub fn procpool_impl(case: &Case, quick: bool) -> Option<Result<f64, BenchError>> {
    let _ = (case, quick);
    None
}
