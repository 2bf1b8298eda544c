//! Integration tests of the demos for scenarios 1 to 25 (processes, synchronisation, queues
//! and pipes). Each demo runs as a real program, in `--fast` mode unless its check depends on
//! the tutorial's timing, with a 60 s deadline (the child is killed and the test fails after
//! that), and its output is checked for what the scenario promises.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const DEADLINE: Duration = Duration::from_secs(60);

mod common;
use common::Output;

/// Runs `bin` with `args` (plus `--fast` when `fast`), with colours off, and fails the test if
/// it does not end within the deadline or exits with an error.
fn run_with(bin: &str, args: &[&str], fast: bool) -> Output {
    let out = run_raw(bin, args, fast);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}\n--- stdout:\n{}\n--- stderr:\n{}",
        out.status,
        out.stdout,
        out.stderr
    );
    out
}

fn run(bin: &str, args: &[&str]) -> Output {
    run_with(bin, args, true)
}

fn run_raw(bin: &str, args: &[&str], fast: bool) -> Output {
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .env("NO_COLOR", "1")
        .env_remove("PROCPOOL_DEMO_FAST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if fast {
        cmd.arg("--fast");
    }
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"));
    let (tx, rx) = mpsc::channel();
    for (which, mut pipe) in [
        (
            0,
            Box::new(child.stdout.take().expect("stdout")) as Box<dyn Read + Send>,
        ),
        (1, Box::new(child.stderr.take().expect("stderr"))),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((which, String::from_utf8_lossy(&buf).into_owned()));
        });
    }
    let start = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if start.elapsed() > DEADLINE => {
                let _ = child.kill();
                let _ = child.wait();
                let partial: Vec<String> = rx.try_iter().map(|(_, s)| s).collect();
                panic!(
                    "{bin} {args:?} did not end within {DEADLINE:?}; output so far: {partial:?}"
                );
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => panic!("cannot wait for {bin}: {e}"),
        }
    };
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for _ in 0..2 {
        let left = DEADLINE.saturating_sub(start.elapsed()) + Duration::from_secs(5);
        match rx.recv_timeout(left) {
            Ok((0, s)) => stdout = s,
            Ok((_, s)) => stderr = s,
            Err(_) => {
                panic!("{bin} {args:?} ended but something it started still holds its output open")
            }
        }
    }
    Output {
        status,
        stdout,
        stderr,
    }
}

