//! `Pool.map`: apply a function to every item on a pool of worker processes; results come
//! back in order. Also `starmap` (several arguments) and `imap_unordered` (results as they
//! finish).
//!
//! Python:
//!
//! ```python
//! def square(x):
//!     return x * x
//!
//! with Pool(4) as pool:
//!     print(pool.map(square, range(10)))
//! ```
//!
//! `cargo run -p procpool --example pool_map`

use procpool::Pool;

fn square(x: u64) -> u64 {
    x * x
}

fn power(base: u64, exp: u32) -> u64 {
    base.pow(exp)
}

/// Which worker ran the task: shows that the pool's processes are reused.
fn whoami(i: u32) -> (u32, u32) {
    (i, std::process::id())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let pool = Pool::new(4)?;
    println!("map:      {:?}", pool.map(square, 0..10)?);
    println!(
        "starmap:  {:?}",
        pool.starmap(power, [(2, 10), (3, 3), (10, 2)])?
    );
    let mut pids: Vec<u32> = pool
        .imap_unordered(whoami, 0..20, 1)?
        .map(|r| r.map(|(_, pid)| pid))
        .collect::<Result<_, _>>()?;
    pids.sort_unstable();
    pids.dedup();
    println!(
        "imap_unordered: 20 tasks ran on {} worker processes {pids:?}",
        pids.len()
    );
    // Python's `with Pool() as pool:` block ends with terminate; the graceful way is:
    pool.close();
    pool.join()?;
    Ok(())
}
