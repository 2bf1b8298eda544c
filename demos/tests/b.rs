//! Integration tests of the demos for scenarios 26 to 35 (pools, the parallel benchmark, the
//! network demos) and of the tour.
//!
//! Each demo runs as a real program in `--fast` mode, in a process group of its own, with a
//! deadline: past it the whole group is killed and the test fails. After the demo exits, the
//! test checks that it left no process behind (pool workers, handler processes, daemon servers)
//! and then checks its output for what the scenario promises: 3 worker pids in the pool demos,
//! the upper-cased echo, the command centre's transcript, the benchmark's table.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

const DEADLINE: Duration = Duration::from_secs(90);

mod common;
use common::Output;

/// Kills every process of the group led by `child` (the demo and all it started).
fn kill_group(child: &Child) {
    let _ = killpg(Pid::from_raw(child.id() as i32), Signal::SIGKILL);
}

/// Whether any process of the demo's group is still there (zombies count until reaped by
/// their parent; the group leader itself has been reaped by then).
fn group_alive(pgid: u32) -> bool {
    killpg(Pid::from_raw(pgid as i32), None).is_ok()
}

/// Starts a demo binary in a process group of its own, with colours off.
fn spawn(bin: &str, args: &[&str], stdin: Stdio) -> Child {
    Command::new(bin)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("PROCPOOL_DEMO_FAST")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {bin}: {e}"))
}

/// Runs `bin args` with `input` on standard input (closed after it); waits for it with the
/// deadline; checks that it left no process running.
fn run_input(bin: &str, args: &[&str], input: Option<&str>) -> Output {
    let mut child = spawn(
        bin,
        args,
        if input.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        },
    );
    if let Some(text) = input {
        let mut stdin = child.stdin.take().expect("stdin is piped");
        let text = text.to_string();
        std::thread::spawn(move || {
            let _ = stdin.write_all(text.as_bytes());
        });
    }
    let (tx, rx) = mpsc::channel();
    let pipes: [(u8, Box<dyn Read + Send>); 2] = [
        (0, Box::new(child.stdout.take().expect("stdout is piped"))),
        (1, Box::new(child.stderr.take().expect("stderr is piped"))),
    ];
    for (which, mut pipe) in pipes {
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
                kill_group(&child);
                let _ = child.wait();
                let partial: Vec<String> = rx.try_iter().map(|(_, s)| s).collect();
                panic!("{bin} {args:?} did not end within {DEADLINE:?} (killed); {partial:?}");
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(10)),
            Err(e) => {
                kill_group(&child);
                panic!("cannot wait for {bin}: {e}");
            }
        }
    };
    // Nothing the demo started may outlive it (give exiting processes a moment).
    let pgid = child.id();
    let grace = Instant::now() + Duration::from_secs(5);
    while group_alive(pgid) && Instant::now() < grace {
        std::thread::sleep(Duration::from_millis(20));
    }
    let leftover = group_alive(pgid);
    if leftover {
        kill_group(&child);
    }
    let (mut stdout, mut stderr) = (String::new(), String::new());
    for _ in 0..2 {
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok((0, s)) => stdout = s,
            Ok((_, s)) => stderr = s,
            Err(_) => panic!("{bin} {args:?}: its output stayed open after it ended"),
        }
    }
    let out = Output {
        status,
        stdout,
        stderr,
    };
    assert!(
        !leftover,
        "{bin} {args:?} left processes running after it ended: {}",
        out.dump()
    );
    out
}

/// Runs `bin --fast --seed 7 args` and checks that it succeeded.
fn run(bin: &str, args: &[&str]) -> Output {
    let mut all = vec!["--fast", "--seed", "7"];
    all.extend_from_slice(args);
    let out = run_input(bin, &all, None);
    assert!(
        out.status.success(),
        "{bin} {args:?} failed: {}",
        out.dump()
    );
    out
}

/// The number in `worker pids seen: N (...)` lines.
fn pids_seen(out: &Output) -> Vec<usize> {
    out.starting("worker pids seen: ")
        .iter()
        .map(|l| {
            l["worker pids seen: ".len()..]
                .split_whitespace()
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("bad line {l:?}"))
        })
        .collect()
}

fn no_failures(out: &Output) {
    assert!(
        !out.stdout.contains("FAILED"),
        "a check failed: {}",
        out.dump()
    );
}

// ---- 26-29: pool_apply ----

const POOL_APPLY: &str = env!("CARGO_BIN_EXE_pool_apply");

