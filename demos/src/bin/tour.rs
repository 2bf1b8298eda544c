//! The demo tour: runs every tutorial scenario demo in fast mode, one after another, with a
//! heading for each and a summary line at the end. The README's main command:
//! `cargo run --release -p demos --bin tour`.
//!
//! The demos are the binaries next to the tour's own executable; [`DEMOS`] is the one list of
//! them, with their scenario numbers and titles. Each runs with `--fast` and a fixed `--seed`
//! (the tour's own `--seed`, else 42), with standard input closed, so that the interactive
//! demos take their non-interactive path; its output is forwarded as it comes. A demo that
//! fails, is missing, or runs past the deadline (`--timeout`, killed then) counts as failed,
//! and the tour's exit code is then 1.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use demos::{Opts, say};

const USAGE: &str = "\
tour — runs every scenario demo in --fast mode, with a heading for each and a summary

Usage: tour [--list] [--check] [--only NAME,...] [--skip NAME,...] [--timeout SECS] [--seed N]

  --list            print the demos (binary, scenarios, title, arguments) and exit
  --check           check that every demo binary is built next to the tour, and exit
  --only NAME,...   run only these demos
  --skip NAME,...   run all but these demos
  --timeout SECS    kill a demo that runs longer (default 120) and count it as failed
  --seed N          the seed passed to every demo (default 42)";

/// One demo of the tour.
#[derive(Debug)]
struct Demo {
    /// The tutorial scenarios it reproduces (see `shared/scenarios.md`).
    scenarios: &'static str,
    /// The heading's title.
    title: &'static str,
    /// The binary's name (`cargo run -p demos --bin NAME`).
    bin: &'static str,
    /// Arguments besides `--fast --seed N`: the non-interactive mode of interactive demos.
    args: &'static [&'static str],
}

const fn demo(
    scenarios: &'static str,
    title: &'static str,
    bin: &'static str,
    args: &'static [&'static str],
) -> Demo {
    Demo {
        scenarios,
        title,
        bin,
        args,
    }
}

/// Every demo, in the order of the scenarios.
///
/// Scenarios 22–25 (pipes) join when `demos/pending/pipes.rs` moves to `src/bin` with the pipe
/// branch; the demos' tests fail until every binary in `src/bin` is listed here.
const DEMOS: &[Demo] = &[
    demo(
        "1, 2, 8, 11",
        "Processes: spawn, cpu_count, names and pids, results",
        "basic_processes",
        &[],
    ),
    demo("3", "A custom process type", "custom_process", &[]),
    demo(
        "4, 5, 6, 10",
        "Daemons, join, join with a timeout",
        "daemon_processes",
        &[],
    ),
    demo("7", "terminate and is_alive", "terminate_process", &[]),
    demo("9", "Data isolation", "data_isolation", &[]),
    demo("12", "A lock around printing", "print_lock", &[]),
    demo("13", "Ticket booking", "ticket_booking", &[]),
    demo("14", "Semaphore: KTV rooms", "ktv_rooms", &[]),
    demo(
        "15, 17",
        "Producer and consumer: semaphores, then a queue",
        "producer_consumer",
        &[],
    ),
    demo("16", "Event: traffic lights", "traffic_lights", &[]),
    demo("18", "The Queue API", "queue_api", &[]),
    demo("19", "Two writers, one reader", "queue_readers", &[]),
    demo(
        "20",
        "Producers and consumers with end markers",
        "producers_consumers",
        &[],
    ),
    demo("21", "JoinableQueue", "joinable_queue", &[]),
    demo(
        "22-25",
        "Pipes: duplex, messages, end of file, shared end",
        "pipes",
        &[],
    ),
    demo(
        "26-29",
        "Pools: apply_async, apply, results, worker identity",
        "pool_apply",
        &[],
    ),
    demo("30", "map over URLs", "pool_map_urls", &[]),
    demo("31", "Callbacks", "pool_callbacks", &[]),
    demo("32", "Pool options and AsyncResult", "pool_options", &[]),
    demo(
        "33",
        "The parallel benchmark: sequential vs processes vs threads",
        "parallel_benchmark",
        &[],
    ),
    demo(
        "34",
        "Echo server, one process per connection",
        "echo_server",
        &["--self-test"],
    ),
    demo("35", "A command centre", "command_centre", &["--demo"]),
];

