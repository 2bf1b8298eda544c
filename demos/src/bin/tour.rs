//! The demo tour: runs every tutorial scenario demo in fast mode, one after another, with a
//! heading for each and a summary line at the end. The README's main command:
//! `cargo run --release -p demos --bin tour`.

use std::process::{Command, ExitCode};
use std::time::Instant;

use demos::Opts;

const USAGE: &str = "tour: runs every scenario demo in --fast mode, with a heading for each and a summary.\n\
Usage: tour [--list] [--only NAME]";

/// (scenarios, title, binary, extra arguments)
const DEMOS: &[(&str, &str, &str, &[&str])] = &[
    (
        "1, 2, 8, 11",
        "Processes: spawn, names, pids, results",
        "basic_processes",
        &[],
    ),
    ("3", "A custom process type", "custom_process", &[]),
    (
        "4, 5, 6, 10",
        "Daemons, join, join with a timeout",
        "daemon_processes",
        &[],
    ),
    ("7", "terminate and is_alive", "terminate_process", &[]),
    ("9", "Data isolation", "data_isolation", &[]),
    ("12", "A lock around printing", "print_lock", &[]),
    ("13", "Ticket booking", "ticket_booking", &[]),
    ("14", "Semaphore: KTV rooms", "ktv_rooms", &[]),
    ("15, 17", "Producer and consumer", "producer_consumer", &[]),
    ("16", "Event: traffic lights", "traffic_lights", &[]),
    ("18", "The Queue API", "queue_api", &[]),
    ("19", "Two writers, one reader", "queue_readers", &[]),
    (
        "20",
        "Producers and consumers with end markers",
        "producers_consumers",
        &[],
    ),
    ("21", "JoinableQueue", "joinable_queue", &[]),
    ("22-25", "Pipes", "pipes", &[]),
];

/// `cargo run --bin tour` builds only the tour: build the other demos (same profile) if any
/// is missing. `CARGO` is set when the tour runs under `cargo run`.
fn build_missing(dir: &std::path::Path) {
    if DEMOS.iter().all(|(_, _, bin, _)| dir.join(bin).exists()) {
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
    println!("tour: building the demo binaries...");
    let _ = cmd.status();
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    if opts.flag("--list") {
        for (s, title, bin, _) in DEMOS {
            println!("{bin:20} {s:12} {title}");
        }
        return ExitCode::SUCCESS;
    }
    let only = opts.value("--only").map(str::to_string);
    let dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()))
        .expect("cannot locate the demo binaries next to the tour");
    build_missing(&dir);
    let start = Instant::now();
    let (mut passed, mut failed) = (0, Vec::new());
    for (scenarios, title, bin, extra) in DEMOS {
        if only.as_deref().is_some_and(|o| o != *bin) {
            continue;
        }
        println!("\n== {scenarios}. {title} ({bin}) ==");
        let t = Instant::now();
        let status = Command::new(dir.join(bin))
            .arg("--fast")
            .args(["--seed", &opts.seed.to_string()])
            .args(*extra)
            .status();
        match status {
            Ok(s) if s.success() => {
                passed += 1;
                println!("-- {bin}: ok in {:.1} s", t.elapsed().as_secs_f64());
            }
            Ok(s) => {
                println!("-- {bin}: FAILED ({s})");
                failed.push(*bin);
            }
            Err(e) => {
                println!("-- {bin}: cannot run ({e}); build the demos first");
                failed.push(*bin);
            }
        }
    }
    println!(
        "\ntour: {} demos, {} passed, {} failed in {:.1} s{}",
        passed + failed.len(),
        passed,
        failed.len(),
        start.elapsed().as_secs_f64(),
        if failed.is_empty() {
            String::new()
        } else {
            format!(" ({})", failed.join(", "))
        }
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