/// Waits (up to 10 s) until process `pid` is gone (a zombie counts as gone).
fn assert_gone(pid: u32) {
    let start = Instant::now();
    loop {
        let alive = match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => stat
                .rsplit_once(')')
                .is_none_or(|(_, rest)| !rest.trim_start().starts_with(['Z', 'X'])),
            Err(_) => false,
        };
        if !alive {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "process {pid} is still running after the demo ended"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The pids in lines like `started NAME (pid N, ...)`.
fn started_pids(out: &Output) -> Vec<u32> {
    out.starting("started ")
        .iter()
        .filter_map(|l| {
            let rest = l.split_once("(pid ")?.1;
            rest.split(|c: char| !c.is_ascii_digit())
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

/// `Pid: P LoopCount: c` lines as (pid, count), in order.
fn loop_lines(out: &Output) -> Vec<(u32, u32)> {
    out.starting("Pid: ")
        .iter()
        .map(|l| {
            let rest = l.strip_prefix("Pid: ").unwrap_or_default();
            let (pid, count) = rest.split_once(" LoopCount: ").expect("a whole line");
            (
                pid.parse().expect("pid"),
                count.parse().expect("loop count"),
            )
        })
        .collect()
}

/// The number after `prefix` in the first line starting with it.
fn number_after(out: &Output, prefix: &str) -> u64 {
    let line = out
        .starting(prefix)
        .first()
        .copied()
        .unwrap_or_else(|| panic!("no line starting with {prefix:?} in:\n{}", out.stdout));
    line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in {line:?}"))
}

// ---------------------------------------------------------------------------------------------
// A. Processes

#[test]
fn basic_processes_all_parts() {
    let out = run(env!("CARGO_BIN_EXE_basic_processes"), &[]);
    // Scenarios 1 and 2 each print `Process: i` once for every i.
    for i in 0..5 {
        assert_eq!(out.count(&format!("Process: {i}")), 2, "{}", out.stdout);
    }
    // Scenario 2: the parent's lines, children named Process-K in creation order.
    assert!(number_after(&out, "CPU number: ") >= 1);
    let kids = out.starting("Child process name: Process-");
    assert!(
        !kids.is_empty(),
        "active_children listed nobody:\n{}",
        out.stdout
    );
    for k in &kids {
        let idx: u32 = k["Child process name: Process-".len()..]
            .split(' ')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("Process-K");
        assert!((1..=5).contains(&idx), "{k}");
    }
    // `Process: 4` (4 s of sleep) comes after the parent's `Process Ended`.
    let ended = out.position("Process Ended").expect("Process Ended");
    let last4 = out
        .lines()
        .iter()
        .rposition(|l| *l == "Process: 4")
        .expect("Process: 4");
    assert!(ended < last4, "{}", out.stdout);
    // Scenario 8: children report the parent's pid.
    let parent = number_after(&out, "parent (MainProcess): pid ");
    let children = out.starting("child ");
    assert_eq!(children.len(), 3, "{}", out.stdout);
    for c in children {
        assert!(c.ends_with(&format!("parent pid {parent}")), "{c}");
    }
    assert!(out.stdout.contains("<Process name='worker-bee'"));
    // Scenario 11: results through a queue.
    for x in 1..=5u64 {
        assert!(
            out.has(&format!("square({x}) = {}", x * x)),
            "{}",
            out.stdout
        );
    }
}

#[test]
fn basic_processes_spawn() {
    let out = run(
        env!("CARGO_BIN_EXE_basic_processes"),
        &["--method", "spawn"],
    );
    for i in 0..5 {
        assert_eq!(out.count(&format!("Process: {i}")), 2, "{}", out.stdout);
    }
}

#[test]
fn custom_process_prints_2_3_4_lines() {
    let out = run(env!("CARGO_BIN_EXE_custom_process"), &[]);
    let lines = loop_lines(&out);
    assert_eq!(lines.len(), 9, "{}", out.stdout);
    let mut per_pid: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (pid, c) in lines {
        per_pid.entry(pid).or_default().push(c);
    }
    let mut counts: Vec<Vec<u32>> = per_pid.into_values().collect();
    counts.sort_by_key(Vec::len);
    assert_eq!(counts, vec![vec![0, 1], vec![0, 1, 2], vec![0, 1, 2, 3]]);
    assert_eq!(out.lines().last(), Some(&"Main process Ended!"));
}

#[test]
fn daemons_die_with_the_parent() {
    let out = run(env!("CARGO_BIN_EXE_daemon_processes"), &["daemon"]);
    assert!(
        loop_lines(&out).is_empty(),
        "daemons printed:\n{}",
        out.stdout
    );
    assert_eq!(out.lines().last(), Some(&"Main process Ended!"));
    let pids = started_pids(&out);
    assert_eq!(pids.len(), 3);
    pids.into_iter().for_each(assert_gone);
}

#[test]
fn daemons_joined_one_after_another() {
    let out = run(env!("CARGO_BIN_EXE_daemon_processes"), &["join"]);
    let lines = loop_lines(&out);
    assert_eq!(lines.len(), 9, "{}", out.stdout);
    // Each child's lines are contiguous and complete before the next child starts.
    let mut order: Vec<u32> = lines.iter().map(|(p, _)| *p).collect();
    order.dedup();
    assert_eq!(order.len(), 3, "{}", out.stdout);
    assert_eq!(out.lines().last(), Some(&"Main process Ended!"));
    started_pids(&out).into_iter().for_each(assert_gone);
}

#[test]
fn daemons_started_then_joined() {
    let out = run(env!("CARGO_BIN_EXE_daemon_processes"), &["join-all"]);
    assert_eq!(loop_lines(&out).len(), 9, "{}", out.stdout);
    assert_eq!(out.lines().last(), Some(&"Main process Ended!"));
    started_pids(&out).into_iter().for_each(assert_gone);
}

#[test]
fn join_with_timeout_gives_up_and_daemons_die() {
    // The tutorial's timing (1 s per line): the margins matter here.
    let t0 = Instant::now();
    let out = run_with(env!("CARGO_BIN_EXE_daemon_processes"), &["timeout"], false);
    assert!(t0.elapsed() >= Duration::from_secs(2));
    assert_eq!(
        out.starting("gave up waiting for ").len(),
        2,
        "{}",
        out.stdout
    );
    let pids = started_pids(&out);
    assert_eq!(pids.len(), 2);
    let lines = loop_lines(&out);
    for (pid, count) in pids.iter().zip([3, 4]) {
        let printed = lines.iter().filter(|(p, _)| p == pid).count();
        assert!(
            printed < count,
            "daemon {pid} printed all its {count} lines: it was not killed\n{}",
            out.stdout
        );
    }
    pids.into_iter().for_each(assert_gone);
}

#[test]
fn daemons_have_no_children_and_non_daemons_finish() {
    // The tutorial's timing: the daemon child would finish after 1 s.
    let out = run_with(
        env!("CARGO_BIN_EXE_daemon_processes"),
        &["no-children"],
        false,
    );
    assert!(
        out.stdout
            .contains("Error: daemonic processes are not allowed to have children"),
        "{}",
        out.stdout
    );
    assert!(out.has("non-daemon child: finished"), "{}", out.stdout);
    assert!(!out.has("daemon child: finished"), "{}", out.stdout);
    started_pids(&out).into_iter().for_each(assert_gone);
}

#[test]
fn daemon_processes_all_parts() {
    let out = run(env!("CARGO_BIN_EXE_daemon_processes"), &[]);
    assert_eq!(out.starting("=== ").len(), 5, "{}", out.stdout);
    started_pids(&out).into_iter().for_each(assert_gone);
}

#[test]
fn terminate_and_is_alive() {
    let out = run(env!("CARGO_BIN_EXE_terminate_process"), &[]);
    let before = out.starting("Before: ");
    assert!(before[0].ends_with("initial> false"), "{}", out.stdout);
    let during = out.starting("During: ");
    assert!(during[0].ends_with("started> true"), "{}", out.stdout);
    // Right after terminate the death may or may not have been observed yet.
    let term = out.starting("Terminate: ");
    assert!(
        term[0].ends_with("started> true") || term[0].ends_with("exitcode=-SIGTERM> false"),
        "{}",
        out.stdout
    );
    let joined = out.starting("Joined: ");
    assert!(
        joined[0].ends_with("stopped exitcode=-SIGTERM> false"),
        "{}",
        out.stdout
    );
    assert!(out.has("exitcode while running: None"));
    assert!(out.has("exitcode after terminate: -15"));
    assert!(!out.has("Finished"), "{}", out.stdout);
    assert!(out.starting("a clean exit: ")[0].ends_with("exitcode Some(0)"));
    assert!(out.starting("a panic: ")[0].ends_with("exitcode Some(1)"));
}

#[test]
fn data_is_isolated() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_data_isolation"), &["--method", method]);
        assert!(out.has("in child: 0"), "{}", out.stdout);
        assert!(out.has("in parent: 100"), "{}", out.stdout);
        assert!(out.has("in parent, shared value: 0"), "{}", out.stdout);
        assert!(out.position("in child: 0") < out.position("in parent: 100"));
    }
}

// ---------------------------------------------------------------------------------------------
// B. Synchronisation

/// Whether `line` is one whole `Pid: N LoopCount: c` line.
fn whole(line: &str) -> bool {
    let Some((pid, count)) = line
        .strip_prefix("Pid: ")
        .and_then(|r| r.split_once(" LoopCount: "))
    else {
        return false;
    };
    [pid, count]
        .iter()
        .all(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
}

#[test]
fn print_lock_keeps_lines_whole() {
    let out = run(env!("CARGO_BIN_EXE_print_lock"), &[]);
    assert!(
        out.has("with the lock: 60 lines written, 0 torn"),
        "{}",
        out.stdout
    );
    let unlocked = out.starting("without the lock: 60 lines written, ");
    assert_eq!(unlocked.len(), 1, "{}", out.stdout);
    // What the locked run printed: every line whole, 60 of them.
    let from = out
        .position("--- with a lock around each line ---")
        .expect("locked run");
    let locked: Vec<&str> = out.lines()[from + 1..]
        .iter()
        .copied()
        .take_while(|l| !l.starts_with("with the lock:"))
        .collect();
    assert_eq!(locked.len(), 60, "{locked:?}");
    assert!(locked.iter().all(|l| whole(l)), "{locked:?}");
    // Each process printed its 10..14 lines in the locked run.
    let mut per_pid: BTreeMap<&str, usize> = BTreeMap::new();
    for l in &locked {
        *per_pid
            .entry(l.split(' ').nth(1).unwrap_or_default())
            .or_default() += 1;
    }
    let mut counts: Vec<usize> = per_pid.into_values().collect();
    counts.sort_unstable();
    assert_eq!(counts, vec![10, 11, 12, 13, 14]);
}

#[test]
fn ticket_booking_with_lock_sells_exactly_5() {
    let out = run(env!("CARGO_BIN_EXE_ticket_booking"), &["--seed", "7"]);
    assert!(out.has("----------"));
    let summary = out.starting("sold ");
    assert_eq!(summary.len(), 1, "{}", out.stdout);
    assert!(
        summary[0].starts_with("sold 5 tickets, 0 left in "),
        "{}",
        summary[0]
    );
    let bought = out
        .stdout
        .lines()
        .filter(|l| l.ends_with(": bought a ticket"))
        .count();
    let sold_out = out
        .stdout
        .lines()
        .filter(|l| l.ends_with(": sold out"))
        .count();
    assert_eq!((bought, sold_out), (5, 95), "{}", out.stdout);
    assert_eq!(
        out.stdout
            .lines()
            .filter(|l| l.contains(": tickets left: "))
            .count(),
        100
    );
    assert!(!out.stdout.contains('\x1b'), "colours with NO_COLOR set");
}

#[test]
fn ticket_booking_without_lock_oversells() {
    let out = run(
        env!("CARGO_BIN_EXE_ticket_booking"),
        &["--no-lock", "--seed", "7"],
    );
    let sold = number_after(&out, "sold ");
    assert!(
        sold > 5,
        "without the lock tickets should be oversold:\n{}",
        out.stdout
    );
    let bought = out
        .stdout
        .lines()
        .filter(|l| l.ends_with(": bought a ticket"))
        .count();
    assert_eq!(bought as u64, sold);
}

#[test]
fn ktv_rooms_never_more_than_4_inside() {
    let out = run(env!("CARGO_BIN_EXE_ktv_rooms"), &[]);
    let got: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.contains(" got a room ("))
        .collect();
    assert_eq!(got.len(), 13, "{}", out.stdout);
    for i in 0..13 {
        assert!(
            out.stdout.contains(&format!("user{i} got a room")),
            "user{i}"
        );
        assert!(
            out.stdout.contains(&format!("user{i} leaves after")),
            "user{i}"
        );
    }
    for l in got {
        let inside: u32 = l
            .split_once(" got a room (")
            .and_then(|(_, r)| r.split(' ').next())
            .and_then(|n| n.parse().ok())
            .expect("count inside");
        assert!((1..=4).contains(&inside), "{l}");
    }
    let most = number_after(&out, "max users inside: ");
    assert!((1..=4).contains(&most), "{}", out.stdout);
    assert!(out.stdout.contains("------------------------------"));
}

/// Checks one run of a producer/consumer part: 6 items each way, at most 2 in the buffer
/// at any point of the (lock-ordered) output, and the same values in FIFO order.
fn check_producer_consumer(text: &str, produced: &str, consumed: &str) {
    let mut put = Vec::new();
    let mut got = Vec::new();
    let mut in_buffer: i32 = 0;
    for l in text.lines() {
        if let Some(v) = l.strip_prefix(produced) {
            put.push(v.to_string());
            in_buffer += 1;
        } else if let Some(v) = l.strip_prefix(consumed) {
            got.push(v.to_string());
            in_buffer -= 1;
        }
        assert!(
            (0..=2).contains(&in_buffer),
            "{in_buffer} in the buffer:\n{text}"
        );
    }
    assert_eq!(put.len(), 6, "{text}");
    assert_eq!(put, got, "FIFO order:\n{text}");
}

#[test]
fn producer_consumer_under_fork_and_spawn() {
    for method in ["fork", "spawn"] {
        for (part, produced, consumed) in [
            (
                "semaphore",
                "Producer append an element",
                "Consumer pop an element",
            ),
            ("random", "Producer put ", "Consumer get "),
        ] {
            let out = run(
                env!("CARGO_BIN_EXE_producer_consumer"),
                &[part, "--method", method],
            );
            check_producer_consumer(&out.stdout, produced, consumed);
            assert!(
                out.stdout
                    .contains("consumer got all 6 items in the order they were put")
            );
        }
    }
}

#[test]
fn producer_consumer_default_runs_both_parts() {
    let out = run(env!("CARGO_BIN_EXE_producer_consumer"), &["--rounds", "4"]);
    assert_eq!(out.starting("=== ").len(), 2, "{}", out.stdout);
    assert_eq!(out.starting("Producer put ").len(), 4);
}

#[test]
fn traffic_lights_every_car_drives_away() {
    let out = run(env!("CARGO_BIN_EXE_traffic_lights"), &["--seed", "11"]);
    for n in 0..10 {
        assert_eq!(
            out.count(&format!("car {n} drove away")),
            1,
            "car {n}:\n{}",
            out.stdout
        );
        assert!(out.count(&format!("car {n} sees the green light")) >= 1);
    }
    for n in 0..5 {
        let went = out.count(&format!("red light, police car {n} goes first"))
            + out.count(&format!("green light, police car {n} goes"));
        assert_eq!(went, 1, "police car {n}:\n{}", out.stdout);
    }
    let last = out.lines().last().copied().unwrap_or_default();
    assert!(last.starts_with("all 10 cars drove away"), "{last}");
    assert!(last.contains("stopped exitcode=-SIGTERM"), "{last}");
}

// ---------------------------------------------------------------------------------------------
// C. Queues

#[test]
fn queue_api_calls() {
    let out = run(env!("CARGO_BIN_EXE_queue_api"), &[]);
    let text = &out.stdout;
    assert!(text.contains("q = Queue(maxsize=3)"));
    assert!(
        text.contains("q.empty() = false, q.full() = true, q.qsize() = 3"),
        "{text}"
    );
    assert!(text.contains("-> Full after"), "{text}");
    assert!(
        text.contains("q.put_nowait(\"bacon\")  -> queue is full"),
        "{text}"
    );
    assert!(text.contains("q.get()              -> \"spam\""), "{text}");
    assert!(text.contains("q.get_nowait()       -> \"egg\""), "{text}");
    assert!(text.contains("-> Empty after"), "{text}");
    assert!(
        text.contains("q.qsize() = 3 (exact, in every process)"),
        "{text}"
    );
    assert!(text.contains("\"from child 2\""), "{text}");
    assert!(
        text.contains("q.put(\"late\") -> queue handle is closed"),
        "{text}"
    );
}

#[test]
fn queue_readers_read_all_six_urls() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_queue_readers"), &["--method", method]);
        let gets: Vec<u32> = out
            .starting("Get url_")
            .iter()
            .map(|l| number_after_str(l, "Get url_"))
            .collect();
        let mut sorted = gets.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, vec![1, 2, 3, 4, 5, 6], "{}", out.stdout);
        // Each writer's urls are read in the order it put them.
        for batch in [[1, 2, 3], [4, 5, 6]] {
            let order: Vec<u32> = gets.iter().copied().filter(|k| batch.contains(k)).collect();
            assert_eq!(order, batch, "{}", out.stdout);
        }
        assert_eq!(out.starting("Put url_").len(), 6);
        assert!(
            out.stdout
                .contains("reader terminated: <Process name='reader'")
        );
        assert!(out.stdout.contains("stopped exitcode=-SIGTERM"));
    }
}

