//! Smoke test of the raw limits that fork: every one runs, with tiny sizes, under every pinning
//! this machine allows, and returns a positive figure.
//!
//! It has its own `main` (`harness = false` in Cargo.toml) because forking a child that runs
//! Rust code needs a single-threaded process, and libtest runs each test on a thread of its own.

use benches::raw;
use benches::workloads::Pinning;

fn main() {
    // spawn_start_join re-executes the current binary (this one) with the probe variable set.
    raw::exit_if_spawn_probe();
    let mut passed = 0;
    let mut failed = 0;
    let mut check = |name: String, result: Result<f64, benches::BenchError>| match result {
        Ok(v) if v > 0.0 && v.is_finite() => {
            println!("ok   {name}: {v:.3}");
            passed += 1;
        }
        Ok(v) => {
            println!("FAIL {name}: implausible value {v}");
            failed += 1;
        }
        Err(e) => {
            println!("FAIL {name}: {e}");
            failed += 1;
        }
    };
    check("fork_start_join".into(), raw::fork_start_join(10));
    check(
        "forkserver_start_join".into(),
        raw::forkserver_start_join(10),
    );
    check("lock_uncontended".into(), raw::lock_uncontended(10_000));
    for pinning in [Pinning::None, Pinning::SameCore, Pinning::TwoCores] {
        if !raw::can_pin(pinning) {
            println!("skip {pinning}: cannot pin here");
            continue;
        }
        check(
            format!("socketpair_rtt [{pinning}]"),
            raw::socketpair_rtt(200, pinning),
        );
        check(
            format!("ring_items_per_s [{pinning}]"),
            raw::ring_items_per_s(100_000, pinning),
        );
        check(
            format!("ring_mb_per_s [{pinning}]"),
            raw::ring_mb_per_s(200, pinning),
        );
        check(
            format!("lock_contended [{pinning}]"),
            raw::lock_contended(20_000, pinning),
        );
        check(
            format!("futex_wake_latency [{pinning}]"),
            raw::futex_wake_latency(5, pinning),
        );
    }
    check("spawn_start_join".into(), raw::spawn_start_join(3));
    println!("{passed} passed, {failed} failed");
    if failed > 0 {
        std::process::exit(1);
    }
}
