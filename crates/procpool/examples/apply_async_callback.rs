//! `apply_async` with a `callback` and an `error_callback`: tasks run in the pool's workers,
//! the callbacks run in the parent as each result arrives.
//!
//! Python:
//!
//! ```python
//! def work(n):
//!     if n == 3:
//!         raise ValueError("three is unlucky")
//!     return n * 10
//!
//! with Pool(2) as pool:
//!     results = [pool.apply_async(work, (n,), callback=print, error_callback=print)
//!                for n in range(5)]
//!     pool.close()
//!     pool.join()
//! ```
//!
//! `cargo run -p procpool --example apply_async_callback`

use std::time::Duration;

use procpool::{AsyncResult, Pool, TaskError};

/// A task may fail by returning `Err`... here it panics, and the panic comes back as
/// `TaskError::Panicked` (the worker survives).
fn work(n: u32) -> u32 {
    std::thread::sleep(Duration::from_millis(50 * u64::from(n)));
    assert!(n != 3, "three is unlucky");
    n * 10
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(2)?;
    let results: Vec<AsyncResult<u32>> = (0..5)
        .map(|n| {
            pool.apply_async_with(
                work,
                n,
                // Run in the parent, on the pool's result thread: keep them short.
                Some(move |r: &u32| println!("callback: task {n} gave {r}")),
                Some(move |e: &TaskError| println!("error_callback: task {n} failed: {e}")),
            )
        })
        .collect::<Result<_, _>>()?;
    println!("all 5 submitted; the parent is free meanwhile");
    pool.close();
    pool.join()?;
    for (n, r) in results.into_iter().enumerate() {
        println!(
            "task {n}: ready, get() = {:?}",
            r.get().map_err(|e| e.to_string())
        );
    }
    Ok(())
}
