//! Scenario 12 (B. Synchronisation): a Lock around printing.
//!
//! Five processes loop 10, 11, 12, 13 and 14 times, sleeping 0.1 s and printing
//! `Pid: PID LoopCount: c`. Each line is written in pieces, one unbuffered `write(2)` per
//! piece, as Python's `print` writes the text and then the newline: without a lock, pieces of
//! different processes can land in between each other and lines tear
//! (`Pid: 12 LoopCount: 2Pid: 13 LoopCount: 0`). With a [`Lock`] held around each line, every
//! line is whole.
//!
//! The children write to one shared file opened in append mode (so no write is lost or
//! overwritten); the parent copies it to standard output as it grows, then counts the torn
//! lines of each run. The locked run must have none (the demo fails otherwise); the unlocked
//! run usually has some, but that is a matter of timing.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use demos::{DemoResult, Opts, check, say};
use procpool::{Lock, Process};

const USAGE: &str = "\
print_lock [--no-lock|--lock] [options]

Scenario 12: a Lock around printing. Five processes loop 10..14 times, sleeping 0.1 s and
writing `Pid: PID LoopCount: c` in pieces with separate unbuffered writes. Without the lock
lines can tear; with the lock every line is whole. By default both runs are shown and the
torn lines of each are counted (the locked run must have none).
  --no-lock   only the run without the lock
  --lock      only the run with the lock";

/// What one child does.
#[derive(serde::Serialize, serde::Deserialize)]
struct Job {
    log: PathBuf,
    lock: Option<Lock>,
    loops: u32,
    pause: Duration,
    /// When to begin, so that the five start together whatever the start method.
    start_at: SystemTime,
}

/// Writes one piece with one `write(2)` (`File` has no buffer), then lets another process
/// run: the window in which another process's piece can land in the middle of this line.
fn write_piece(out: &mut File, piece: &str) -> std::io::Result<()> {
    out.write_all(piece.as_bytes())?;
    std::thread::yield_now();
    Ok(())
}

fn printer(job: Job) -> std::io::Result<()> {
    let mut out = OpenOptions::new().append(true).open(&job.log)?;
    let pid = std::process::id();
    if let Ok(wait) = job.start_at.duration_since(SystemTime::now()) {
        std::thread::sleep(wait);
    }
    for c in 0..job.loops {
        std::thread::sleep(job.pause);
        let _guard = job.lock.as_ref().map(Lock::acquire);
        for piece in [
            "Pid: ",
            &pid.to_string(),
            " LoopCount: ",
            &c.to_string(),
            "\n",
        ] {
            write_piece(&mut out, piece)?;
        }
    }
    Ok(())
}

/// Whether `line` is one whole `Pid: N LoopCount: c` line.
fn is_whole(line: &str) -> bool {
    let Some(rest) = line.strip_prefix("Pid: ") else {
        return false;
    };
    let Some((pid, count)) = rest.split_once(" LoopCount: ") else {
        return false;
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    digits(pid) && digits(count)
}

/// Runs the five printers against `log`; returns (lines written, torn lines).
fn run_once(opts: &Opts, log: &Path, lock: Option<Lock>) -> DemoResult<(usize, usize)> {
    File::create(log)?;
    let pause = opts.dur(0.1);
    let mut children = Vec::new();
    let start_at = SystemTime::now() + Duration::from_millis(300);
    for loops in 10..15 {
        let job = Job {
            log: log.to_path_buf(),
            lock: lock.clone(),
            loops,
            pause,
            start_at,
        };
        let mut p = Process::new(printer, job);
        p.start()?;
        children.push(p);
    }
    // Copy the file to stdout as it grows, until every child has ended.
    let mut reader = File::open(log)?;
    let mut text = Vec::new();
    let mut chunk = Vec::new();
    let stdout = std::io::stdout();
    loop {
        let done = children.iter().all(|p| !p.is_alive());
        chunk.clear();
        reader.read_to_end(&mut chunk)?;
        if !chunk.is_empty() {
            let mut out = stdout.lock();
            out.write_all(&chunk)?;
            out.flush()?;
            text.extend_from_slice(&chunk);
        }
        if done {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for p in &children {
        check(p.join()? == 0, format!("{p} failed"))?;
    }
    let text = String::from_utf8_lossy(&text);
    let records = text.matches("Pid: ").count();
    let torn = text.lines().filter(|l| !is_whole(l)).count();
    Ok((records, torn))
}

fn body(opts: &Opts) -> DemoResult {
    let dir = tempfile::tempdir()?;
    let log = dir.path().join("stdout.log");
    let expected: usize = (10..15).sum();
    let with_lock = !opts.flag("--no-lock");
    let without = !opts.flag("--lock");
    if without {
        say!("--- without a lock ---");
        let (records, torn) = run_once(opts, &log, None)?;
        say!("without the lock: {records} lines written, {torn} torn");
        if torn == 0 {
            say!("(no line tore this time: tearing depends on timing; run again to see some)");
        }
        check(
            records == expected,
            format!("{records} lines, expected {expected}"),
        )?;
    }
    if with_lock {
        say!("--- with a lock around each line ---");
        let (records, torn) = run_once(opts, &log, Some(Lock::new()?))?;
        say!("with the lock: {records} lines written, {torn} torn");
        check(
            records == expected,
            format!("{records} lines, expected {expected}"),
        )?;
        check(torn == 0, format!("{torn} torn lines with the lock"))?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
