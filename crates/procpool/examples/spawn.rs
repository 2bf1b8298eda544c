//! The spawn and forkserver start methods: the child is a fresh run of this binary (spawn) or
//! forked by a clean single-threaded server (forkserver), not a copy of the parent. Nothing
//! else to set up: no `if __name__ == "__main__"` guard, no init call in `main`.
//!
//! Python:
//!
//! ```python
//! if __name__ == "__main__":
//!     ctx = multiprocessing.get_context("spawn")
//!     q = ctx.Queue()
//!     p = ctx.Process(target=child, args=(q, 21))
//!     p.start(); print(q.get()); p.join()
//! ```
//!
//! `cargo run -p procpool --example spawn`

use std::sync::atomic::{AtomicU32, Ordering};

use procpool::{Process, Queue, StartMethod, current_process, get_context, set_start_method};

/// A global: a spawned child starts from a fresh copy of the program, so it sees the
/// initial value, not the parent's change. Pass what a child needs as arguments.
static GLOBAL: AtomicU32 = AtomicU32::new(1);

fn child((q, x): (Queue<String>, u32)) -> Result<(), procpool::PutError<String>> {
    let me = current_process();
    q.put(format!(
        "{} started by {:?}: 2 * {x} = {}, GLOBAL = {}",
        me.name(),
        me.start_method(),
        2 * x,
        GLOBAL.load(Ordering::SeqCst)
    ))
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    GLOBAL.store(99, Ordering::SeqCst);
    let q = Queue::new(0)?;

    // Per process, through a context (Python's get_context):
    for method in StartMethod::ALL {
        let mut p = get_context(method).process(child, (q.clone(), 21));
        p.start()?;
        println!("{:>10}: {}", method.as_str(), q.get()?);
        p.join()?;
    }

    // For the whole program (Python's set_start_method; allowed once):
    set_start_method(StartMethod::Spawn)?;
    let mut p = Process::new(child, (q.clone(), 4));
    p.start()?;
    println!(" (default): {}", q.get()?);
    p.join()?;
    Ok(())
}
