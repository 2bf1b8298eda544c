//! Measures start + join of a process with an empty target under each start method, next to a
//! raw `fork` + `_exit` + `waitpid` (the physical limit), in one run. The variants are
//! interleaved round by round so that load from other programs affects them alike; the median
//! of each is reported.
//!
//! `cargo run --release -p procpool --example start_join [rounds]`
// The raw baseline calls fork directly: that is what it measures.
#![allow(clippy::disallowed_methods)]

use std::time::{Duration, Instant};

use procpool::{Process, StartMethod, get_context};

fn empty(_: ()) {}

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

fn start_join(method: StartMethod) {
    let mut p = get_context(method).process(empty, ());
    p.start().expect("start");
    assert_eq!(p.join().expect("join"), 0);
}

fn start_join_daemon_off_main() {
    // Called on a non-main thread: the fork is handed to the launcher thread.
    let mut p = Process::new(empty, ())
        .with_start_method(StartMethod::Fork)
        .with_daemon(true);
    p.start().expect("start");
    assert_eq!(p.join().expect("join"), 0);
}

fn median(v: &mut [Duration]) -> f64 {
    v.sort();
    v[v.len() / 2].as_secs_f64() * 1e6
}

fn main() {
    let rounds: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(300);
    let names = [
        "raw fork+_exit+waitpid",
        "procpool fork",
        "procpool spawn",
        "procpool forkserver",
    ];
    let mut samples: Vec<Vec<Duration>> = vec![Vec::new(); names.len()];
    for round in 0..rounds + 10 {
        let mut time = |i: usize, f: &dyn Fn()| {
            let t = Instant::now();
            f();
            if round >= 10 {
                samples[i].push(t.elapsed()); // the first rounds warm up (and start the server)
            }
        };
        time(0, &raw_fork_exit_wait);
        time(1, &|| start_join(StartMethod::Fork));
        time(2, &|| start_join(StartMethod::Spawn));
        time(3, &|| start_join(StartMethod::ForkServer));
    }
    let n = 200;
    let f0 = faults();
    for _ in 0..n {
        raw_fork_exit_wait();
    }
    let f1 = faults();
    for _ in 0..n {
        start_join(StartMethod::Fork);
    }
    let f2 = faults();
    println!(
        "faults per round: raw child {} parent {}; procpool child {} parent {}",
        (f1.0 - f0.0) / n,
        (f1.1 - f0.1) / n,
        (f2.0 - f1.0) / n,
        (f2.1 - f1.1) / n
    );
    let raw = median(&mut samples[0]);
    for (name, s) in names.iter().zip(&mut samples) {
        let us = median(s);
        println!("{name:>30}: {us:8.1} µs  ({:.2}x raw fork)", us / raw);
    }
    let off_main = std::thread::spawn(move || {
        let mut v: Vec<Duration> = (0..rounds)
            .map(|_| {
                let t = Instant::now();
                start_join_daemon_off_main();
                t.elapsed()
            })
            .collect();
        median(&mut v)
    })
    .join()
    .expect("thread");
    println!(
        "{:>30}: {off_main:8.1} µs  (launcher thread hand-over)",
        "fork, daemon, non-main thread"
    );
}

fn faults() -> (i64, i64) {
    let get = |who| {
        // SAFETY: getrusage fills a zeroed rusage struct.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `u` is a valid, writable rusage.
        unsafe { libc::getrusage(who, &mut u) };
        u.ru_minflt
    };
    (get(libc::RUSAGE_CHILDREN), get(libc::RUSAGE_SELF))
}
