//! `JoinableQueue`: workers mark each item done; `join()` returns when every item put has
//! been processed.
//!
//! Python:
//!
//! ```python
//! def worker(q):
//!     while True:
//!         item = q.get()
//!         print("done", item)
//!         q.task_done()
//!
//! q = JoinableQueue()
//! for _ in range(2):
//!     Process(target=worker, args=(q,), daemon=True).start()
//! for i in range(10):
//!     q.put(i)
//! q.join()
//! ```
//!
//! `cargo run -p procpool --example joinable_queue`

use std::convert::Infallible;
use std::time::Duration;

use procpool::{JoinableQueue, Process};

/// Loops for ever; a daemon, so it ends with the parent.
fn worker(q: JoinableQueue<u32>) -> Infallible {
    loop {
        if let Ok(item) = q.get() {
            std::thread::sleep(Duration::from_millis(20));
            println!("{} done {item}", std::process::id());
        }
        let _ = q.task_done();
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = JoinableQueue::new(0)?;
    let mut workers = Vec::new();
    for _ in 0..2 {
        let mut w = Process::new(worker, q.clone()).with_daemon(true);
        w.start()?;
        workers.push(w);
    }
    for i in 0..10 {
        q.put(i)?;
    }
    q.join(); // until every item has been marked done
    println!(
        "all 10 items processed; {} unfinished, {} left in the queue",
        q.unfinished_tasks(),
        q.qsize()
    );
    // The daemon workers are terminated when main returns.
    Ok(())
}
