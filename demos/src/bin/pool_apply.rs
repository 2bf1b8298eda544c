//! Scenarios 26–29 (D. Pools): `apply_async`, `apply`, results, and worker identity on a
//! `Pool(3)`.
//!
//! - **26, apply_async (non-blocking).** Four tasks each print `Start process: i`, sleep 3 s and
//!   print `End process i`. The parent prints `Main process started` at once, closes and joins
//!   the pool, and prints `Main process ended`. Three tasks run at once and the fourth starts
//!   when one finishes: about 6 s in all, not 12.
//! - **27, apply (blocking).** The same with `apply`: the tasks run one after another, and the
//!   parent's `started` line comes after all of them.
//! - **28, results.** `apply_async` followed at once by `get()` prints 0, 1, 2, 3 in order (and
//!   serialises the work); collecting the results first and getting them after close/join runs
//!   the tasks 3 at a time: n² for n in 0..=9, each task printing the pid of the worker that
//!   ran it — only 3 pids ever appear.
//! - **29, worker identity.** The parent prints `current process PID`; six tasks print
//!   `Task NAME pid PID is running, parent id is PPID` and `Task NAME end.` Every parent id is
//!   the parent's pid; 3 distinct worker pids are reused.
//!
//! Each part ends with check lines (`worker pids seen: 3`, `at most 3 tasks at once`); the
//! program exits with status 1 if a check fails.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::error::Error;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use demos::{Opts, Rng, say};
use procpool::{AsyncResult, Pool};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
pool_apply — scenarios 26–29: apply_async, apply, results and worker identity on Pool(3)

Usage: pool_apply [async|apply|results|identity|all] [options]

  async      26: 4 tasks of 3 s with apply_async on Pool(3): 3 at a time, about 6 s in all
  apply      27: the same with apply: one after another, about 12 s
  results    28: apply_async + get() in order; then n² for n in 0..=9 collected after join,
             with the pid of the worker that ran each (3 pids)
  identity   29: `Task NAME pid PID is running, parent id is PPID` for 6 tasks on Pool(3)
  all        every part, in order (the default)

Options:
  --processes N     pool size (default 3, as in the tutorial)
  --task-secs S     how long each task of parts 26 and 27 sleeps (default 3, as in the
                    tutorial; scaled down by --fast like every sleep)";

/// A task's run: which worker ran it, and when (wall clock, comparable across processes).
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Span {
    pid: u32,
    start_ns: u64,
    end_ns: u64,
}

fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// Scenarios 26/27: `Start process: i`, a sleep, `End process i`.
fn func((i, secs): (u32, f64)) -> Span {
    let start_ns = now_ns();
    say!("Start process: {i}");
    std::thread::sleep(Duration::from_secs_f64(secs));
    say!("End process {i}");
    Span {
        pid: std::process::id(),
        start_ns,
        end_ns: now_ns(),
    }
}

/// Scenario 28a: returns its argument after a sleep.
fn echo_later((i, secs): (u32, f64)) -> u32 {
    std::thread::sleep(Duration::from_secs_f64(secs));
    i
}

/// Scenario 28b: n², and the pid of the worker.
fn square((n, secs): (u64, f64)) -> (u64, u32) {
    let pid = std::process::id();
    say!("square({n}) runs in worker {pid}");
    std::thread::sleep(Duration::from_secs_f64(secs));
    (n * n, pid)
}

/// Scenario 29: the tutorial's `long_time_task(name)`.
fn long_time_task((name, secs): (String, f64)) -> (u32, u32) {
    let pid = std::process::id();
    let ppid = procpool::parent_process()
        .map(|p| p.pid())
        .unwrap_or_else(std::os::unix::process::parent_id);
    say!("Task {name} pid {pid} is running, parent id is {ppid}");
    std::thread::sleep(Duration::from_secs_f64(secs));
    say!("Task {name} end.");
    (pid, ppid)
}

/// The largest number of spans that overlap at one instant.
fn max_overlap(spans: &[Span]) -> usize {
    let mut events: Vec<(u64, i32)> = Vec::new();
    for s in spans {
        events.push((s.start_ns, 1));
        events.push((s.end_ns, -1));
    }
    // At equal times, an end comes before a start: back-to-back tasks do not overlap.
    events.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, d) in events {
        now += d;
        most = most.max(now);
    }
    most as usize
}

/// Collects check results; the exit status is 1 if any failed.
struct Checks {
    failed: usize,
}

impl Checks {
    fn check(&mut self, ok: bool, what: &str) {
        if ok {
            say!("ok: {what}");
        } else {
            self.failed += 1;
            say!("FAILED: {what}");
        }
    }
}

struct Setup {
    processes: usize,
    /// Tutorial seconds each task of parts 26 and 27 sleeps.
    task_secs: f64,
    opts: Opts,
}

impl Setup {
    fn pool(&self) -> Result<Pool, procpool::PoolError> {
        // The start method is the program's default, which `--method` sets.
        Pool::new(self.processes)
    }
}

fn pids_line(pids: &BTreeSet<u32>) -> String {
    let list: Vec<String> = pids.iter().map(u32::to_string).collect();
    format!("worker pids seen: {} ({})", pids.len(), list.join(", "))
}

