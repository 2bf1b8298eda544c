//! Scenarios 4, 5, 6 and 10 (A. Processes): daemon processes, `join` and `join_timeout`.
//!
//! * `daemon` (4): three daemon [`MyProcess`] children are started and the parent prints
//!   `Main process Ended!` and returns: the daemons are terminated with it, and print nothing.
//! * `join` (5): daemon children joined one after another: each finishes before the next
//!   starts; the parent's final line comes last.
//! * `join-all` (5): all started, then all joined: their lines interleave; the final line
//!   comes last.
//! * `timeout` (6): daemon children with counts 3 and 4, each joined with a 1 s timeout: the
//!   parent gives up after about 2 s, prints its final line and exits; the children die with
//!   it, having printed about 2 lines each.
//! * `no-children` (10): a daemon that tries to start a child gets
//!   [`StartError::DaemonicParent`] ("daemonic processes are not allowed to have children");
//!   when the parent's code ends, a daemon child is terminated while a non-daemon child runs
//!   to completion.
//!
//! Each part runs as its own program (the default runs them all), because what happens when
//! the main program ends is the point. The parent prints the pids of its daemon children so
//! that one can check that none is left running.

use std::process::ExitCode;
use std::time::Duration;

use demos::counting::MyProcess;
use demos::{DemoResult, Opts, check, say};
use procpool::{JoinTimeoutError, Process, StartError, current_process};

const USAGE: &str = "\
daemon_processes [daemon|join|join-all|timeout|no-children] [options]

Scenarios 4, 5, 6 and 10: daemon processes, join and join with a timeout.
  daemon       daemon children die with the parent; they print nothing (scenario 4)
  join         daemon children joined one after another (scenario 5)
  join-all     all started, then all joined (scenario 5)
  timeout      join with a 1 s timeout; the parent gives up and its daemons die (scenario 6)
  no-children  a daemon cannot start a child; at the end of the parent's code a daemon child
               is terminated and a non-daemon child runs to completion (scenario 10)
Without a part, runs them all, each as a fresh program.";

const PARTS: [(&str, &str); 5] = [
    ("daemon", "daemon children die with the parent (scenario 4)"),
    ("join", "join one after another (scenario 5)"),
    ("join-all", "start all, then join all (scenario 5)"),
    ("timeout", "join with a 1 s timeout (scenario 6)"),
    ("no-children", "daemons have no children (scenario 10)"),
];

fn daemon(count: u32, opts: &Opts) -> Process {
    Process::from_run(MyProcess::new(count, opts.dur(1.0))).with_daemon(true)
}

fn started(p: &Process) {
    say!(
        "started {} (pid {}, daemon)",
        p.name(),
        p.pid().unwrap_or(0)
    );
}

fn part_daemon(opts: &Opts) -> DemoResult {
    let mut children = Vec::new();
    for count in [2, 3, 4] {
        let mut p = daemon(count, opts);
        p.start()?;
        started(&p);
        children.push(p);
    }
    say!("Main process Ended!");
    // Returning ends the program: its daemon children are terminated (nothing else prints).
    Ok(())
}

fn part_join(opts: &Opts) -> DemoResult {
    for count in [2, 3, 4] {
        let mut p = daemon(count, opts);
        p.start()?;
        started(&p);
        let code = p.join()?;
        check(code == 0, format!("{p} failed"))?;
    }
    say!("Main process Ended!");
    Ok(())
}

fn part_join_all(opts: &Opts) -> DemoResult {
    let mut children = Vec::new();
    for count in [2, 3, 4] {
        let mut p = daemon(count, opts);
        p.start()?;
        started(&p);
        children.push(p);
    }
    for p in &children {
        let code = p.join()?;
        check(code == 0, format!("{p} failed"))?;
    }
    say!("Main process Ended!");
    Ok(())
}

fn part_timeout(opts: &Opts) -> DemoResult {
    let mut children = Vec::new();
    for count in [3, 4] {
        let mut p = daemon(count, opts);
        p.start()?;
        started(&p);
        children.push(p);
    }
    for p in &children {
        match p.join_timeout(opts.dur(1.0)) {
            Err(JoinTimeoutError::Timeout) => {
                say!("gave up waiting for {} after 1 s", p.name());
            }
            Ok(code) => say!("{} ended with exit code {code}", p.name()),
            Err(e) => return Err(e.into()),
        }
    }
    say!("Main process Ended!");
    // The daemons still run; they are terminated as the program ends.
    Ok(())
}

fn noop(_: ()) {}

/// Runs in a daemon child: tries to start a child of its own.
fn try_to_have_children(_: ()) -> procpool::ExitCode {
    let me = current_process().name().to_owned();
    let mut p = Process::new(noop, ());
    match p.start() {
        Err(e @ StartError::DaemonicParent) => {
            say!("{me} (daemon) tried to start a child: Error: {e}");
            procpool::ExitCode::SUCCESS
        }
        Err(e) => {
            say!("{me} (daemon) tried to start a child: unexpected error: {e}");
            procpool::ExitCode::FAILURE
        }
        Ok(()) => {
            let _ = p.join();
            say!("{me} (daemon) started a child: it should not have been allowed");
            procpool::ExitCode::FAILURE
        }
    }
}

fn sleeper((label, nap): (String, Duration)) {
    std::thread::sleep(nap);
    say!("{label}: finished");
}

fn part_no_children(opts: &Opts) -> DemoResult {
    let mut d = Process::new(try_to_have_children, ()).with_daemon(true);
    d.start()?;
    let code = d.join()?;
    check(code == 0, "a daemon must not be able to start a child")?;

    let mut dae =
        Process::new(sleeper, ("daemon child".to_string(), opts.dur(1.0))).with_daemon(true);
    let mut non = Process::new(sleeper, ("non-daemon child".to_string(), opts.dur(1.0)));
    dae.start()?;
    non.start()?;
    started(&dae);
    say!(
        "started {} (pid {}, not a daemon)",
        non.name(),
        non.pid().unwrap_or(0)
    );
    say!("Main process Ended!");
    // At the end of the program the daemon child is terminated and the other one is waited
    // for: only `non-daemon child: finished` follows.
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    let names = PARTS.map(|(n, _)| n);
    match opts.part(&names).as_deref() {
        None => opts.run_parts(&PARTS),
        Some("daemon") => demos::run(|| part_daemon(&opts)),
        Some("join") => demos::run(|| part_join(&opts)),
        Some("join-all") => demos::run(|| part_join_all(&opts)),
        Some("timeout") => demos::run(|| part_timeout(&opts)),
        Some(_) => demos::run(|| part_no_children(&opts)),
    }
}
