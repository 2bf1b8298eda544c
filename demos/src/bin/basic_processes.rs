//! Scenarios 1, 2, 8 and 11 (A. Processes): starting processes.
//!
//! * `spawn` (1): five processes, each printing `Process: i` for its own argument i.
//! * `sleep` (2): the same five sleep i seconds first; meanwhile the parent prints
//!   `CPU number: N`, one `Child process name: Process-K id: PID` line per running child
//!   ([`active_children`]) and `Process Ended`. The children's lines follow as they wake; the
//!   program ends when the last child has printed (the main process waits for its non-daemon
//!   children at exit, as Python does).
//! * `ids` (8): children print their pid and their parent's pid; the parent prints its own;
//!   a process given a name shows it in its representation.
//! * `results` (11): a target's return value is discarded by `Process` (a target returning a
//!   number does not even compile); results come back through a `Queue`.

use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, check, say};
use procpool::{Process, Queue, active_children, cpu_count, current_process, parent_process};

const USAGE: &str = "\
basic_processes [spawn|sleep|ids|results] [options]

Scenarios 1, 2, 8 and 11: starting processes.
  spawn    five processes, each printing `Process: i` for its own argument i (scenario 1)
  sleep    the five sleep i seconds first; the parent prints cpu_count(), active_children()
           and `Process Ended` meanwhile (scenario 2)
  ids      pid, parent pid and names (scenario 8)
  results  return values are discarded; results come back through a Queue (scenario 11)
Without a part, runs all four, each as a fresh program.";

const PARTS: [(&str, &str); 4] = [
    (
        "spawn",
        "five processes, each with its own argument (scenario 1)",
    ),
    ("sleep", "cpu_count and active_children (scenario 2)"),
    ("ids", "pid, ppid and names (scenario 8)"),
    (
        "results",
        "return values are discarded; use a Queue (scenario 11)",
    ),
];

fn show(i: u32) {
    say!("Process: {i}");
}

fn nap_then_show((i, nap): (u32, Duration)) {
    std::thread::sleep(nap);
    say!("Process: {i}");
}

fn part_spawn() -> DemoResult {
    let mut children = Vec::new();
    for i in 0..5 {
        let mut p = Process::new(show, i);
        p.start()?;
        children.push(p);
    }
    for p in &children {
        let code = p.join()?;
        check(code == 0, format!("{} exited with {code}", p.name()))?;
    }
    Ok(())
}

fn part_sleep(opts: &Opts) -> DemoResult {
    let mut children = Vec::new();
    for i in 0..5 {
        let mut p = Process::new(nap_then_show, (i, opts.dur(f64::from(i))));
        p.start()?;
        children.push(p);
    }
    say!("CPU number: {}", cpu_count());
    for child in active_children() {
        say!("Child process name: {} id: {}", child.name(), child.pid());
    }
    say!("Process Ended");
    // The tutorial's script ends here; Python then waits for the non-daemon children, and so
    // does procpool at the end of `main` (the handles may even be dropped first).
    drop(children);
    Ok(())
}

fn report_ids(_: ()) {
    let me = current_process();
    let parent = parent_process().map_or(0, |p| p.pid());
    let os_parent = std::os::unix::process::parent_id();
    // Under the fork server the operating system's parent is the server, which forked the
    // child on the parent's request; `parent_process()` is the logical parent, as in Python.
    let via = if os_parent == parent {
        String::new()
    } else {
        format!(" (forked for it by the fork server, pid {os_parent})")
    };
    say!(
        "child {}: pid {}, parent pid {parent}{via}",
        me.name(),
        me.pid()
    );
}

fn part_ids() -> DemoResult {
    say!(
        "parent ({}): pid {}",
        current_process().name(),
        std::process::id()
    );
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut p = Process::new(report_ids, ());
        p.start()?;
        p.join()?;
        children.push(p);
    }
    let mut named = Process::new(report_ids, ()).with_name("worker-bee");
    say!("a named process: {named}");
    named.start()?;
    named.join()?;
    say!("after join:      {named}");
    for p in children.iter().chain([&named]) {
        check(p.exitcode() == Some(0), format!("{p} did not exit cleanly"))?;
    }
    Ok(())
}

/// Squares `x` and sends the result back: `Process` discards return values, so a target
/// that wants to return something sends it through a queue (or a pipe, or shared memory).
///
/// `fn square(x: u64) -> u64` would not compile as a process target: the compiler says that
/// a process target cannot return `u64` because `Process` discards a target's result.
fn square((x, results): (u64, Queue<(u64, u64)>)) {
    let _ = results.put((x, x * x));
}

fn part_results() -> DemoResult {
    say!("Process discards what a target returns (as Python does): a target returning a value");
    say!("does not compile. The children send their results through a Queue instead.");
    let results = Queue::<(u64, u64)>::unbounded()?;
    let mut children = Vec::new();
    for x in 1..=5 {
        let mut p = Process::new(square, (x, results.clone()));
        p.start()?;
        children.push(p);
    }
    for p in &children {
        p.join()?;
    }
    let mut got: Vec<(u64, u64)> = (0..children.len())
        .map(|_| results.get_timeout(Duration::from_secs(10)))
        .collect::<Result<_, _>>()?;
    got.sort_unstable();
    for (x, sq) in &got {
        say!("square({x}) = {sq}");
    }
    for (p, (x, sq)) in children.iter().zip(&got) {
        say!("{} exit code: {:?}", p.name(), p.exitcode());
        check(*sq == x * x, format!("square({x}) came back as {sq}"))?;
    }
    check(got.len() == 5, "five results")
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    let names = PARTS.map(|(n, _)| n);
    match opts.part(&names).as_deref() {
        None => opts.run_parts(&PARTS),
        Some("spawn") => demos::run(part_spawn),
        Some("sleep") => demos::run(|| part_sleep(&opts)),
        Some("ids") => demos::run(part_ids),
        Some(_) => demos::run(part_results),
    }
}