fn number_after_str(line: &str, prefix: &str) -> u32 {
    line[prefix.len()..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no number after {prefix:?} in {line:?}"))
}

#[test]
fn producers_consumers_eat_every_item_once() {
    for method in ["fork", "spawn"] {
        let out = run(
            env!("CARGO_BIN_EXE_producers_consumers"),
            &["--method", method],
        );
        let mut eaten = BTreeMap::<String, u32>::new();
        let mut eaters = BTreeSet::new();
        for l in out.stdout.lines() {
            if let Some((pid, item)) = l.split_once(" eats ") {
                *eaten.entry(item.to_string()).or_default() += 1;
                eaters.insert(pid.to_string());
            }
        }
        let expected: BTreeSet<String> = ["buns", "bones", "slop"]
            .iter()
            .flat_map(|f| (0..2).map(move |i| format!("{f}{i}")))
            .collect();
        assert_eq!(
            eaten.keys().cloned().collect::<BTreeSet<_>>(),
            expected,
            "{}",
            out.stdout
        );
        assert!(eaten.values().all(|&n| n == 1), "{}", out.stdout);
        assert!(eaters.len() <= 2);
        assert_eq!(
            out.stdout
                .lines()
                .filter(|l| l.contains(" produced "))
                .count(),
            6
        );
        assert!(out.has("all 6 items eaten exactly once"));
    }
}

#[test]
fn joinable_queue_consumes_everything_before_producers_return() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_joinable_queue"), &["--method", method]);
        let lines = out.lines();
        let summary = lines
            .iter()
            .position(|l| l.starts_with("producers returned: "))
            .expect("summary line");
        let consumed: Vec<&str> = lines
            .iter()
            .filter_map(|l| l.split_once(" consumed ").map(|(_, item)| item))
            .collect();
        assert_eq!(consumed.len(), 30, "{}", out.stdout);
        assert_eq!(
            consumed.iter().collect::<BTreeSet<_>>().len(),
            30,
            "duplicates"
        );
        let last_consumed = lines
            .iter()
            .rposition(|l| l.contains(" consumed "))
            .expect("consumed lines");
        assert!(last_consumed < summary, "{}", out.stdout);
        assert!(
            lines[summary].starts_with("producers returned: 30 of 30 items consumed, 0 unfinished")
        );
        assert_eq!(
            out.lines().last().copied(),
            Some("Main process ended (the daemon consumers end with it)")
        );
        // The daemon consumers died with the parent.
        let pids = started_pids(&out);
        assert_eq!(pids.len(), 2);
        pids.into_iter().for_each(assert_gone);
    }
}

