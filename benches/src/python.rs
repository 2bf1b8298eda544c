//! The Python column of the comparison: runs `benches/python/mp_bench.py` with `python3`.
//!
//! Each call of [`Python::run_once`] is one `python3 mp_bench.py --workload NAME --reps 1
//! [--quick] [--pin same|two]` process. The script measures itself after its own start-up and
//! prints one JSON line, `{"workload", "unit", "values": [v], ...}`, so the interpreter's
//! start-up and imports are never inside the measured region, and the harness can alternate
//! implementations repetition by repetition.
//!
//! The interpreter is `$PROCPOOL_BENCH_PYTHON` if set, else `python3` from `PATH`.
//!
//! A Python run leaves helper processes behind for a few milliseconds after the interpreter
//! exits (the resource tracker, the fork server, pool workers being torn down). So that they
//! do not compete with the next measurement for the CPUs, [`Python::find`] makes the harness a
//! child subreaper (`PR_SET_CHILD_SUBREAPER`): those orphans become its children, and
//! [`Python::run_once`] waits for every one of them to exit (killing them after
//! [`SETTLE_TIMEOUT`]) before it returns.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::error::BenchError;
use crate::workloads::{Case, Pinning};

/// The longest one invocation of the script may take before it is killed.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(300);

/// The longest the processes left over by a Python run may take to exit before they are killed.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(10);

/// A Python interpreter that runs the benchmark script.
#[derive(Debug, Clone)]
pub struct Python {
    interpreter: OsString,
    script: PathBuf,
    version: String,
}

impl Python {
    /// Finds the interpreter and checks that it runs; `Err` says why not (e.g. no `python3`).
    ///
    /// Also makes the calling process a child subreaper (see the module docs).
    pub fn find(script: &Path) -> Result<Python, BenchError> {
        become_subreaper().map_err(|e| BenchError::io("prctl(PR_SET_CHILD_SUBREAPER)", e))?;
        let interpreter =
            std::env::var_os("PROCPOOL_BENCH_PYTHON").unwrap_or_else(|| OsString::from("python3"));
        if !script.is_file() {
            return Err(BenchError::new(format!("{} not found", script.display())));
        }
        let mut cmd = Command::new(&interpreter);
        cmd.args(["-c", "import sys; print(sys.version.split()[0])"]);
        let out = run_with_timeout(cmd, Duration::from_secs(30))
            .map_err(|e| BenchError::new(format!("{}: {e}", interpreter.to_string_lossy())))?;
        if !out.status.success() {
            return Err(BenchError::new(format!(
                "{} exited with {}",
                interpreter.to_string_lossy(),
                out.status
            )));
        }
        let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        Ok(Python {
            interpreter,
            script: script.to_owned(),
            version,
        })
    }

    /// The interpreter's version, e.g. `3.11.7`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// Runs one repetition of `case` and returns its value in the workload's unit.
    pub fn run_once(&self, case: &Case, quick: bool) -> Result<f64, BenchError> {
        let name = case.workload.name;
        let mut cmd = Command::new(&self.interpreter);
        cmd.arg(&self.script)
            .args(["--workload", name, "--reps", "1"]);
        if quick {
            cmd.arg("--quick");
        }
        if case.pinning != Pinning::None {
            cmd.args(["--pin", case.pinning.python_flag()]);
        }
        let before = own_children().map_err(|e| BenchError::io("listing children", e))?;
        let out = run_with_timeout(cmd, RUN_TIMEOUT);
        settle(&before)?;
        let out = out?;
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            return Err(BenchError::new(format!(
                "mp_bench.py {name} exited with {}: {}",
                out.status,
                last_lines(&stderr, 5)
            )));
        }
        if !stderr.trim().is_empty() {
            eprintln!("  [python {case}] {}", last_lines(&stderr, 5));
        }
        let stdout = String::from_utf8_lossy(&out.stdout);
        parse_result(&stdout, case)
    }
}

/// Extracts the single value from the script's JSON line, checking workload, unit and pinning.
fn parse_result(stdout: &str, case: &Case) -> Result<f64, BenchError> {
    let bad = |why: &str| BenchError::new(format!("mp_bench.py {case}: {why}: {stdout:?}"));
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.trim_start().starts_with('{'))
        .ok_or_else(|| bad("no JSON line"))?;
    let json: serde_json::Value = serde_json::from_str(line).map_err(|_| bad("bad JSON"))?;
    let w = case.workload;
    if json["workload"] != w.name || json["unit"] != w.unit {
        return Err(bad("wrong workload or unit"));
    }
    if json["pinning"] != case.pinning.as_str() {
        return Err(bad("wrong pinning"));
    }
    let values = json["values"].as_array().ok_or_else(|| bad("no values"))?;
    match values.as_slice() {
        [v] => v
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| bad("value not a number")),
        _ => Err(bad("expected exactly one value")),
    }
}

