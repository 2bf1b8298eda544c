//! `Process` semantics (the tutorial scenarios 1–11), run under every start method.
//!
//! Each test is a function of a `Context`; `for_each_method!` instantiates it for Fork, Spawn
//! and ForkServer. Results come back from children through scratch files and exit codes
//! (queues live in another branch). Every wait has a deadline and every test runs under a
//! watchdog.

mod common;

use std::os::fd::AsFd;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{Scratch, eventually, pid_gone, pid_reaped, publish, with_watchdog};
use procpool::{
    Context, ExitCode, JoinTimeoutError, Lock, Process, ProcessError, Run, StartError, StartMethod,
    active_children, current_process, get_context, parent_process,
};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(20);

fn run(method: StartMethod, test: fn(Context)) {
    with_watchdog(Duration::from_secs(60), move || test(get_context(method)));
}

macro_rules! for_each_method {
    ($($test:ident),* $(,)?) => {
        mod fork {
            $( #[test] fn $test() { super::run(procpool::StartMethod::Fork, super::$test) } )*
        }
        mod spawn {
            $( #[test] fn $test() { super::run(procpool::StartMethod::Spawn, super::$test) } )*
        }
        mod forkserver {
            $( #[test] fn $test() { super::run(procpool::StartMethod::ForkServer, super::$test) } )*
        }
    };
}

for_each_method!(
    args_reach_the_child,
    exit_codes,
    panic_exits_with_1,
    death_by_signal,
    join_timeout_never_kills,
    is_alive_and_exitcode_transitions,
    misuse_is_a_typed_error,
    names_in_creation_order,
    display_like_python,
    daemon_cannot_have_children,
    identity_of_child_and_parent,
    data_isolation,
    active_children_reaps,
    sentinel_ready_when_ended,
    no_zombie_after_dropping_a_handle,
    daemon_dies_with_killed_parent,
    lock_argument_works_in_child,
    closure_is_fork_only,
    run_type,
    panic_message_on_stderr,
    exit_ends_children_like_python,
    shared_handle_across_threads,
    concurrent_starts_from_threads,
);

// ---------------------------------------------------------------------------------------------
// targets (function items: they run in the child under every start method)

fn sleep_ms(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

fn write_args((path, text, n, big): (String, String, u32, Vec<u8>)) {
    let sum: u64 = big.iter().map(|&b| u64::from(b)).sum();
    publish(&path, &format!("{text}|{n}|{}|{sum}", big.len()));
}

fn exit_with(code: i32) -> ExitCode {
    ExitCode(code)
}

fn call_exit(code: i32) {
    procpool::exit(code)
}

fn fails(_: ()) -> Result<(), String> {
    Err("it went wrong".into())
}

fn panics(msg: String) {
    panic!("{msg}")
}

fn report_identity(path: String) {
    let me = current_process();
    let parent = parent_process().expect("a child has a parent");
    publish(
        &path,
        &format!(
            "{}\n{}\n{}\n{}\n{}\n{}\n{}\n{}",
            me.pid(),
            std::process::id(),
            parent.pid(),
            parent.name(),
            me.name(),
            me.daemon(),
            me.start_method().map_or("none", StartMethod::as_str),
            nix::unistd::getppid(),
        ),
    );
}

static N: AtomicU32 = AtomicU32::new(0);

fn isolation((path, mut v): (String, Vec<u32>)) {
    N.store(0, Ordering::SeqCst);
    v[0] = 0;
    publish(
        &path,
        &format!("in child: {} {}", N.load(Ordering::SeqCst), v[0]),
    );
}

fn daemon_tries_a_child(method: StartMethod) -> ExitCode {
    match get_context(method).process(sleep_ms, 0).start() {
        Err(StartError::DaemonicParent) => ExitCode(42),
        _ => ExitCode(1),
    }
}

fn names_in_child((method, path): (StartMethod, String)) {
    let ctx = get_context(method);
    let a = ctx.process(sleep_ms, 0);
    let b = ctx.process(sleep_ms, 0).with_name("custom");
    let mut c = ctx.process(report_name, format!("{path}.grandchild"));
    c.start().expect("start grandchild");
    assert_eq!(c.join().expect("join grandchild"), 0);
    let grandchild = std::fs::read_to_string(format!("{path}.grandchild")).unwrap_or_default();
    let _ = std::fs::remove_file(format!("{path}.grandchild"));
    publish(
        &path,
        &format!(
            "{}\n{}\n{}\n{}\n{}",
            current_process().name(),
            a.name(),
            b.name(),
            c.name(),
            grandchild
        ),
    );
}

fn report_name(path: String) {
    publish(&path, current_process().name());
}

fn parent_of_a_daemon((method, path): (StartMethod, String)) {
    let mut g = get_context(method)
        .process(sleep_ms, 60_000)
        .with_daemon(true);
    g.start().expect("start daemon grandchild");
    publish(&path, &g.pid().expect("started").to_string());
    std::thread::sleep(Duration::from_secs(60));
}

fn hold_locks((first, second): (Lock, Lock)) {
    let _a = first.acquire();
    let _b = second.acquire(); // blocks until the parent lets go
}

#[derive(Serialize, Deserialize)]
struct Counter {
    count: i32,
}

impl Run for Counter {
    type Output = ExitCode;
    fn run(self) -> ExitCode {
        ExitCode(self.count)
    }
}

// ---------------------------------------------------------------------------------------------
// tests

fn args_reach_the_child(ctx: Context) {
    let out = Scratch::new("args");
    // Large enough that the fork server receives it in a memfd rather than inline.
    let big: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let sum: u64 = big.iter().map(|&b| u64::from(b)).sum();
    let mut p = ctx.process(write_args, (out.path(), "spam".to_string(), 42, big));
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 0);
    assert_eq!(out.read(), format!("spam|42|100000|{sum}"));
}

fn exit_codes(ctx: Context) {
    let mut cases: Vec<(Process, i32)> = vec![
        (ctx.process(sleep_ms, 0), 0),
        (ctx.process(exit_with, 7), 7),
        (ctx.process(call_exit, 3), 3),
        (ctx.process(fails, ()), 1),
        (ctx.process_from_run(Counter { count: 5 }), 5),
    ];
    for (p, _) in &mut cases {
        p.start().unwrap();
    }
    for (p, want) in &cases {
        assert_eq!(p.join().unwrap(), *want, "{p}");
        assert_eq!(p.exitcode(), Some(*want));
    }
}

fn panic_exits_with_1(ctx: Context) {
    let mut p = ctx.process(panics, "boom".to_string());
    p.start().unwrap();
    assert_eq!(p.join().unwrap(), 1);
}

fn death_by_signal(ctx: Context) {
    let mut t = ctx.process(sleep_ms, 30_000);
    let mut k = ctx.process(sleep_ms, 30_000);
    t.start().unwrap();
    k.start().unwrap();
    t.terminate().unwrap();
    k.kill().unwrap();
    assert_eq!(t.join().unwrap(), -15);
    assert_eq!(k.join().unwrap(), -9);
    assert!(t.to_string().ends_with("stopped exitcode=-SIGTERM>"), "{t}");
    assert!(k.to_string().ends_with("stopped exitcode=-SIGKILL>"), "{k}");
    // Signalling an ended process does nothing.
    t.terminate().unwrap();
    assert_eq!(t.exitcode(), Some(-15));
}

fn join_timeout_never_kills(ctx: Context) {
    let mut p = ctx.process(sleep_ms, 30_000);
    p.start().unwrap();
    let timeout = Duration::from_millis(200);
    let start = Instant::now();
    assert_eq!(p.join_timeout(timeout), Err(JoinTimeoutError::Timeout));
    assert!(start.elapsed() >= timeout);
    assert!(p.join_deadline(Instant::now()).unwrap_err().is_timeout());
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    p.kill().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(-9));
}

fn is_alive_and_exitcode_transitions(ctx: Context) {
    let lock = Lock::new().unwrap();
    let held = lock.acquire();
    let mut p = ctx.process(hold_locks, (Lock::new().unwrap(), lock.clone()));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert_eq!(p.pid(), None);
    p.start().unwrap();
    assert!(p.is_alive());
    assert_eq!(p.exitcode(), None);
    assert!(p.pid().is_some());
    drop(held);
    assert_eq!(p.join_timeout(LONG), Ok(0));
    assert!(!p.is_alive());
    assert_eq!(p.exitcode(), Some(0));
}

fn misuse_is_a_typed_error(ctx: Context) {
    let mut p = ctx.process(sleep_ms, 30_000);
    assert_eq!(p.join(), Err(ProcessError::NotStarted));
    assert_eq!(
        p.join_timeout(Duration::from_millis(1)),
        Err(JoinTimeoutError::Process(ProcessError::NotStarted))
    );
    assert_eq!(p.terminate(), Err(ProcessError::NotStarted));
    assert_eq!(p.kill(), Err(ProcessError::NotStarted));
    assert!(matches!(p.sentinel(), Err(ProcessError::NotStarted)));
    p.start().unwrap();
    assert!(matches!(p.start(), Err(StartError::AlreadyStarted)));
    assert_eq!(p.set_daemon(true), Err(ProcessError::AlreadyStarted));
    assert!(!p.daemon());
    assert_eq!(p.close(), Err(ProcessError::StillRunning));
    assert!(p.is_alive());
    p.kill().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(-9));
    assert_eq!(p.close(), Ok(()));
    assert_eq!(p.close(), Ok(()));
    assert_eq!(p.join(), Err(ProcessError::Closed));
    assert_eq!(
        p.join_timeout(Duration::from_millis(1)),
        Err(JoinTimeoutError::Process(ProcessError::Closed))
    );
    assert!(matches!(p.start(), Err(StartError::Closed)));
    assert_eq!(p.terminate(), Err(ProcessError::Closed));
    assert_eq!(p.kill(), Err(ProcessError::Closed));
    assert!(matches!(p.sentinel(), Err(ProcessError::Closed)));
    assert_eq!(p.set_daemon(false), Err(ProcessError::Closed));
    assert!(!p.is_alive());
    assert_eq!(p.pid(), None);
    assert_eq!(p.exitcode(), None);
    assert!(p.to_string().ends_with(" closed>"), "{p}");
    // A never-started process can be closed too.
    let mut q = ctx.process(sleep_ms, 0);
    assert_eq!(q.close(), Ok(()));
    assert!(matches!(q.start(), Err(StartError::Closed)));
}

fn names_in_creation_order(ctx: Context) {
    let a = ctx.process(sleep_ms, 0);
    let b = ctx.process(sleep_ms, 0);
    let num = |p: &Process| -> u32 {
        p.name()
            .strip_prefix("Process-")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("unexpected default name {}", p.name()))
    };
    // Other tests create processes concurrently, so only the order is certain here; the exact
    // numbering is checked in a child, which has a counter of its own.
    assert!(num(&b) > num(&a));
    let custom = ctx.process(sleep_ms, 0).with_name("custom");
    assert_eq!(custom.name(), "custom");
    assert!(custom.to_string().contains("name='custom'"));

    let out = Scratch::new("names");
    let mut p = ctx.process(names_in_child, (ctx.start_method(), out.path()));
    let child = p.name().to_string();
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(0));
    let text = out.read();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines,
        [
            child.as_str(),
            &format!("{child}:1"),
            "custom",
            &format!("{child}:3"),
            &format!("{child}:3"),
        ]
    );
}

