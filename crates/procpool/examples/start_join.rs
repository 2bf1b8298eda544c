//! Measures start + join of a process with an empty target under each start method, next to a
//! raw `fork` + `_exit` + `waitpid` loop (the physical limit), in one run.
//!
//! `cargo run --release -p procpool --example start_join [rounds]`
// The raw baseline calls fork directly: that is what it measures.
#![allow(clippy::disallowed_methods)]

use std::time::Instant;

use procpool::{StartMethod, get_context};

fn empty(_: ()) {}

fn per_round(rounds: u32, mut f: impl FnMut()) -> f64 {
    for _ in 0..rounds.min(20) {
        f(); // warm up (and start the fork server)
    }
    let t = Instant::now();
    for _ in 0..rounds {
        f();
    }
    t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
}

fn raw_fork_exit_wait() {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe.
    match unsafe { nix::unistd::fork() }.expect("fork") {
        nix::unistd::ForkResult::Child => {
            // SAFETY: `_exit` has no preconditions.
            unsafe { libc::_exit(0) }
        }
        nix::unistd::ForkResult::Parent { child } => {
            nix::sys::wait::waitpid(child, None).expect("waitpid");
        }
    }
}

fn main() {
    let rounds: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let raw = per_round(rounds, raw_fork_exit_wait);
    println!("{:>24}: {raw:8.1} µs", "raw fork+_exit+waitpid");
    for method in StartMethod::ALL {
        let ctx = get_context(method);
        let us = per_round(rounds, || {
            let mut p = ctx.process(empty, ());
            p.start().expect("start");
            assert_eq!(p.join().expect("join"), 0);
        });
        println!(
            "{:>24}: {us:8.1} µs  ({:.2}x raw fork)",
            format!("procpool {method}"),
            us / raw
        );
    }
    // From a thread other than main, a daemon child is forked on the launcher thread.
    let us = std::thread::spawn(move || {
        per_round(rounds, || {
            let mut p = procpool::Process::new(empty, ()).with_daemon(true);
            p.start().expect("start");
            assert_eq!(p.join().expect("join"), 0);
        })
    })
    .join()
    .expect("thread");
    println!(
        "{:>24}: {us:8.1} µs  ({:.2}x raw fork)",
        "fork, daemon, off-main",
        us / raw
    );
}
