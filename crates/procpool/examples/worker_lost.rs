//! A pool worker that dies in the middle of a task (killed by the OOM killer, a segfault,
//! `kill -9`): that task fails with `TaskError::WorkerLost`, the worker is replaced, and
//! everything else completes. Python's `Pool` hangs for ever here.
//!
//! `cargo run -p procpool --example worker_lost`

use std::time::Duration;

use procpool::{GetTimeoutError, Pool, TaskError};

/// Task 3 dies abruptly, as if the OOM killer had chosen its worker.
fn fragile(i: u32) -> u32 {
    if i == 3 {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::this(), nix::sys::signal::Signal::SIGKILL);
    }
    std::thread::sleep(Duration::from_millis(20));
    i * i
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(2)?;
    println!("workers: {:?}", pool.worker_pids());
    let results: Vec<_> = (0..6)
        .map(|i| pool.apply_async(fragile, i))
        .collect::<Result<_, _>>()?;
    for (i, r) in results.into_iter().enumerate() {
        // A deadline on every wait, so that even a bug could not hang this program.
        match r.get_timeout(Duration::from_secs(30)) {
            Ok(v) => println!("task {i}: {v}"),
            Err(GetTimeoutError::Failed(TaskError::WorkerLost { pid, signal, .. })) => {
                println!("task {i}: worker {pid} died (signal {signal:?}); the task failed alone")
            }
            Err(e) => println!("task {i}: {e}"),
        }
    }
    println!(
        "workers now: {:?} ({} replacement)",
        pool.worker_pids(),
        pool.replacements()
    );
    // The pool goes on working.
    assert_eq!(pool.map(fragile, [4, 5])?, [16, 25]);
    pool.close();
    pool.join()?;
    Ok(())
}