fn display_like_python(ctx: Context) {
    let me = std::process::id();
    let mut p = ctx.process(sleep_ms, 30_000).with_daemon(true);
    assert_eq!(
        p.to_string(),
        format!("<Process name='{}' parent={me} initial daemon>", p.name())
    );
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert_eq!(
        p.to_string(),
        format!(
            "<Process name='{}' pid={pid} parent={me} started daemon>",
            p.name()
        )
    );
    assert_eq!(format!("{p:?}"), p.to_string());
    p.terminate().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(-15));
    assert_eq!(
        p.to_string(),
        format!(
            "<Process name='{}' pid={pid} parent={me} stopped exitcode=-SIGTERM daemon>",
            p.name()
        )
    );
    let mut q = ctx.process(sleep_ms, 0).with_name("quick");
    q.start().unwrap();
    q.join_timeout(LONG).unwrap();
    assert_eq!(
        q.to_string(),
        format!(
            "<Process name='quick' pid={} parent={me} stopped exitcode=0>",
            q.pid().unwrap()
        )
    );
    assert_eq!(
        current_process().to_string(),
        "<_MainProcess name='MainProcess' parent=None started>"
    );
}

fn daemon_cannot_have_children(ctx: Context) {
    let mut p = ctx
        .process(daemon_tries_a_child, ctx.start_method())
        .with_daemon(true);
    assert!(p.daemon());
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(42));
}

