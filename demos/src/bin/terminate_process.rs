//! Scenario 7 (A. Processes): `terminate`, `is_alive` and exit codes.
//!
//! A process whose target prints `Starting`, sleeps 5 s and prints `Finished` is shown with
//! its representation and liveness before `start`, while running, right after `terminate`
//! (the signal may not have been acted on yet) and after `join`, where it is
//! `stopped exitcode=-SIGTERM`. `Finished` is never printed. Then the exit codes: `None` while
//! running, `0` after a clean exit, `1` after a panic, `-15` after death by `SIGTERM`.

use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, check, say};
use procpool::Process;

const USAGE: &str = "\
terminate_process [options]

Scenario 7: terminate and is_alive. A process that would print `Starting`, sleep 5 s and
print `Finished` is shown before start, during, right after terminate and after join
(stopped by SIGTERM, exit code -15); `Finished` never appears. Then the exit codes of a
clean exit (0) and of a panic (1).";

fn foo(nap: Duration) {
    say!("Starting");
    std::thread::sleep(nap);
    say!("Finished");
}

fn clean(_: ()) {}

fn crash(_: ()) {
    panic!("something went wrong in the child (this panic is part of the demo)");
}

fn body(opts: &Opts) -> DemoResult {
    let mut p = Process::new(foo, opts.dur(5.0));
    say!("Before: {p} {}", p.is_alive());
    check(p.exitcode().is_none(), "no exit code before start")?;

    p.start()?;
    say!("During: {p} {}", p.is_alive());
    say!("exitcode while running: {:?}", p.exitcode());
    check(p.exitcode().is_none(), "no exit code while running")?;

    // Let the child print `Starting` (the tutorial terminates at once; either way `Finished`
    // never comes).
    opts.sleep(1.0);
    p.terminate()?;
    // The signal has been sent but the child may not have died yet: `started`, alive.
    say!("Terminate: {p} {}", p.is_alive());

    let code = p.join()?;
    say!("Joined: {p} {}", p.is_alive());
    say!("exitcode after terminate: {code}");
    check(
        code == -15,
        format!("exit code {code} after SIGTERM, expected -15"),
    )?;

    let mut ok = Process::new(clean, ());
    ok.start()?;
    ok.join()?;
    say!("a clean exit: {ok}, exitcode {:?}", ok.exitcode());
    check(ok.exitcode() == Some(0), "exit code 0 after a clean exit")?;

    let mut bad = Process::new(crash, ());
    bad.start()?;
    bad.join()?;
    say!("a panic: {bad}, exitcode {:?}", bad.exitcode());
    check(bad.exitcode() == Some(1), "exit code 1 after a panic")
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
