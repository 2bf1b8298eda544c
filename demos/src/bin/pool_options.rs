//! Scenario 32 (D. Pools): the pool's options and the `AsyncResult` API, one at a time.
//!
//! - `Pool()` without a size starts `cpu_count()` workers.
//! - `initializer` with `initargs` runs once in every worker before its first task (here it
//!   stores a prefix in a worker-global that the tasks read).
//! - `maxtasksperchild` replaces a worker after a number of tasks.
//! - `AsyncResult`: `ready()`, `successful()` (an error before the result is ready, as Python's
//!   `ValueError`), `get(timeout)` (gives the handle back when the time is up), `wait(timeout)`,
//!   and `get()` re-raising the task's error in the parent: a panic in the task comes back as
//!   `TaskError::Panicked` with its message, and the worker goes on.
//! - `close()` stops new work but lets submitted work finish; `join()` is allowed only after
//!   `close()` or `terminate()`; `terminate()` stops at once, failing unfinished tasks.
//!
//! Each part ends with `ok:` lines; the exit status is 1 if a check fails.
#![forbid(unsafe_code)]

use std::collections::BTreeSet;
use std::error::Error;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use demos::{Opts, say};
use procpool::{Context, GetTimeoutError, Pool, PoolError, SubmitError, TaskError};

const USAGE: &str = "\
pool_options — scenario 32: Pool(processes, initializer, initargs), close/join/terminate,
and AsyncResult's get(timeout), ready, successful, wait

Usage: pool_options [options]

Runs each part in turn and prints what each call returns.";

/// The worker-global the initializer sets (Python's `global` in an initializer).
static TAG: OnceLock<(String, u32)> = OnceLock::new();

/// The initializer: runs once in each worker, with the pool's `initargs`.
fn init_worker((prefix, base): (String, u32)) {
    say!(
        "initializer: worker {} got initargs ({prefix:?}, {base})",
        std::process::id()
    );
    let _ = TAG.set((prefix, base));
}

/// A task that reads what the initializer stored.
fn label(n: u32) -> String {
    match TAG.get() {
        Some((prefix, base)) => format!("{prefix}{}", base + n),
        None => format!("no initializer ran in worker {}", std::process::id()),
    }
}

fn sleep_then((secs, value): (f64, String)) -> String {
    std::thread::sleep(Duration::from_secs_f64(secs));
    value
}

fn whoami(_: u32) -> u32 {
    std::process::id()
}

/// A task that fails the way a Python task raises: it panics.
fn divide((a, b): (i64, i64)) -> i64 {
    a / b
}

/// A task that reports failure as a value instead.
fn checked_divide((a, b): (i64, i64)) -> Result<i64, String> {
    a.checked_div(b)
        .ok_or_else(|| format!("cannot divide {a} by {b}"))
}

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

/// Python's `get_context(method)`: the start method of `--method` (fork by default).
fn context(opts: &Opts) -> Context {
    procpool::get_context(opts.start_method())
}

type Part = fn(&Opts, Context, &mut Checks) -> Result<(), Box<dyn Error>>;

fn default_size(_: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== Pool() with no size ===");
    let pool = Pool::builder().context(ctx).build()?;
    let n = procpool::cpu_count();
    say!(
        "cpu_count() = {n}; Pool() started {} workers: {:?}",
        pool.processes(),
        pool.worker_pids()
    );
    pool.close();
    pool.join()?;
    c.check(pool.processes() == n, "the default size is cpu_count()");
    Ok(())
}