fn identity_of_child_and_parent(ctx: Context) {
    let out = Scratch::new("ident");
    let mut p = ctx.process(report_identity, out.path()).with_name("ident");
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(0));
    let text = out.read();
    let f: Vec<&str> = text.lines().collect();
    let pid = p.pid().unwrap().to_string();
    let me = std::process::id().to_string();
    assert_eq!(f[0], pid, "current_process().pid()");
    assert_eq!(f[1], pid, "std::process::id() in the child");
    assert_eq!(f[2], me, "parent_process().pid()");
    assert_eq!(f[3], "MainProcess");
    assert_eq!(f[4], "ident");
    assert_eq!(f[5], "false");
    assert_eq!(f[6], ctx.start_method().as_str());
    if ctx.start_method() != StartMethod::ForkServer {
        assert_eq!(f[7], me, "getppid() in the child");
    } else {
        assert_ne!(f[7], me, "a fork-server child's real parent is the server");
    }
    assert_eq!(current_process().name(), "MainProcess");
    assert!(current_process().is_main());
    assert!(parent_process().is_none());
}

fn data_isolation(ctx: Context) {
    N.store(100, Ordering::SeqCst);
    let v = vec![100u32];
    let out = Scratch::new("iso");
    let mut p = ctx.process(isolation, (out.path(), v.clone()));
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(0));
    assert_eq!(out.read(), "in child: 0 0");
    assert_eq!(N.load(Ordering::SeqCst), 100, "in parent");
    assert_eq!(v, [100]);
}