#[test]
fn pool_apply_async_runs_three_at_once() {
    // Tasks of 0.6 s (12 tutorial seconds, fast): a worker slow to wake on a loaded machine
    // still overlaps the others.
    let out = run(POOL_APPLY, &["async", "--task-secs", "12"]);
    no_failures(&out);
    assert!(
        out.has("ok: at most 3 tasks at once (expected 3)"),
        "{}",
        out.dump()
    );
    assert_eq!(pids_seen(&out), [3], "{}", out.dump());
    let started = out.position("Main process started").expect("started line");
    let ended = out.position("Main process ended").expect("ended line");
    for i in 0..4 {
        let s = out.position(&format!("Start process: {i}")).expect("start");
        let e = out.position(&format!("End process {i}")).expect("end");
        assert!(s < e && e < ended, "{}", out.dump());
    }
    // apply_async returned at once: the parent's line comes before any task ended.
    let first_end = (0..4)
        .filter_map(|i| out.position(&format!("End process {i}")))
        .min()
        .expect("end lines");
    assert!(started < first_end, "{}", out.dump());
}

#[test]
fn pool_apply_blocking_runs_one_at_a_time() {
    let out = run(POOL_APPLY, &["apply"]);
    no_failures(&out);
    assert!(out.has("ok: at most 1 task at once (apply waits for each)"));
    let started = out.position("Main process started").expect("started line");
    let mut last = 0;
    for i in 0..4 {
        let s = out.position(&format!("Start process: {i}")).expect("start");
        let e = out.position(&format!("End process {i}")).expect("end");
        assert!(
            last <= s && s < e,
            "tasks must run in order: {}",
            out.dump()
        );
        last = e;
    }
    assert!(
        last < started,
        "apply blocks: `started` comes last: {}",
        out.dump()
    );
}

#[test]
fn pool_apply_results_in_order_with_three_pids() {
    let out = run(POOL_APPLY, &["results"]);
    no_failures(&out);
    let lines = out.lines();
    let head = lines
        .iter()
        .position(|l| l.contains("apply_async + get() in order"))
        .expect("heading");
    assert_eq!(&lines[head + 1..head + 5], ["0", "1", "2", "3"]);
    assert!(out.has("results: [0, 1, 4, 9, 16, 25, 36, 49, 64, 81]"));
    assert_eq!(pids_seen(&out), [3], "{}", out.dump());
    let workers: BTreeSet<&str> = out
        .starting("square(")
        .iter()
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(workers.len(), 3, "{}", out.dump());
}

/// `Task NAME pid PID is running, parent id is PPID` lines: (name, pid, ppid).
fn task_lines(out: &Output) -> Vec<(String, u32, u32)> {
    out.starting("Task ")
        .iter()
        .filter(|l| l.contains(" is running, parent id is "))
        .map(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            // Task NAME pid PID is running, parent id is PPID
            (
                w[1].to_string(),
                w[3].parse().expect("pid"),
                w[9].parse().expect("ppid"),
            )
        })
        .collect()
}

fn check_identity(out: &Output) {
    no_failures(out);
    let me: u32 = out
        .starting("current process ")
        .first()
        .and_then(|l| l["current process ".len()..].parse().ok())
        .expect("`current process PID` line");
    let tasks = task_lines(out);
    assert_eq!(tasks.len(), 6, "{}", out.dump());
    assert!(
        tasks.iter().all(|(_, _, ppid)| *ppid == me),
        "{}",
        out.dump()
    );
    let pids: BTreeSet<u32> = tasks.iter().map(|t| t.1).collect();
    assert_eq!(pids.len(), 3, "3 workers, reused: {}", out.dump());
    assert!(!pids.contains(&me));
    for (name, ..) in &tasks {
        let run = out
            .lines()
            .iter()
            .position(|l| l.starts_with(&format!("Task {name} pid ")))
            .expect("running line");
        let end = out
            .position(&format!("Task {name} end."))
            .expect("end line");
        assert!(run < end);
    }
    assert_eq!(pids_seen(out), [3]);
}

#[test]
fn pool_apply_worker_identity() {
    check_identity(&run(POOL_APPLY, &["identity"]));
}

#[test]
fn pool_apply_worker_identity_under_spawn() {
    check_identity(&run(POOL_APPLY, &["identity", "--method", "spawn"]));
}

// ---- 30: pool_map_urls ----