/// `cargo run --bin tour` builds only the tour: build the other demos (same profile) if any
/// is missing. `CARGO` is set when the tour runs under `cargo run`.
fn build_missing(dir: &Path) {
    if DEMOS.iter().all(|d| dir.join(d.bin).exists()) {
        return;
    }
    let Some(cargo) = std::env::var_os("CARGO") else {
        return;
    };
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "-q", "-p", "demos", "--bins"]);
    if dir.ends_with("release") {
        cmd.arg("--release");
    }
    say!("tour: building the demo binaries...");
    let _ = cmd.status();
}

fn names(opts: &Opts, name: &str) -> Option<Vec<String>> {
    let list: Vec<String> = opts
        .value(name)?
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    for n in &list {
        if !DEMOS.iter().any(|d| d.bin == n) {
            demos::usage_error(&format!("{name}: no demo is called {n:?} (see --list)"));
        }
    }
    Some(list)
}

/// How a demo's run ended.
enum Outcome {
    Passed,
    Failed(String),
}

/// Runs one demo, forwarding its output, killing it at `deadline`.
fn run_demo(dir: &Path, d: &Demo, seed: u64, timeout: Duration) -> Outcome {
    let path: PathBuf = dir.join(d.bin);
    if !path.exists() {
        return Outcome::Failed(format!(
            "the binary {} is missing: build the demos first (`cargo build -p demos --bins`, \
             with --release for a release tour)",
            path.display()
        ));
    }
    let child = Command::new(&path)
        .arg("--fast")
        .args(["--seed", &seed.to_string()])
        .args(d.args)
        .stdin(Stdio::null())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot run {}: {e}", path.display())),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Outcome::Passed,
            Ok(Some(status)) => return Outcome::Failed(status.to_string()),
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Failed(format!(
                    "still running after {} s: killed",
                    timeout.as_secs_f64()
                ));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Outcome::Failed(format!("cannot wait for it: {e}"));
            }
        }
    }
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    if opts.flag("--list") {
        for d in DEMOS {
            say!(
                "{}\t{}\t{}\t{}",
                d.bin,
                d.scenarios,
                d.title,
                d.args.join(" ")
            );
        }
        return ExitCode::SUCCESS;
    }
    let dir = match std::env::current_exe() {
        Ok(exe) => match exe.parent() {
            Some(dir) => dir.to_path_buf(),
            None => {
                eprintln!("tour: {} has no parent directory", exe.display());
                return ExitCode::FAILURE;
            }
        },
        Err(e) => {
            eprintln!("tour: cannot find my own executable, next to which the demos are: {e}");
            return ExitCode::FAILURE;
        }
    };
    if opts.flag("--check") {
        let missing: Vec<&str> = DEMOS
            .iter()
            .filter(|d| !dir.join(d.bin).exists())
            .map(|d| d.bin)
            .collect();
        if missing.is_empty() {
            say!(
                "tour: all {} demos are built in {}",
                DEMOS.len(),
                dir.display()
            );
            return ExitCode::SUCCESS;
        }
        say!("tour: missing in {}: {}", dir.display(), missing.join(", "));
        return ExitCode::FAILURE;
    }
    // A fixed seed unless one was given: the same tour prints the same random choices.
    let seed_given = std::env::args().any(|a| a == "--seed" || a.starts_with("--seed="));
    let seed = if seed_given { opts.seed } else { 42 };
    let timeout = Duration::from_secs_f64(opts.number("--timeout", 120.0f64).max(0.001));
    let only = names(&opts, "--only");
    let skip = names(&opts, "--skip").unwrap_or_default();
    build_missing(&dir);

    let start = Instant::now();
    let mut passed = 0;
    let mut failed: Vec<&str> = Vec::new();
    for d in DEMOS {
        if only.as_ref().is_some_and(|o| !o.iter().any(|n| n == d.bin))
            || skip.iter().any(|n| n == d.bin)
        {
            continue;
        }
        say!();
        say!("== {}. {} ({}) ==", d.scenarios, d.title, d.bin);
        let t = Instant::now();
        match run_demo(&dir, d, seed, timeout) {
            Outcome::Passed => {
                passed += 1;
                say!("-- {}: ok in {:.1} s", d.bin, t.elapsed().as_secs_f64());
            }
            Outcome::Failed(why) => {
                say!(
                    "-- {}: FAILED after {:.1} s: {why}",
                    d.bin,
                    t.elapsed().as_secs_f64()
                );
                failed.push(d.bin);
            }
        }
    }
    say!();
    say!(
        "tour: {} demos, {passed} passed, {} failed in {:.1} s{}",
        passed + failed.len(),
        failed.len(),
        start.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" (failed: {})", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