fn active_children_reaps(ctx: Context) {
    let mut quick = ctx.process(sleep_ms, 0);
    let mut slow = ctx.process(sleep_ms, 30_000);
    quick.start().unwrap();
    slow.start().unwrap();
    let (qpid, spid) = (quick.pid().unwrap(), slow.pid().unwrap());
    // Wait for the quick one to end without reaping it.
    assert!(eventually(LONG, || common::pid_gone(qpid)));
    let active: Vec<u32> = active_children().iter().map(|c| c.pid()).collect();
    assert!(active.contains(&spid));
    assert!(!active.contains(&qpid));
    if ctx.start_method() != StartMethod::ForkServer {
        // active_children() reaped it: nothing is left under /proc.
        assert!(pid_reaped(qpid));
    }
    assert_eq!(quick.exitcode(), Some(0));
    let c = active_children()
        .into_iter()
        .find(|c| c.pid() == spid)
        .unwrap();
    assert_eq!(c.name(), slow.name());
    assert!(c.is_alive());
    c.kill();
    assert_eq!(slow.join_timeout(LONG), Ok(-9));
    assert!(active_children().iter().all(|c| c.pid() != spid));
}

fn sentinel_ready_when_ended(ctx: Context) {
    let ready = |p: &Process| {
        let fd = p.sentinel().unwrap();
        let mut pfd = [nix::poll::PollFd::new(
            fd.as_fd(),
            nix::poll::PollFlags::POLLIN,
        )];
        nix::poll::poll(&mut pfd, nix::poll::PollTimeout::ZERO).unwrap() > 0
    };
    let mut p = ctx.process(sleep_ms, 30_000);
    p.start().unwrap();
    assert!(!ready(&p));
    p.kill().unwrap();
    assert!(eventually(LONG, || ready(&p)));
    assert_eq!(p.join(), Ok(-9));
    assert!(ready(&p), "stays ready after join");
}

fn no_zombie_after_dropping_a_handle(ctx: Context) {
    let mut p = ctx.process(sleep_ms, 50);
    p.start().unwrap();
    let pid = p.pid().unwrap();
    drop(p);
    assert!(
        eventually(LONG, || pid_reaped(pid)),
        "child {pid} left behind (zombie?)"
    );
}

fn daemon_dies_with_killed_parent(ctx: Context) {
    let out = Scratch::new("grandchild");
    let mut p = ctx.process(parent_of_a_daemon, (ctx.start_method(), out.path()));
    p.start().unwrap();
    let grandchild: u32 = out.read_within(LONG).trim().parse().unwrap();
    assert!(!pid_gone(grandchild));
    p.kill().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(-9));
    assert!(
        eventually(Duration::from_secs(5), || pid_gone(grandchild)),
        "daemon grandchild {grandchild} outlived its killed parent"
    );
}

