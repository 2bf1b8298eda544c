//! A shared counter: `Value` incremented by several processes, atomically with `fetch_add`,
//! and under the value's lock for a read-modify-write of several steps.
//!
//! Python:
//!
//! ```python
//! def add(counter):
//!     for _ in range(1000):
//!         with counter.get_lock():
//!             counter.value += 1
//!
//! counter = Value('i', 0)
//! ps = [Process(target=add, args=(counter,)) for _ in range(4)]
//! ...
//! print(counter.value)  # 4000
//! ```
//!
//! `cargo run -p procpool --example shared_counter`

use procpool::{Process, Value};

const ROUNDS: u64 = 10_000;

/// Lock-free: one atomic instruction per increment (Python has no equivalent; its
/// `counter.value += 1` without the lock loses updates).
fn add_atomic(counter: Value<u64>) {
    for _ in 0..ROUNDS {
        counter.fetch_add(1);
    }
}

/// Python's `with counter.get_lock(): counter.value += 1`: the guard derefs to the value.
fn add_locked(counter: Value<u64>) {
    for _ in 0..ROUNDS {
        *counter.lock() += 1;
    }
}

fn run(name: &str, target: fn(Value<u64>)) -> Result<(), Box<dyn std::error::Error>> {
    let counter = Value::new(0u64)?;
    let mut children = Vec::new();
    for _ in 0..4 {
        let mut p = Process::new(target, counter.clone());
        p.start()?;
        children.push(p);
    }
    for p in &children {
        p.join()?;
    }
    println!("{name}: 4 processes x {ROUNDS} = {}", counter.get());
    assert_eq!(counter.get(), 4 * ROUNDS);
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    run("fetch_add", add_atomic)?;
    run("lock()   ", add_locked)?;
    Ok(())
}
