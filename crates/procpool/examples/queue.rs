//! A queue between two processes: a producer child puts items, the parent gets them.
//!
//! Python:
//!
//! ```python
//! def producer(q):
//!     for i in range(5):
//!         q.put(f"item {i}")
//!     q.put(None)
//!
//! q = Queue()
//! p = Process(target=producer, args=(q,))
//! p.start()
//! while (item := q.get()) is not None:
//!     print("got", item)
//! p.join()
//! ```
//!
//! `cargo run -p procpool --example queue`

use procpool::{Process, Queue};

/// Runs in the child. The queue arrives as the argument: a handle to the parent's queue.
fn producer(q: Queue<Option<String>>) -> Result<(), procpool::PutError<Option<String>>> {
    for i in 0..5 {
        q.put(Some(format!("item {i} from pid {}", std::process::id())))?;
    }
    q.put(None) // the end marker
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let q = Queue::new(0)?; // 0: unbounded, as in Python
    let mut p = Process::new(producer, q.clone());
    p.start()?;
    while let Some(item) = q.get()? {
        println!("parent {} got: {item}", std::process::id());
    }
    assert_eq!(p.join()?, 0);
    println!("{p}");
    Ok(())
}