fn lock_argument_works_in_child(ctx: Context) {
    let first = ctx.lock().unwrap();
    let second = Lock::new().unwrap();
    let held = second.acquire();
    let mut p = ctx.process(hold_locks, (first.clone(), second.clone()));
    p.start().unwrap();
    let pid = p.pid().unwrap();
    assert!(
        eventually(LONG, || first.owner_pid() == Some(pid)),
        "the child never took the lock"
    );
    assert!(first.try_acquire().is_err());
    drop(held);
    assert_eq!(p.join_timeout(LONG), Ok(0));
    assert!(!first.is_locked());
    assert!(first.try_acquire().is_ok());
}

fn closure_is_fork_only(ctx: Context) {
    let word = String::from("closure");
    let mut p = ctx.process_from_fn(move || ExitCode(word.len() as i32));
    match ctx.start_method() {
        StartMethod::Fork => {
            p.start().unwrap();
            assert_eq!(p.join_timeout(LONG), Ok(7));
        }
        _ => {
            assert!(matches!(p.start(), Err(StartError::ForkOnly)));
            assert!(!p.is_alive());
            assert_eq!(p.join(), Err(ProcessError::NotStarted));
            // It can still be started with fork.
            let mut q = Process::from_fn(|| ExitCode(9)).with_start_method(StartMethod::Fork);
            q.start().unwrap();
            assert_eq!(q.join_timeout(LONG), Ok(9));
        }
    }
}

fn run_type(ctx: Context) {
    let mut p = ctx.process_from_run(Counter { count: 4 });
    assert!(p.name().starts_with("Counter-"), "{}", p.name());
    assert!(p.to_string().starts_with("<Counter name='Counter-"), "{p}");
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(4));
}

/// Runs one of the `#[ignore]`d helper tests below in a fresh copy of this test binary.
fn run_helper(name: &str, method: StartMethod, arg: &str) -> std::process::Output {
    std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            name,
            "--nocapture",
            "--test-threads=1",
        ])
        .env("PROCPOOL_TEST_METHOD", method.as_str())
        .env("PROCPOOL_TEST_ARG", arg)
        .output()
        .expect("run helper")
}

/// The helpers' parameters; `None` when a helper is run directly (`cargo test -- --ignored`),
/// in which case it does nothing.
fn helper_context() -> Option<(Context, String)> {
    let method: StartMethod = std::env::var("PROCPOOL_TEST_METHOD").ok()?.parse().ok()?;
    let arg = std::env::var("PROCPOOL_TEST_ARG").ok()?;
    Some((get_context(method), arg))
}

fn panic_message_on_stderr(ctx: Context) {
    let out = run_helper("helper_panicking_child", ctx.start_method(), "");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "helper failed: {stderr}");
    assert!(
        stderr.contains("Process Process-1:\npanicked at "),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("boom-42"), "stderr: {stderr}");
    assert!(
        stderr.contains("Process Process-2:\nError: \"it went wrong\""),
        "stderr: {stderr}"
    );
}

#[test]
#[ignore = "helper: run by panic_message_on_stderr in a subprocess"]
fn helper_panicking_child() {
    let Some((ctx, _)) = helper_context() else {
        return;
    };
    let mut p = ctx.process(panics, "boom-42".to_string());
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(1));
    let mut q = ctx.process(fails, ());
    q.start().unwrap();
    assert_eq!(q.join_timeout(LONG), Ok(1));
}

