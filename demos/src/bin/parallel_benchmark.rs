//! Scenario 33 (E. Why processes): the parallel benchmark — sequential vs a process pool vs
//! threads.
//!
//! TOTAL = 20000 tasks; task n counts from n down to -n in steps of 1 (the loop goes through
//! `std::hint::black_box`, so the compiler cannot skip it). The same work runs sequentially,
//! on a process `Pool(10)` (with `imap`, the lazy form of `map`, so that a progress bar can
//! advance per result), and on 10 threads; a table shows each time and its speed-up over
//! sequential, next to the tutorial's Python figures. In Python, threads gain nothing (the
//! GIL runs them one at a time) and only processes scale; in Rust both scale, up to the number
//! of cores.
#![forbid(unsafe_code)]

use std::hint::black_box;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use demos::{Opts, say};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use procpool::Pool;

const USAGE: &str = "\
parallel_benchmark — scenario 33: sequential vs process pool vs threads

Usage: parallel_benchmark [options]

Task n counts from n down to -n; TOTAL tasks run sequentially, on a process Pool with
imap (a progress bar follows the results when stdout is a terminal), and on threads.
Prints a table of times and speed-ups. Build with --release for meaningful times.

Options:
  --total N         number of tasks (default 20000, as in the tutorial; 10000 with --fast
                    in a debug build)
  --processes N     pool size (default 10, as in the tutorial)
  --threads N       number of threads (default 10)
  --chunksize N     tasks per message (default: Python's map default, TOTAL / (4 * processes))";

/// The task: count from `n` down to `-n`; returns where it stopped (`-n`).
fn count(n: i64) -> i64 {
    let mut i = n;
    while i > -n {
        i = black_box(i - 1);
    }
    i
}

fn positive(opts: &Opts, name: &str, default: usize) -> usize {
    match opts.value(name).map(str::parse::<usize>) {
        None => default,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("parallel_benchmark: {name} needs a positive number");
            std::process::exit(2)
        }
    }
}

fn bar(total: usize, label: &str) -> ProgressBar {
    let target = if std::io::stdout().is_terminal() {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    };
    let pb = ProgressBar::with_draw_target(Some(total as u64), target);
    if let Ok(style) =
        ProgressStyle::with_template("{prefix:<24} [{bar:40.cyan/blue}] {pos:>6}/{len} {elapsed}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_prefix(label.to_string());
    pb
}

fn sequential(total: usize) -> (i64, Duration) {
    let pb = bar(total, "sequential");
    let t = Instant::now();
    let mut sum = 0;
    for n in 0..total as i64 {
        sum += count(n);
        if n % 64 == 63 {
            pb.inc(64);
        }
    }
    let d = t.elapsed();
    pb.finish_and_clear();
    (sum, d)
}

/// Runs the tasks on a process pool; returns the sum, the time, and the part of it spent
/// starting the workers.
fn process_pool(
    total: usize,
    processes: usize,
    chunksize: usize,
) -> Result<(i64, Duration, Duration), Box<dyn std::error::Error>> {
    let pb = bar(total, &format!("process pool ({processes})"));
    let t = Instant::now();
    let pool = Pool::new(processes)?;
    let startup = t.elapsed();
    let mut sum = 0;
    for r in pool.imap(count, 0..total as i64, chunksize)? {
        sum += r?;
        pb.inc(1);
    }
    pool.close();
    pool.join()?;
    let d = t.elapsed();
    pb.finish_and_clear();
    Ok((sum, d, startup))
}

fn threads(total: usize, nthreads: usize, chunksize: usize) -> (i64, Duration) {
    let pb = bar(total, &format!("threads ({nthreads})"));
    let next = AtomicUsize::new(0);
    let t = Instant::now();
    let sum = std::thread::scope(|s| {
        let workers: Vec<_> = (0..nthreads)
            .map(|_| {
                s.spawn(|| {
                    let mut sum = 0;
                    loop {
                        let start = next.fetch_add(chunksize, Ordering::Relaxed);
                        if start >= total {
                            return sum;
                        }
                        let end = (start + chunksize).min(total);
                        for n in start..end {
                            sum += count(n as i64);
                        }
                        pb.inc((end - start) as u64);
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("a counting thread does not panic"))
            .sum::<i64>()
    });
    let d = t.elapsed();
    pb.finish_and_clear();
    (sum, d)
}

fn main() {
    let opts = Opts::parse(USAGE);
    // The tutorial's 20000; a debug build in fast mode (the tests) does half.
    let fast_debug = opts.fast && cfg!(debug_assertions);
    let total = positive(&opts, "--total", if fast_debug { 10000 } else { 20000 });
    let processes = positive(&opts, "--processes", 10);
    let nthreads = positive(&opts, "--threads", 10);
    let chunksize = positive(&opts, "--chunksize", total.div_ceil(4 * processes).max(1));
    let steps: u128 = (0..total as u128).map(|n| 2 * n).sum();
    say!("TOTAL = {total} tasks; task n counts from n down to -n ({steps} steps in all)");
    say!(
        "cpu_count() = {}: no method can go faster than that many times sequential",
        procpool::cpu_count()
    );
    if cfg!(debug_assertions) {
        say!("note: a debug build; use `cargo run --release` for meaningful times");
    }

    let (seq_sum, seq) = sequential(total);
    let (pool_sum, pool, startup) = match process_pool(total, processes, chunksize) {
        Ok(x) => x,
        Err(e) => {
            eprintln!("parallel_benchmark: the process pool failed: {e}");
            std::process::exit(1)
        }
    };
    let (thr_sum, thr) = threads(total, nthreads, chunksize);

    let rows = [
        ("sequential", 1, seq, "18.1 s"),
        ("process pool (imap)", processes, pool, "3.9 s"),
        ("threads", nthreads, thr, "18.1 s"),
    ];
    say!("");
    say!(
        "{:<22} {:>7} {:>10} {:>9}   {}",
        "method",
        "workers",
        "time",
        "speed-up",
        "Python (tutorial)"
    );
    for (name, workers, d, py) in rows {
        say!(
            "{:<22} {:>7} {:>8.3} s {:>8.2}x   {py}",
            name,
            workers,
            d.as_secs_f64(),
            seq.as_secs_f64() / d.as_secs_f64().max(1e-9)
        );
    }
    say!("(Python's asyncio took 18.2 s: like its threads, no faster than sequential.)");
    say!(
        "(The pool's time includes starting its {processes} worker processes, {:.3} s, and \
         stopping them.)",
        startup.as_secs_f64()
    );
    if seq.as_secs_f64() < 0.5 {
        say!(
            "(Rust counts about {:.0}x faster than the tutorial's Python, so there is little \
             work here and start-up weighs; try --total {} for a longer run.)",
            18.1 / seq.as_secs_f64() * (total as f64 / 20000.0).powi(2),
            total * 3
        );
    }
    let want = -((total as i64 - 1) * total as i64 / 2);
    if seq_sum == want && pool_sum == want && thr_sum == want {
        say!("ok: all three methods computed the same sum ({want})");
    } else {
        say!(
            "FAILED: sums differ: sequential {seq_sum}, pool {pool_sum}, threads {thr_sum}, \
             expected {want}"
        );
        std::process::exit(1);
    }
}
