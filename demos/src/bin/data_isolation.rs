//! Scenario 9 (A. Processes): processes do not share memory.
//!
//! The program has a global `N = 100`. A child sets its copy to 0 and prints `in child: 0`;
//! after joining, the parent prints `in parent: 100`: the child changed its own copy (under
//! fork a copy of the parent's memory, under spawn a fresh program). Only a shared object is
//! shared: the same child also sets a word of [`SharedAtomics`] to 0, and the parent sees that.

use std::process::ExitCode;
use std::sync::atomic::{AtomicI64, Ordering};

use demos::{DemoResult, Opts, check, say};
use procpool::{Process, SharedAtomics};

const USAGE: &str = "\
data_isolation [options]

Scenario 9: data isolation. A global n = 100; the child sets its copy to 0 and prints
`in child: 0`; the parent, after joining, prints `in parent: 100`. A shared object (here a
SharedAtomics word) is the only thing both see change.";

/// Python's module-level `n = 100`.
static N: AtomicI64 = AtomicI64::new(100);

fn child(shared: SharedAtomics) {
    N.store(0, Ordering::SeqCst);
    say!("in child: {}", N.load(Ordering::SeqCst));
    shared[0].store(0, Ordering::SeqCst);
    say!(
        "in child, shared value: {}",
        shared[0].load(Ordering::SeqCst)
    );
}

fn body() -> DemoResult {
    let shared = SharedAtomics::new(1)?;
    shared[0].store(100, Ordering::SeqCst);
    let mut p = Process::new(child, shared.clone());
    p.start()?;
    p.join()?;
    check(p.exitcode() == Some(0), format!("{p} failed"))?;
    let n = N.load(Ordering::SeqCst);
    let s = shared[0].load(Ordering::SeqCst);
    say!("in parent: {n}");
    say!("in parent, shared value: {s}");
    check(
        n == 100,
        "the child's change of its copy must not reach the parent",
    )?;
    check(
        s == 0,
        "the child's change of the shared value must reach the parent",
    )
}

fn main() -> ExitCode {
    let _opts = Opts::parse(USAGE);
    demos::run(body)
}
