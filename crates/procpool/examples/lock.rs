//! A `Lock` across processes: whole lines from several printers, and a holder that dies with
//! the lock held (which in Python wedges the lock for ever).
//!
//! Python:
//!
//! ```python
//! def printer(lock, i):
//!     with lock:
//!         print("process", i, "has the lock")
//!
//! lock = Lock()
//! for i in range(3):
//!     Process(target=printer, args=(lock, i)).start()
//! ```
//!
//! `cargo run -p procpool --example lock`

use std::time::Duration;

use procpool::{Lock, Process};

fn printer((lock, i): (Lock, u32)) {
    for round in 0..3 {
        let _held = lock.acquire(); // released when `_held` goes out of scope
        println!(
            "process {i} (pid {}) has the lock, round {round}",
            std::process::id()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Takes the lock and dies without releasing it.
fn die_holding(lock: Lock) {
    let _held = lock.acquire();
    std::process::abort();
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let lock = Lock::new()?;
    let mut children = Vec::new();
    for i in 0..3 {
        let mut p = Process::new(printer, (lock.clone(), i));
        p.start()?;
        children.push(p);
    }
    for p in &children {
        p.join()?;
    }

    let mut p = Process::new(die_holding, lock.clone());
    p.start()?;
    println!(
        "a child took the lock and died (exit code {}: SIGABRT)",
        p.join()?
    );
    // The dead holder is detected and the lock taken over (within about 250 ms); the guard
    // says so, so that data the lock protected can be checked.
    let held = lock.acquire_timeout(Duration::from_secs(5))?;
    println!(
        "the parent has the lock again; previous owner died: {}",
        held.previous_owner_died()
    );
    Ok(())
}