#[test]
fn pool_map_urls_scrapes_the_served_pages_and_not_the_dead_port() {
    let out = run(env!("CARGO_BIN_EXE_pool_map_urls"), &[]);
    no_failures(&out);
    let scraped = out
        .lines()
        .iter()
        .filter(|l| l.starts_with("URL http://127.0.0.1:") && l.ends_with(" Scraped"))
        .filter(|l| !l.ends_with(" not Scraped"))
        .count();
    let failed = out
        .lines()
        .iter()
        .filter(|l| l.starts_with("URL http://127.0.0.1:") && l.ends_with(" not Scraped"))
        .count();
    assert_eq!((scraped, failed), (4, 1), "{}", out.dump());
    assert!(out.has("ok: every served page was scraped and the dead port was not"));
    assert_eq!(pids_seen(&out), [3], "{}", out.dump());
}

#[test]
fn pool_map_urls_refuses_https_cleanly() {
    let out = run(
        env!("CARGO_BIN_EXE_pool_map_urls"),
        &["https://127.0.0.1:1/", "--timeout", "2"],
    );
    assert!(
        out.has("URL https://127.0.0.1:1/ not Scraped"),
        "{}",
        out.dump()
    );
    assert!(out.stdout.contains("no TLS") || out.stdout.contains("TLS"));
}

// ---- 31: pool_callbacks ----

#[test]
fn pool_callbacks_parse_records_in_the_parent_and_report_the_error() {
    let out = run(env!("CARGO_BIN_EXE_pool_callbacks"), &[]);
    no_failures(&out);
    let main_pid: u32 = out
        .starting("main process ")
        .first()
        .and_then(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .find(|s| !s.is_empty())
        })
        .and_then(|s| s.parse().ok())
        .expect("main process line");
    let records = out.starting("  Record { title: ");
    assert_eq!(records.len(), 12, "{}", out.dump());
    let titles: BTreeSet<&str> = records.iter().copied().collect();
    assert_eq!(titles.len(), 12, "each book once");
    let callbacks = out.starting("callback (pid ");
    assert_eq!(callbacks.len(), 3);
    assert!(
        callbacks
            .iter()
            .all(|l| l.starts_with(&format!("callback (pid {main_pid}):"))),
        "callbacks run in the parent: {}",
        out.dump()
    );
    let errors = out.starting(&format!("error_callback (pid {main_pid}): cannot download"));
    assert_eq!(errors.len(), 1, "{}", out.dump());
    assert!(out.has("ok: every book was found once, and the dead URL went to the error_callback"));
}

// ---- 32: pool_options ----