fn exit_ends_children_like_python(ctx: Context) {
    let out = Scratch::new("atexit");
    let started = Instant::now();
    let run = run_helper("helper_leaves_children", ctx.start_method(), &out.path());
    assert!(
        run.status.success(),
        "helper failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // The non-daemon child was waited for: it finished its work.
    assert_eq!(
        std::fs::read_to_string(format!("{}.done", out.path())).unwrap(),
        "done"
    );
    let _ = std::fs::remove_file(format!("{}.done", out.path()));
    // The daemon child (which sleeps a minute) was terminated.
    let daemon: u32 = out.read().trim().parse().unwrap();
    assert!(eventually(Duration::from_secs(5), || pid_gone(daemon)));
    assert!(started.elapsed() < Duration::from_secs(50));
}

fn finish_later(path: String) {
    std::thread::sleep(Duration::from_millis(300));
    publish(&path, "done");
}

#[test]
#[ignore = "helper: run by exit_ends_children_like_python in a subprocess"]
fn helper_leaves_children() {
    let Some((ctx, path)) = helper_context() else {
        return;
    };
    let mut d = ctx.process(sleep_ms, 60_000).with_daemon(true);
    d.start().unwrap();
    publish(&path, &d.pid().unwrap().to_string());
    let mut n = ctx.process(finish_later, format!("{path}.done"));
    n.start().unwrap();
    // Return without joining either: the exit path must end them as Python does.
    drop(d);
    drop(n);
}

fn shared_handle_across_threads(ctx: Context) {
    let mut p = ctx.process(sleep_ms, 30_000);
    p.start().unwrap();
    let p = std::sync::Arc::new(p);
    let joiner = {
        let p = p.clone();
        std::thread::spawn(move || p.join())
    };
    let watcher = {
        let p = p.clone();
        std::thread::spawn(move || {
            // Polls while the other thread is blocked in join: must never see a made-up code.
            while p.is_alive() {
                std::thread::sleep(Duration::from_millis(1));
            }
            p.exitcode()
        })
    };
    std::thread::sleep(Duration::from_millis(50));
    p.terminate().unwrap();
    assert_eq!(joiner.join().unwrap(), Ok(-15));
    assert_eq!(watcher.join().unwrap(), Some(-15));
    assert_eq!(p.exitcode(), Some(-15));
}

fn concurrent_starts_from_threads(ctx: Context) {
    let threads: Vec<_> = (0..4)
        .map(|t| {
            std::thread::spawn(move || {
                for i in 0..5 {
                    let mut p = ctx.process(exit_with, t * 10 + i).with_daemon(i % 2 == 0);
                    p.start().unwrap();
                    assert_eq!(p.join_timeout(LONG), Ok(t * 10 + i));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
}

fn report_ppid(path: String) {
    publish(&path, &nix::unistd::getppid().to_string());
}

#[test]
fn fork_server_is_restarted_after_it_dies() {
    // In a subprocess: killing the server would disturb the other tests' children.
    let out = Scratch::new("server");
    let run = run_helper(
        "helper_kills_its_fork_server",
        StartMethod::ForkServer,
        &out.path(),
    );
    assert!(
        run.status.success(),
        "helper failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
}

#[test]
#[ignore = "helper: run by fork_server_is_restarted_after_it_dies in a subprocess"]
fn helper_kills_its_fork_server() {
    let Some((ctx, path)) = helper_context() else {
        return;
    };
    let server_of = |tag: &str| -> u32 {
        let file = format!("{path}.{tag}");
        let mut p = ctx.process(report_ppid, file.clone());
        p.start().unwrap();
        assert_eq!(p.join_timeout(LONG), Ok(0));
        let pid = std::fs::read_to_string(&file).unwrap().parse().unwrap();
        let _ = std::fs::remove_file(&file);
        pid
    };
    let first = server_of("a");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(first as i32),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    assert!(eventually(LONG, || pid_gone(first)));
    let second = server_of("b");
    assert_ne!(first, second);
    // The dead server was reaped, not left as a zombie.
    assert!(eventually(LONG, || pid_reaped(first)));
}

#[test]
fn buffered_output_is_not_duplicated_by_fork() {
    let run = run_helper("helper_prints_then_forks", StartMethod::Fork, "");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert_eq!(stdout.matches("unfinished line").count(), 1, "{stdout}");
}

#[test]
#[ignore = "helper: run by buffered_output_is_not_duplicated_by_fork in a subprocess"]
fn helper_prints_then_forks() {
    let Some((ctx, _)) = helper_context() else {
        return;
    };
    use std::io::Write;
    // Written straight to the (line-buffered) stdout, past the test harness's capture.
    let _ = std::io::stdout().write_all(b"unfinished line");
    let mut p = ctx.process(sleep_ms, 0);
    p.start().unwrap();
    assert_eq!(p.join_timeout(LONG), Ok(0));
    let _ = std::io::stdout().write_all(b"\n");
}

#[test]
fn start_method_is_set_once() {
    // Only this test sets the global method, and to the default, so the others are unaffected.
    assert_eq!(procpool::set_start_method(StartMethod::Fork), Ok(()));
    assert_eq!(
        procpool::set_start_method(StartMethod::Spawn),
        Err(procpool::AlreadySet(StartMethod::Fork))
    );
    assert_eq!(procpool::get_start_method(), StartMethod::Fork);
    assert_eq!("forkserver".parse(), Ok(StartMethod::ForkServer));
    assert!("thread".parse::<StartMethod>().is_err());
}

#[test]
fn process_handles_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Process>();
    check::<procpool::ActiveChild>();
}