// ---------------------------------------------------------------------------------------------
// C. Pipes

#[test]
fn pipes_duplex_prints_both_messages() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &["duplex"]);
    let p = out.position("Producer Received: Consumer Words");
    let c = out.position("Consumer Received: Producer Words");
    let end = out.position("Main process ended");
    assert!(p.is_some() && c.is_some(), "{}", out.stdout);
    // The producer receives first, then sends; the parent's line comes last.
    assert!(p < c && c < end, "{}", out.stdout);
    assert!(
        out.stdout
            .contains("parent received \"hello through a one-way pipe\"")
    );
}

#[test]
fn pipes_structured_messages() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &["messages"]);
    assert!(
        out.has("parent got: [\"spam\", 42, \"egg\"]"),
        "{}",
        out.stdout
    );
    assert!(out.has("then end of file: the child closed its end"));
    assert!(
        out.has("parent got: {\"name\": \"Bob\", \"spam\": 42}"),
        "{}",
        out.stdout
    );
    assert!(out.has("child got: {\"egg\", \"spam\"}"), "{}", out.stdout);
    assert_eq!(out.lines().last(), Some(&"parent exit"));
}

#[test]
fn pipes_end_of_file() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_pipes"), &["eof", "--method", method]);
        let right = out.position("--- the right pattern: send, then shutdown_send() ---");
        let wrong = out
            .lines()
            .iter()
            .position(|l| l.starts_with("--- only dropping the sending end"));
        let (right, wrong) = (right.expect("first run"), wrong.expect("second run"));
        let first: Vec<&str> = out.lines()[right + 1..wrong].to_vec();
        for i in 0..10 {
            assert!(
                first.contains(&format!("consumer got {i}").as_str()),
                "{first:?}"
            );
        }
        assert!(
            first.contains(&"consumer: end of file after 10 values"),
            "{first:?}"
        );
        let second = &out.lines()[wrong + 1..];
        if method == "fork" {
            // The forked consumer holds a copy of the sending end: no end of file.
            assert!(
                second
                    .iter()
                    .any(|l| l.contains("inherited a copy of the sending end")),
                "{second:?}"
            );
        } else {
            assert!(
                second.contains(&"consumer: end of file after 3 values"),
                "{second:?}"
            );
        }
    }
}

#[test]
fn pipes_two_consumers_get_every_value_once() {
    for method in ["fork", "spawn"] {
        let out = run(env!("CARGO_BIN_EXE_pipes"), &["shared", "--method", method]);
        let mut got = Vec::new();
        for l in out.stdout.lines() {
            if let Some((who, v)) = l.split_once(" got ") {
                assert!(who.starts_with("consumer-"), "{l}");
                if v != "the end marker" {
                    got.push(v.parse::<u32>().expect("a value"));
                }
            }
        }
        got.sort_unstable();
        assert_eq!(got, (0..10).collect::<Vec<u32>>(), "{}", out.stdout);
        assert!(out.has("consumer-1 got the end marker"));
        assert!(out.has("consumer-2 got the end marker"));
    }
}

#[test]
fn pipes_all_parts() {
    let out = run(env!("CARGO_BIN_EXE_pipes"), &[]);
    assert_eq!(out.starting("=== ").len(), 4, "{}", out.stdout);
}