/// Makes orphaned descendants of this process its children instead of init's.
fn become_subreaper() -> io::Result<()> {
    // SAFETY: PR_SET_CHILD_SUBREAPER only sets an attribute of the calling process.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1 as libc::c_ulong) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The children of this process, from `/proc/self/task/*/children`.
fn own_children() -> io::Result<BTreeSet<libc::pid_t>> {
    let mut pids = BTreeSet::new();
    for task in std::fs::read_dir("/proc/self/task")? {
        let path = task?.path().join("children");
        // A thread that exited meanwhile has no file any more.
        if let Ok(text) = std::fs::read_to_string(path) {
            pids.extend(
                text.split_whitespace()
                    .filter_map(|p| p.parse::<libc::pid_t>().ok()),
            );
        }
    }
    Ok(pids)
}

/// Waits until every child of this process that is not in `before` (the orphans a Python run
/// left to this subreaper) has exited, and reaps it; kills the rest after [`SETTLE_TIMEOUT`].
fn settle(before: &BTreeSet<libc::pid_t>) -> Result<(), BenchError> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    let mut killed = false;
    loop {
        let leftovers: Vec<libc::pid_t> = own_children()
            .map_err(|e| BenchError::io("listing children", e))?
            .difference(before)
            .copied()
            .collect();
        if leftovers.is_empty() {
            return Ok(());
        }
        let late = Instant::now() >= deadline;
        for &pid in &leftovers {
            let mut status = 0;
            // SAFETY: `pid` is a child of this process (listed just now) and `status` is a
            // valid out-pointer.
            unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
            if late {
                // SAFETY: `pid` is still our child (not reaped unless the call above just did,
                // in which case the pid was freed microseconds ago and is not reused so soon).
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        if late && killed {
            return Err(BenchError::new(format!(
                "processes {leftovers:?} left by Python survive"
            )));
        }
        killed |= late;
        thread::sleep(Duration::from_millis(if late { 100 } else { 1 }));
    }
}

fn read_all(pipe: Option<impl Read>) -> Vec<u8> {
    let mut buf = Vec::new();
    if let Some(mut pipe) = pipe {
        // A read error ends the capture; the exit status tells what happened.
        let _ = pipe.read_to_end(&mut buf);
    }
    buf
}

fn last_lines(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.trim_end().lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// What a finished command printed.
struct Output {
    status: ExitStatus,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `cmd` with captured output; kills it (SIGKILL) if it is still running after `timeout`.
///
/// The waits block (no polling loop that would wake up while Python measures): one scoped thread
/// waits for the process, two drain its pipes, and this thread waits on a channel with a
/// timeout. All of them are joined before returning, so the harness is single-threaded again
/// (the raw measurements fork and need that).
fn run_with_timeout(mut cmd: Command, timeout: Duration) -> Result<Output, BenchError> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| BenchError::io("starting the interpreter", e))?;
    let pid = child.id();
    let stdout_pipe = child.stdout.take();
    let stderr_pipe = child.stderr.take();
    thread::scope(|s| {
        let out_reader = s.spawn(move || read_all(stdout_pipe));
        let err_reader = s.spawn(move || read_all(stderr_pipe));
        let (tx, rx) = mpsc::channel();
        let waiter = s.spawn(move || {
            let _ = tx.send(child.wait());
        });
        let mut timed_out = false;
        let status = match rx.recv_timeout(timeout) {
            Ok(status) => status,
            Err(_) => {
                timed_out = true;
                // The waiter had not reaped the process a moment ago; if it did since, Linux
                // does not hand the freed pid out again within microseconds (pids are allocated
                // cyclically), so the signal cannot reach another process.
                // SAFETY: kill has no memory-safety preconditions.
                unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
                rx.recv()
                    .map_err(|_| std::io::Error::other("waiter thread died"))?
            }
        };
        let _ = waiter.join();
        let stdout = out_reader.join().unwrap_or_default();
        let stderr = err_reader.join().unwrap_or_default();
        let status = status.map_err(|e| BenchError::io("waiting for the interpreter", e))?;
        if timed_out {
            return Err(BenchError::new(format!(
                "timed out after {timeout:?}; killed"
            )));
        }
        Ok(Output {
            status,
            stdout,
            stderr,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workloads::find;

    #[test]
    fn parses_the_scripts_line() {
        let case = Case {
            workload: find("pipe_rtt").unwrap(),
            pinning: Pinning::TwoCores,
        };
        let line = r#"{"workload": "pipe_rtt", "unit": "us/roundtrip", "pinning": "two_cores", "values": [38.5]}"#;
        assert_eq!(
            parse_result(&format!("noise\n{line}\n"), &case).unwrap(),
            38.5
        );
        let wrong = line.replace("two_cores", "same_core");
        assert!(parse_result(&wrong, &case).is_err());
        assert!(parse_result("", &case).is_err());
    }
}
