//! Scenario 3 (A. Processes): a user-defined process type.
//!
//! Python subclasses `Process` and overrides `run`; here a serialisable struct implements
//! [`procpool::Run`] ([`demos::counting::MyProcess`]). Three of them, with loop counts 2, 3
//! and 4, print `Pid: PID LoopCount: c` once a second: 2 + 3 + 4 = 9 lines, interleaved.

use std::process::ExitCode;

use demos::counting::MyProcess;
use demos::{DemoResult, Opts, check, say};
use procpool::Process;

const USAGE: &str = "\
custom_process [options]

Scenario 3: a user-defined process type (Python: a subclass of Process overriding run).
Three MyProcess values with loop counts 2, 3 and 4 print `Pid: PID LoopCount: c` once a
second: 9 lines in all, interleaved.";

fn body(opts: &Opts) -> DemoResult {
    let mut children = Vec::new();
    for count in [2, 3, 4] {
        let mut p = Process::from_run(MyProcess::new(count, opts.dur(1.0)));
        p.start()?;
        say!(
            "started {} (pid {}), loop count {count}",
            p.name(),
            p.pid().unwrap_or(0)
        );
        children.push(p);
    }
    for p in &children {
        let code = p.join()?;
        check(code == 0, format!("{p} failed"))?;
    }
    say!("Main process Ended!");
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
