//! Scenario 14 (B. Synchronisation): a Semaphore guards 4 karaoke (KTV) rooms.
//!
//! 13 user processes each acquire the [`Semaphore`]`(4)`, print `userI got a room`, stay a
//! random 0–3 s and leave. At most 4 are inside at any moment: each user counts itself in and
//! out of a shared counter while it holds its permit, and records the largest count it saw;
//! the parent joins everyone, prints a divider and `max users inside: N`, and fails if N > 4.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use demos::{DemoResult, Opts, Rng, check, say, scaled};
use procpool::{Process, Semaphore, SharedAtomics};

const USAGE: &str = "\
ktv_rooms [--users N] [--rooms N] [options]

Scenario 14: Semaphore(4) guards 4 KTV rooms; 13 users each get a room, stay a random 0-3 s and
leave. The demo counts the users inside and reports the maximum it saw (never more than 4;
exit code 1 otherwise).
  --users N   number of users (default 13)
  --rooms N   number of rooms, the semaphore's value (default 4)";

/// Word 0: users inside now; word 1: the most ever inside.
const INSIDE: usize = 0;
const MOST: usize = 1;

fn user((i, rooms, counts, secs, fast): (u32, Semaphore, SharedAtomics, f64, bool)) {
    let _permit = rooms.acquire();
    let now = counts[INSIDE].fetch_add(1, Ordering::SeqCst) + 1;
    counts[MOST].fetch_max(now, Ordering::SeqCst);
    say!("user{i} got a room ({now} inside)");
    std::thread::sleep(scaled(secs, fast));
    counts[INSIDE].fetch_sub(1, Ordering::SeqCst);
    say!("user{i} leaves after {secs:.1} s");
    // The permit is given back here, after the user has counted itself out.
}

fn body(opts: &Opts) -> DemoResult {
    let users: u32 = opts.number("--users", 13);
    let rooms_n: u32 = opts.number("--rooms", 4);
    let rooms = Semaphore::new(rooms_n)?;
    let counts = SharedAtomics::new(2)?;
    let mut rng = Rng::new(opts.seed);
    let mut children = Vec::new();
    for i in 0..users {
        let secs = rng.range_f64(0.0, 3.0);
        let args = (i, rooms.clone(), counts.clone(), secs, opts.fast);
        let mut p = Process::new(user, args);
        p.start()?;
        children.push(p);
    }
    for p in &children {
        check(p.join()? == 0, format!("{p} failed"))?;
    }
    let most = counts[MOST].load(Ordering::SeqCst);
    say!("{}", "-".repeat(30));
    say!("max users inside: {most} ({rooms_n} rooms, {users} users)");
    check(
        most <= u64::from(rooms_n),
        format!("{most} users were inside {rooms_n} rooms at once"),
    )
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
