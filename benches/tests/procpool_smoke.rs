//! Smoke test of the procpool column: every workload runs once with its quick size, under
//! every pinning this machine allows, and returns a positive figure (or `None` for the ones
//! procpool has no equivalent of yet). After each one the process must be single-threaded
//! again, which `procpool_impl` checks itself: the raw measurements that follow it in the
//! harness fork.
//!
//! It has its own `main` (`harness = false` in Cargo.toml) for the same reason as
//! `raw_smoke.rs`: libtest runs tests on threads of their own, and the check above needs a
//! single-threaded process. The spawn start method re-executes this binary; procpool
//! recognises its child before `main` runs.

use std::time::Instant;

use benches::procpool_side::procpool_impl;
use benches::raw;
use benches::workloads::{Case, WORKLOADS};

fn main() {
    raw::exit_if_spawn_probe();
    let (mut passed, mut failed, mut skipped) = (0, 0, 0);
    for w in WORKLOADS {
        for case in Case::of(w) {
            if !raw::can_pin(case.pinning) {
                println!("skip {case}: cannot pin here");
                continue;
            }
            let t0 = Instant::now();
            match procpool_impl(&case, true) {
                None => {
                    println!("none {case}");
                    skipped += 1;
                }
                Some(Ok(v)) if v > 0.0 && v.is_finite() => {
                    println!(
                        "ok   {case}: {v:.3} {} ({:.2} s)",
                        w.unit,
                        t0.elapsed().as_secs_f64()
                    );
                    passed += 1;
                }
                Some(Ok(v)) => {
                    println!("FAIL {case}: implausible value {v}");
                    failed += 1;
                }
                Some(Err(e)) => {
                    println!("FAIL {case}: {e}");
                    failed += 1;
                }
            }
        }
    }
    // Everything but the raw-only reference.
    let expected_none = WORKLOADS
        .iter()
        .filter(|w| w.reference)
        .map(|w| Case::of(w).len())
        .sum::<usize>();
    println!("{passed} passed, {failed} failed, {skipped} without a procpool equivalent");
    if skipped > expected_none {
        println!("FAIL: more workloads than expected have no procpool implementation");
        failed += 1;
    }
    if failed > 0 {
        std::process::exit(1);
    }
}