#[test]
fn pool_options_show_each_option() {
    let out = run(env!("CARGO_BIN_EXE_pool_options"), &[]);
    no_failures(&out);
    assert_eq!(out.starting("ok: ").len(), 10, "{}", out.dump());
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    assert!(
        out.stdout.contains(&format!(
            "cpu_count() = {cpus}; Pool() started {cpus} workers"
        )),
        "{}",
        out.dump()
    );
    assert_eq!(out.starting("initializer: worker ").len(), 2);
    assert!(
        out.stdout
            .contains(r#"["ticket-100", "ticket-101", "ticket-102""#)
    );
    assert!(out.has("successful() -> error: result is not ready (Python raises ValueError)"));
    assert!(
        out.stdout
            .contains("get() -> Err: task panicked: attempt to divide by zero")
    );
    assert!(out.has("join() before close() -> error: join() needs close() or terminate() first"));
    assert!(out.has("apply_async after close() -> error: pool not running (Python: ValueError)"));
    assert_eq!(
        out.starting("task ")
            .iter()
            .filter(|l| l.ends_with(": the pool was terminated"))
            .count(),
        4
    );
}

// ---- 33: parallel_benchmark ----

#[test]
fn parallel_benchmark_prints_the_table() {
    let out = run(
        env!("CARGO_BIN_EXE_parallel_benchmark"),
        &["--total", "4000"],
    );
    assert!(
        out.has("ok: all three methods computed the same sum (-7998000)"),
        "{}",
        out.dump()
    );
    let lines = out.lines();
    let header = lines
        .iter()
        .position(|l| l.starts_with("method") && l.contains("speed-up"))
        .expect("table header");
    let rows: Vec<Vec<&str>> = lines[header + 1..header + 4]
        .iter()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let names = ["sequential", "process pool (imap)", "threads"];
    for (row, name) in rows.iter().zip(names) {
        let text = row.join(" ");
        assert!(text.starts_with(name), "row {text:?}");
        // ... workers, time "s", speed-up "x", Python's figure.
        let s = row.iter().position(|w| *w == "s").expect("time unit");
        let secs: f64 = row[s - 1].parse().expect("time");
        let speedup: f64 = row[s + 1]
            .strip_suffix('x')
            .and_then(|v| v.parse().ok())
            .expect("speed-up");
        assert!(secs >= 0.0 && speedup > 0.0, "row {text:?}");
    }
    assert!(lines[header + 1].contains("1.00x"));
    assert_eq!(rows[1][s_index(&rows[1]) - 2], "10", "10 processes");
    assert_eq!(rows[2][s_index(&rows[2]) - 2], "10", "10 threads");
    // The bar is hidden when stdout is not a terminal: no carriage returns or escapes.
    assert!(!out.stdout.contains('\r') && !out.stdout.contains('\x1b'));
}

fn s_index(row: &[&str]) -> usize {
    row.iter().position(|w| *w == "s").expect("time unit")
}

// ---- 34: echo_server ----

const ECHO: &str = env!("CARGO_BIN_EXE_echo_server");

#[test]
fn echo_server_self_test_upper_cases_with_a_process_per_connection() {
    let out = run(ECHO, &["--self-test"]);
    no_failures(&out);
    let exchanges: Vec<(String, String)> = out
        .starting("client ")
        .iter()
        .filter_map(|l| {
            let (_, rest) = l.split_once(" sent ")?;
            let (sent, got) = rest.split_once(", got ")?;
            Some((
                sent.trim_matches('"').to_string(),
                got.trim_matches('"').to_string(),
            ))
        })
        .collect();
    assert_eq!(exchanges.len(), 6, "{}", out.dump());
    for (sent, got) in &exchanges {
        assert_eq!(*got, sent.to_uppercase());
    }
    let handlers: BTreeSet<&str> = out
        .lines()
        .iter()
        .filter(|l| l.contains("] connection from "))
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(
        handlers.len(),
        2,
        "one process per connection: {}",
        out.dump()
    );
    assert!(out.has("ok: every reply was upper-cased, by one process per connection"));
}

#[test]
fn echo_server_and_client_modes_talk_to_each_other() {
    let mut server = spawn(
        ECHO,
        &["--serve", "--port", "0", "--max-connections", "1"],
        Stdio::null(),
    );
    let mut reader = BufReader::new(server.stdout.take().expect("stdout is piped"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut first = String::new();
        let _ = reader.read_line(&mut first);
        let _ = tx.send(first);
        let mut rest = String::new();
        let _ = reader.read_to_string(&mut rest);
    });
    let first = match rx.recv_timeout(Duration::from_secs(30)) {
        Ok(l) => l,
        Err(_) => {
            kill_group(&server);
            panic!("the echo server did not say where it listens");
        }
    };
    let addr = first
        .split_whitespace()
        .find(|w| w.starts_with("127.0.0.1:"))
        .unwrap_or_else(|| {
            kill_group(&server);
            panic!("no address in {first:?}")
        })
        .to_string();
    let out = run_input(
        ECHO,
        &["--client", &addr],
        Some("hello\nstraße\nprocpool echoes\n"),
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = server.try_wait().expect("wait for the server") {
            break s;
        }
        if start.elapsed() > DEADLINE {
            kill_group(&server);
            panic!("the server did not stop after its one connection");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(out.status.success(), "{}", out.dump());
    assert_eq!(out.lines(), ["HELLO", "STRASSE", "PROCPOOL ECHOES"]);
    assert!(status.success(), "server: {status}");
}

#[test]
fn echo_server_works_under_spawn_and_forkserver() {
    for method in ["spawn", "forkserver"] {
        let out = run(ECHO, &["--self-test", "--method", method]);
        no_failures(&out);
        assert!(
            out.has("ok: every reply was upper-cased, by one process per connection"),
            "{method}: {}",
            out.dump()
        );
    }
}

// ---- 35: command_centre ----

const CENTRE: &str = env!("CARGO_BIN_EXE_command_centre");

#[test]
fn command_centre_demo_script() {
    let out = run(CENTRE, &["--demo"]);
    no_failures(&out);
    assert!(out.has("ok: every message reached the monitor, and every mistake was reported"));
    assert!(out.has("Received String: hello, server"));
    assert!(out.starting("Error: the server is already running").len() == 1);
    assert!(out.has("Error: unknown command: frobnicate"));
}

#[test]
fn command_centre_runs_a_script_from_stdin() {
    let script = "\
server status
server start
server start
client start
client send ping
client send JSON|{\"a\": [1, 2], \"b\": \"c\"}
client status
nonsense here
client stop
server stop
server status
exit
";
    let out = run_input(CENTRE, &["--fast", "--port", "0"], Some(script));
    assert!(out.status.success(), "{}", out.dump());
    let lines = out.lines();
    // Every command is echoed after `$ `, in order.
    let echoed: Vec<&str> = out.starting("$ ").iter().map(|l| &l[2..]).collect();
    assert_eq!(echoed, script.lines().collect::<Vec<_>>());
    assert!(out.has("Server not running"));
    let started = out
        .starting("Server started (daemon process ")
        .first()
        .copied()
        .expect("server started");
    assert!(started.contains(" on 127.0.0.1:"));
    assert_eq!(
        out.starting("Error: the server is already running").len(),
        1
    );
    assert!(out.has("Received String: ping"));
    let json = out.position("Received JSON data:").expect("JSON greeting");
    assert_eq!(lines[json + 1], "{");
    // The sent JSON document, pretty-printed.
    let sent = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| **l == "Received JSON data:")
        .map(|(i, _)| i)
        .nth(1)
        .expect("the JSON message");
    assert_eq!(
        &lines[sent + 1..sent + 8],
        [
            "{",
            "  \"a\": [",
            "    1,",
            "    2",
            "  ],",
            "  \"b\": \"c\"",
            "}"
        ]
    );
    let unknown = out
        .position("Error: unknown command: nonsense here")
        .expect("error");
    assert_eq!(
        lines[unknown + 1],
        "Commands:",
        "the help follows the error"
    );
    assert!(out.starting("Client running: daemon process ").len() == 1);
    assert!(out.has("Client stopped (exit code 0)"));
    assert!(out.starting("Server stopped").len() == 1);
    assert_eq!(
        out.starting("Bye: ").first().copied(),
        Some("Bye: 4 messages received (2 JSON), 2 errors reported")
    );
}

#[test]
fn command_centre_works_under_the_fork_server() {
    let out = run(CENTRE, &["--demo", "--method", "forkserver"]);
    assert!(out.has("ok: every message reached the monitor, and every mistake was reported"));
}

// ---- the tour ----

const TOUR: &str = env!("CARGO_BIN_EXE_tour");

/// The binaries of this package: the files in `src/bin`.
fn demo_sources() -> BTreeSet<String> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/bin");
    std::fs::read_dir(&dir)
        .expect("src/bin")
        .filter_map(|e| {
            let p = e.ok()?.path();
            if p.extension()? == "rs" {
                Some(p.file_stem()?.to_str()?.to_string())
            } else {
                None
            }
        })
        .filter(|n| n != "tour")
        .collect()
}

#[test]
fn tour_lists_exactly_the_demo_binaries() {
    let out = run_input(TOUR, &["--list"], None);
    assert!(out.status.success(), "{}", out.dump());
    let listed: Vec<&str> = out
        .lines()
        .iter()
        .map(|l| l.split('\t').next().expect("name"))
        .collect();
    let unique: BTreeSet<String> = listed.iter().map(|s| s.to_string()).collect();
    assert_eq!(unique.len(), listed.len(), "a demo listed twice");
    let dir = std::path::Path::new(TOUR).parent().expect("bin dir");
    for name in &listed {
        assert!(
            dir.join(name).exists(),
            "the tour names {name}, which is not built"
        );
    }
    assert_eq!(
        unique,
        demo_sources(),
        "the tour's table and src/bin disagree"
    );
    let check = run_input(TOUR, &["--check"], None);
    assert!(check.status.success(), "{}", check.dump());
}

#[test]
fn tour_runs_demos_with_headings_and_a_summary() {
    let out = run_input(
        TOUR,
        &["--only", "echo_server,command_centre", "--timeout", "80"],
        None,
    );
    assert!(out.status.success(), "{}", out.dump());
    assert!(out.has("== 34. Echo server, one process per connection (echo_server) =="));
    assert!(out.has("== 35. A command centre (command_centre) =="));
    assert!(out.stdout.contains("ok: every reply was upper-cased"));
    let summary = out.starting("tour: ");
    assert_eq!(summary.len(), 1);
    assert!(
        summary[0].starts_with("tour: 2 demos, 2 passed, 0 failed in "),
        "{}",
        summary[0]
    );
}

#[test]
fn tour_rejects_an_unknown_demo() {
    let out = run_input(TOUR, &["--only", "no_such_demo"], None);
    assert_eq!(out.status.code(), Some(2), "{}", out.dump());
    assert!(out.stderr.contains("no demo is called"));
}
