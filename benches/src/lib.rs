//! Benchmarks of procpool, side by side with Python's `multiprocessing` and with the raw limit.
//!
//! The comparison harness, `cargo run --release -p benches --bin compare [-- --quick]`, runs
//! every workload of the benchmark issue ([`workloads::WORKLOADS`]) in three implementations,
//! alternating them repetition by repetition in one run:
//!
//! - **procpool**: [`procpool_side`];
//! - **Python**: `benches/python/mp_bench.py`, run with `python3` by [`python`];
//! - **the raw limit**: bare syscalls or a minimal hand-rolled equivalent, [`raw`].
//!
//! It prints a table of medians and ratios and writes `target/bench/compare.json`
//! (see `src/bin/compare.rs`). [`stats`] computes the medians and spreads.
//!
//! The raw measurements fork: they need a single-threaded process, which the harness is.

pub mod error;
pub mod procpool_side;
pub mod python;
pub mod raw;
pub mod stats;
pub mod workloads;

pub use error::BenchError;