/// Scenario 26.
fn part_async(s: &Setup, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!(
        "=== 26. apply_async (non-blocking): 4 tasks on Pool({}) ===",
        s.processes
    );
    let secs = s.opts.dur(s.task_secs).as_secs_f64();
    let pool = s.pool()?;
    let t0 = Instant::now();
    let results: Vec<AsyncResult<Span>> = (0..4)
        .map(|i| pool.apply_async(func, (i, secs)))
        .collect::<Result<_, _>>()?;
    say!("Main process started");
    pool.close();
    pool.join()?;
    say!("Main process ended");
    let elapsed = t0.elapsed().as_secs_f64();
    let spans: Vec<Span> = results
        .into_iter()
        .map(AsyncResult::get)
        .collect::<Result<_, _>>()?;
    let most = max_overlap(&spans);
    let pids: BTreeSet<u32> = spans.iter().map(|s| s.pid).collect();
    say!(
        "took {elapsed:.2} s for 4 tasks of {secs:.2} s: {:.1} rounds (not 4)",
        elapsed / secs
    );
    say!("{}", pids_line(&pids));
    let want = s.processes.min(4);
    checks.check(
        most == want,
        &format!("at most {most} tasks at once (expected {want})"),
    );
    Ok(())
}

/// Scenario 27.
fn part_apply(s: &Setup, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!(
        "=== 27. apply (blocking): 4 tasks on Pool({}) ===",
        s.processes
    );
    let secs = s.opts.dur(s.task_secs).as_secs_f64();
    let pool = s.pool()?;
    let t0 = Instant::now();
    let mut spans = Vec::new();
    for i in 0..4 {
        spans.push(pool.apply(func, (i, secs))?);
    }
    say!("Main process started");
    pool.close();
    pool.join()?;
    say!("Main process ended");
    let elapsed = t0.elapsed().as_secs_f64();
    let most = max_overlap(&spans);
    say!(
        "took {elapsed:.2} s for 4 tasks of {secs:.2} s: {:.1} rounds",
        elapsed / secs
    );
    checks.check(
        most == 1,
        &format!("at most {most} task at once (apply waits for each)"),
    );
    Ok(())
}

/// Scenario 28.
fn part_results(s: &Setup, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== 28. results: apply_async + get() in order ===");
    let secs = s.opts.dur(1.0).as_secs_f64();
    let pool = s.pool()?;
    let mut got = Vec::new();
    for i in 0..4 {
        let r = pool.apply_async(echo_later, (i, secs))?;
        let v = r.get()?;
        say!("{v}");
        got.push(v);
    }
    checks.check(
        got == [0, 1, 2, 3],
        "get() right after apply_async gives 0, 1, 2, 3 in order",
    );
    say!("=== 28. results: collect the AsyncResults, get them after close/join ===");
    let secs = s.opts.dur(0.5).as_secs_f64();
    let results: Vec<AsyncResult<(u64, u32)>> = (0..10u64)
        .map(|n| pool.apply_async(square, (n, secs)))
        .collect::<Result<_, _>>()?;
    pool.close();
    pool.join()?;
    let mut squares = Vec::new();
    let mut pids = BTreeSet::new();
    for r in results {
        let (sq, pid) = r.get()?;
        squares.push(sq);
        pids.insert(pid);
    }
    say!("results: {squares:?}");
    say!("{}", pids_line(&pids));
    let want: Vec<u64> = (0..10).map(|n| n * n).collect();
    checks.check(squares == want, "results are n² for n in 0..=9, in order");
    checks.check(
        pids.len() == s.processes,
        &format!(
            "{} distinct worker pids for 10 tasks (expected {})",
            pids.len(),
            s.processes
        ),
    );
    Ok(())
}

/// Scenario 29.
fn part_identity(s: &Setup, checks: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!(
        "=== 29. worker identity: 6 tasks on Pool({}) ===",
        s.processes
    );
    let me = procpool::current_process().pid();
    say!("current process {me}");
    let pool = s.pool()?;
    let results: Vec<AsyncResult<(u32, u32)>> = (0..6u64)
        .map(|i| {
            let secs = s
                .opts
                .dur(Rng::for_child(s.opts.seed, i).range_f64(0.0, 3.0))
                .as_secs_f64();
            pool.apply_async(long_time_task, (i.to_string(), secs))
        })
        .collect::<Result<_, _>>()?;
    say!("Waiting for all subprocesses done...");
    pool.close();
    pool.join()?;
    say!("All subprocesses done.");
    let mut pids = BTreeSet::new();
    let mut parents = BTreeSet::new();
    for r in results {
        let (pid, ppid) = r.get()?;
        pids.insert(pid);
        parents.insert(ppid);
    }
    say!("{}", pids_line(&pids));
    checks.check(
        parents.len() == 1 && parents.contains(&me),
        &format!("every task's parent id is {me}, the main process"),
    );
    checks.check(
        pids.len() == s.processes,
        &format!(
            "{} distinct worker pids for 6 tasks (expected {})",
            pids.len(),
            s.processes
        ),
    );
    Ok(())
}

fn main() {
    let opts = Opts::parse(USAGE);
    let part = opts
        .part(&["async", "apply", "results", "identity", "all"])
        .unwrap_or_else(|| "all".to_string());
    let processes: usize = opts.number("--processes", 3);
    if processes == 0 {
        demos::usage_error("--processes must be at least 1");
    }
    let task_secs: f64 = opts.number("--task-secs", 3.0);
    let setup = Setup {
        processes,
        task_secs,
        opts,
    };
    type Part = fn(&Setup, &mut Checks) -> Result<(), Box<dyn Error>>;
    let parts: Vec<Part> = match part.as_str() {
        "async" => vec![part_async],
        "apply" => vec![part_apply],
        "results" => vec![part_results],
        "identity" => vec![part_identity],
        "all" => vec![part_async, part_apply, part_results, part_identity],
        _ => unreachable!("Opts::part returns one of the choices"),
    };
    let mut checks = Checks { failed: 0 };
    for p in parts {
        if let Err(e) = p(&setup, &mut checks) {
            eprintln!("pool_apply: {e}");
            std::process::exit(1);
        }
    }
    if checks.failed > 0 {
        say!("pool_apply: {} check(s) failed", checks.failed);
        std::process::exit(1);
    }
}
