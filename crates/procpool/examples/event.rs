//! An `Event` between processes: workers wait until the parent says "go".
//!
//! Python:
//!
//! ```python
//! def worker(go, i):
//!     go.wait()
//!     print("worker", i, "goes")
//!
//! go = Event()
//! for i in range(3):
//!     Process(target=worker, args=(go, i)).start()
//! time.sleep(0.2)
//! go.set()
//! ```
//!
//! `cargo run -p procpool --example event`

use std::time::Duration;

use procpool::{Event, Process};

fn worker((go, i): (Event, u32)) {
    println!("worker {i} waits for the signal");
    go.wait();
    println!("worker {i} goes");
}

/// Waits at most 50 ms, like the tutorial's police cars at a red light.
fn impatient(go: Event) {
    if go.wait_timeout(Duration::from_millis(50)) {
        println!("impatient: the signal came in time");
    } else {
        println!("impatient: no signal after 50 ms, going anyway");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let go = Event::new()?;
    let mut children = Vec::new();
    for i in 0..3 {
        let mut p = Process::new(worker, (go.clone(), i));
        p.start()?;
        children.push(p);
    }
    let mut p = Process::new(impatient, go.clone());
    p.start()?;
    children.push(p);
    std::thread::sleep(Duration::from_millis(200));
    println!("parent: set()");
    go.set(); // wakes every waiter; stays set until clear()
    for p in &children {
        p.join()?;
    }
    Ok(())
}