fn initializer(_: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== Pool(2, initializer=init_worker, initargs=(\"ticket-\", 100)) ===");
    let pool = Pool::builder()
        .processes(2)
        .initializer(init_worker, ("ticket-".to_string(), 100))
        .context(ctx)
        .build()?;
    let labels = pool.map(label, 0..6)?;
    say!("map(label, 0..6) = {labels:?}");
    pool.close();
    pool.join()?;
    let want: Vec<String> = (100..106).map(|n| format!("ticket-{n}")).collect();
    c.check(
        labels == want,
        "every task saw what the initializer stored in its worker",
    );
    Ok(())
}

fn maxtasks(_: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== Pool(1, maxtasksperchild=2): 6 tasks ===");
    let pool = Pool::builder()
        .processes(1)
        .maxtasksperchild(2)
        .context(ctx)
        .build()?;
    let mut pids = Vec::new();
    for i in 0..6 {
        pids.push(pool.apply(whoami, i)?);
    }
    say!(
        "pids of the tasks: {pids:?} ({} replacements)",
        pool.replacements()
    );
    pool.close();
    pool.join()?;
    let distinct: BTreeSet<u32> = pids.iter().copied().collect();
    c.check(
        distinct.len() == 3,
        &format!(
            "{} workers ran 6 tasks, 2 each (expected 3)",
            distinct.len()
        ),
    );
    Ok(())
}

fn async_result(opts: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    let secs = opts.dur(2.0).as_secs_f64();
    let short = opts.dur(0.5);
    say!("=== AsyncResult: a task that sleeps {secs:.2} s ===");
    let pool = Pool::builder().processes(2).context(ctx).build()?;
    let r = pool.apply_async(sleep_then, (secs, "done".to_string()))?;
    let ready = r.ready();
    say!("ready() = {ready}");
    let early = r.successful();
    match early {
        Ok(s) => say!("successful() = {s}"),
        Err(e) => say!("successful() -> error: {e} (Python raises ValueError)"),
    }
    let t = Instant::now();
    let r = match r.get_timeout(short) {
        Ok(v) => {
            say!(
                "get(timeout={:.2}) = {v:?} (sooner than expected)",
                short.as_secs_f64()
            );
            c.check(false, "get(timeout) timed out on a task still running");
            return Ok(());
        }
        Err(GetTimeoutError::Timeout(r)) => {
            say!(
                "get(timeout={:.2}) -> timed out after {:.2} s; the task goes on",
                short.as_secs_f64(),
                t.elapsed().as_secs_f64()
            );
            r
        }
        Err(GetTimeoutError::Failed(e)) => return Err(e.into()),
    };
    let waited = r.wait_timeout(Duration::from_secs(60));
    say!("wait(timeout=60) = {waited}");
    say!("ready() = {}", r.ready());
    let late = r.successful();
    say!("successful() = {late:?}");
    let v = r.get()?;
    say!("get() = {v:?}");
    pool.close();
    pool.join()?;
    c.check(
        !ready && early.is_err(),
        "not ready at first, and successful() refused to answer",
    );
    c.check(
        waited && late == Ok(true) && v == "done",
        "after wait(): ready, successful, and get() returns the value",
    );
    Ok(())
}

fn errors(_: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== get() re-raises the task's error ===");
    let pool = Pool::builder().processes(2).context(ctx).build()?;
    let before = pool.worker_pids();
    let r = pool.apply_async(divide, (1, 0))?;
    r.wait();
    let successful = r.successful();
    say!("divide(1, 0): successful() = {successful:?}");
    let got = r.get();
    match &got {
        Ok(v) => say!("get() = {v}"),
        Err(e) => say!("get() -> Err: {e}"),
    }
    let typed = pool.apply(checked_divide, (1, 0))?;
    say!("checked_divide(1, 0) returns its error as a value: {typed:?}");
    let fine = pool.apply(divide, (84, 2))?;
    say!(
        "divide(84, 2) = {fine}; workers before {before:?}, after {:?}",
        pool.worker_pids()
    );
    let same_workers = before == pool.worker_pids();
    pool.close();
    pool.join()?;
    c.check(
        successful == Ok(false) && matches!(got, Err(TaskError::Panicked { .. })),
        "the task's panic came back from get() as TaskError::Panicked",
    );
    c.check(
        typed.is_err() && fine == 42 && same_workers,
        "a Result task gives its Err as a value; the workers survived the panic",
    );
    Ok(())
}

fn close_join(opts: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    say!("=== close() and join() ===");
    let secs = opts.dur(0.5).as_secs_f64();
    let pool = Pool::builder().processes(2).context(ctx).build()?;
    let early_join = pool.join();
    match &early_join {
        Ok(()) => say!("join() before close() = Ok"),
        Err(e) => say!("join() before close() -> error: {e}"),
    }
    let results: Vec<_> = (0..3)
        .map(|i| pool.apply_async(sleep_then, (secs, format!("task {i}"))))
        .collect::<Result<_, _>>()?;
    pool.close();
    let refused = pool.apply_async(whoami, 0).map(|_| ());
    match &refused {
        Ok(()) => say!("apply_async after close() = Ok"),
        Err(e) => say!("apply_async after close() -> error: {e} (Python: ValueError)"),
    }
    pool.join()?;
    let values: Vec<String> = results
        .into_iter()
        .map(|r| r.get())
        .collect::<Result<_, _>>()?;
    say!("after join(): the work submitted before close() finished: {values:?}");
    c.check(
        matches!(early_join, Err(PoolError::StillRunning)),
        "join() before close() is an error",
    );
    c.check(
        matches!(refused, Err(SubmitError::NotRunning)) && values.len() == 3,
        "close() refuses new work and lets submitted work finish",
    );
    Ok(())
}

fn terminate(opts: &Opts, ctx: Context, c: &mut Checks) -> Result<(), Box<dyn Error>> {
    // The tutorial's 10 s even in fast mode: terminate() does not wait for them.
    let secs = 10.0;
    say!("=== terminate(): 4 tasks of {secs:.1} s on Pool(2) ===");
    let pool = Pool::builder().processes(2).context(ctx).build()?;
    let results: Vec<_> = (0..4)
        .map(|i| pool.apply_async(sleep_then, (secs, format!("task {i}"))))
        .collect::<Result<_, _>>()?;
    std::thread::sleep(opts.dur(0.5));
    let t = Instant::now();
    pool.terminate();
    pool.join()?;
    say!(
        "terminate() + join() took {:.3} s (each task sleeps {secs:.1} s)",
        t.elapsed().as_secs_f64()
    );
    let mut terminated = 0;
    for (i, r) in results.into_iter().enumerate() {
        match r.get() {
            Ok(v) => say!("task {i}: {v:?}"),
            Err(e) => {
                if e == TaskError::Terminated {
                    terminated += 1;
                }
                say!("task {i}: {e}");
            }
        }
    }
    c.check(
        terminated == 4,
        "every unfinished task failed with Terminated",
    );
    Ok(())
}

fn main() {
    let opts = Opts::parse(USAGE);
    let ctx = context(&opts);
    let parts: [Part; 7] = [
        default_size,
        initializer,
        maxtasks,
        async_result,
        errors,
        close_join,
        terminate,
    ];
    let mut checks = Checks { failed: 0 };
    for p in parts {
        if let Err(e) = p(&opts, ctx, &mut checks) {
            eprintln!("pool_options: {e}");
            std::process::exit(1);
        }
    }
    if checks.failed > 0 {
        say!("pool_options: {} check(s) failed", checks.failed);
        std::process::exit(1);
    }
}
