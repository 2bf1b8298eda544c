//! Parent death: a parent killed with `SIGKILL` takes its daemon children and all its pool
//! workers with it; nothing is left running.
//!
//! The parent under test is itself a child of the test (started with procpool): it starts
//! daemon children and a pool, reports their pids through a queue, and sleeps. The test
//! collects every descendant of that parent from `/proc` as well, kills the parent with
//! `SIGKILL`, and polls each pid until it is gone (a zombie counts as gone: it no longer
//! runs). The design target is one second; the test asserts a generous deadline and reports
//! the measured times.
//!
//! The test process makes itself a child subreaper, so that the orphans are re-parented to it
//! (and not to a container's init, which may not reap them) and it can reap them by pid.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use integration::{figure, kill9, pid_gone, scaled, watchdog};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;
use procpool::{Pool, Process, Queue, StartMethod, get_context};
use serde::{Deserialize, Serialize};

const DEADLINE: Duration = Duration::from_secs(5);
const LONG: Duration = Duration::from_secs(30);

#[derive(Serialize, Deserialize)]
struct MiddleJob {
    report: Queue<Vec<u32>>,
    /// The start method for the middle parent's own children and pool.
    method: String,
}

fn sleeper(secs: u64) {
    std::thread::sleep(Duration::from_secs(secs));
}

fn square(x: u64) -> u64 {
    x * x
}

/// The parent under test: two daemon children and a pool of two workers, then sleep.
fn middle(job: MiddleJob) {
    let method: StartMethod = job.method.parse().expect("start method");
    let ctx = get_context(method);
    let mut daemons = Vec::new();
    for _ in 0..2 {
        let mut p = ctx.process(sleeper, 60).with_daemon(true);
        p.start().expect("start a daemon");
        daemons.push(p);
    }
    let pool = Pool::builder()
        .processes(2)
        .context(ctx)
        .build()
        .expect("start a pool");
    // The workers are up and working.
    assert_eq!(
        pool.map(square, 0..8u64).expect("map"),
        vec![0, 1, 4, 9, 16, 25, 36, 49]
    );
    let mut pids = vec![std::process::id()];
    pids.extend(daemons.iter().filter_map(Process::pid));
    pids.extend(pool.worker_pids());
    job.report.put(pids).expect("report");
    std::thread::sleep(Duration::from_secs(60));
}

/// Every descendant of `root` (children, grandchildren...), read from `/proc`.
fn descendants(root: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for t in tasks.flatten() {
            if let Ok(s) = std::fs::read_to_string(t.path().join("children")) {
                for c in s.split_whitespace().filter_map(|c| c.parse::<u32>().ok()) {
                    if out.insert(c) {
                        todo.push(c);
                    }
                }
            }
        }
    }
    out
}

/// Reaps `pid` if it is an (adopted) zombie child of this process.
fn reap(pid: u32) {
    let _ = waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG));
}

/// Whether `pid` is still a child of ours that has not been reaped.
fn still_our_child(pid: u32) -> bool {
    !matches!(
        waitpid(Pid::from_raw(pid as i32), Some(WaitPidFlag::WNOHANG)),
        Err(_) | Ok(WaitStatus::Exited(..)) | Ok(WaitStatus::Signaled(..))
    )
}

/// Starts a parent with `outer`, whose children and pool use `inner`; kills it; returns how
/// long after the kill the last of its descendants was gone.
fn parent_killed(outer: StartMethod, inner: StartMethod) -> (usize, Duration) {
    nix::sys::prctl::set_child_subreaper(true).expect("become a child subreaper");
    let report = Queue::<Vec<u32>>::new(0).unwrap();
    let job = MiddleJob {
        report: report.clone(),
        method: inner.as_str().to_string(),
    };
    let mut parent = get_context(outer).process(middle, job);
    parent.start().unwrap();
    let reported = report
        .get_timeout(LONG)
        .expect("the parent reports its children");
    let parent_pid = reported[0];
    assert_eq!(Some(parent_pid), parent.pid());
    // Everything below the parent: the reported children and workers, plus whatever else it
    // started (the fork server and its children, for instance).
    let mut watched: BTreeSet<u32> = reported[1..].iter().copied().collect();
    watched.extend(descendants(parent_pid));
    assert!(
        watched.len() >= 4,
        "expected 2 daemons and 2 workers: {watched:?}"
    );
    for &p in &watched {
        assert!(!pid_gone(p), "{p} is not running before the kill");
    }

    kill9(parent_pid);
    let killed_at = Instant::now();
    assert_eq!(parent.join_timeout(LONG).unwrap(), -9);
    let mut gone_after: BTreeMap<u32, Duration> = BTreeMap::new();
    while gone_after.len() < watched.len() && killed_at.elapsed() < DEADLINE {
        for &p in &watched {
            if !gone_after.contains_key(&p) && pid_gone(p) {
                gone_after.insert(p, killed_at.elapsed());
                reap(p);
            }
        }
        std::thread::sleep(Duration::from_micros(200));
    }
    let left: Vec<u32> = watched
        .iter()
        .copied()
        .filter(|p| !gone_after.contains_key(p))
        .collect();
    // Clean up before asserting, so that a failure leaves nothing behind.
    for &p in &left {
        kill9(p);
    }
    for &p in &watched {
        let deadline = Instant::now() + Duration::from_secs(5);
        while still_our_child(p) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    assert!(
        left.is_empty(),
        "{outer} parent with {inner} children: still running {DEADLINE:?} after the parent's death: {left:?}"
    );
    let worst = gone_after.values().copied().max().unwrap_or_default();
    (watched.len(), worst)
}

fn run(outer: StartMethod, inner: StartMethod) {
    let reps = scaled(3, 30);
    let mut times = Vec::new();
    let mut n = 0;
    for _ in 0..reps {
        let (k, worst) = watchdog(Duration::from_secs(60), move || parent_killed(outer, inner));
        n = k;
        times.push(worst);
    }
    times.sort();
    figure(
        &format!("parent_death.{outer}_parent.{inner}_children"),
        format!(
            "{reps} parents killed, each with {n} descendants (2 daemons, 2 pool workers{}): all gone after {:?} (median), {:?} (worst)",
            if n > 4 { ", the fork server" } else { "" },
            times[times.len() / 2],
            times[times.len() - 1]
        ),
    );
}

#[test]
fn fork_parent_with_fork_children() {
    run(StartMethod::Fork, StartMethod::Fork);
}

#[test]
fn fork_parent_with_spawn_children() {
    run(StartMethod::Fork, StartMethod::Spawn);
}

#[test]
fn fork_parent_with_forkserver_children() {
    run(StartMethod::Fork, StartMethod::ForkServer);
}

#[test]
fn spawn_parent_with_fork_children() {
    run(StartMethod::Spawn, StartMethod::Fork);
}

#[test]
fn spawn_parent_with_spawn_children() {
    run(StartMethod::Spawn, StartMethod::Spawn);
}

#[test]
fn spawn_parent_with_forkserver_children() {
    run(StartMethod::Spawn, StartMethod::ForkServer);
}
