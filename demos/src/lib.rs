//! Shared helpers for the tutorial demos: command-line options, a seedable random number
//! generator, scaled sleeps and terminal colours.
//!
//! Every demo binary accepts:
//! - `--fast` (or `PROCPOOL_DEMO_FAST=1`): sleeps are scaled down (÷20) so the whole set runs
//!   in tests and in the tour; the default keeps the tutorial's real timing.
//! - `--seed N`: seeds the random generator (default: from the clock); the same seed gives
//!   the same random choices.
//! - `--method fork|spawn|forkserver`: the start method; [`Opts::parse`] makes it the
//!   program's default ([`procpool::set_start_method_force`]), so every process, queue and pool
//!   the demo creates uses it.
//! - `--help`: what the demo shows and its options.
//!
//! A demo made of several parts (`daemon_processes join`, `pipes eof`, ...) takes the part's
//! name as an argument ([`Opts::part`]); without one it runs every part, each in a fresh copy
//! of the program ([`Opts::run_parts`]), so each part starts as a new main process (numbering
//! its children from `Process-1`, ending its daemons at its own exit) exactly as the tutorial's
//! script would.
#![forbid(unsafe_code)]

pub mod counting;

/// Prints a line and flushes stdout at once, so lines from several processes interleave as
/// they happen (stdout is block-buffered when it is not a terminal).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, $($arg)*);
        let _ = out.flush();
    }};
}
pub mod http;

use std::io::IsTerminal;
use std::process::{Command, ExitCode};
use std::str::FromStr;
use std::time::Duration;

use procpool::StartMethod;
use serde::{Deserialize, Serialize};

/// Parsed common options, plus the remaining (demo-specific) arguments.
#[derive(Debug, Clone)]
pub struct Opts {
    /// Sleeps are divided by [`FAST_FACTOR`].
    pub fast: bool,
    /// Seed for [`Rng`].
    pub seed: u64,
    /// Start method name, if given.
    pub method: Option<String>,
    /// Arguments the common parser did not consume, in order.
    pub rest: Vec<String>,
}

/// How much `--fast` shrinks sleeps.
pub const FAST_FACTOR: u32 = 20;

impl Opts {
    /// Parses `std::env::args()`. Prints `usage` and exits on `--help`. A `--method` becomes
    /// the program's start method ([`procpool::set_start_method`]); an unknown one is an error
    /// (exit code 2).
    pub fn parse(usage: &str) -> Opts {
        let opts = Self::parse_from(std::env::args().skip(1), usage);
        if let Some(m) = &opts.method {
            match m.parse::<StartMethod>() {
                Ok(method) => procpool::set_start_method_force(method),
                Err(e) => usage_error(&format!("--method {m}: {e}")),
            }
        }
        opts
    }

    /// Parses the given arguments (for tests).
    pub fn parse_from(args: impl IntoIterator<Item = String>, usage: &str) -> Opts {
        let mut fast = std::env::var("PROCPOOL_DEMO_FAST").is_ok_and(|v| v != "0" && !v.is_empty());
        let mut seed = None;
        let mut method = None;
        let mut rest = Vec::new();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            match a.as_str() {
                "--help" | "-h" => {
                    println!("{usage}");
                    println!();
                    println!("Common options:");
                    println!(
                        "  --fast            scale sleeps down {FAST_FACTOR}x (also PROCPOOL_DEMO_FAST=1)"
                    );
                    println!("  --seed N          seed the random generator");
                    println!("  --method M        start method: fork (default), spawn, forkserver");
                    std::process::exit(0);
                }
                "--fast" => fast = true,
                "--seed" => seed = it.next().and_then(|s| s.parse().ok()),
                "--method" => method = it.next(),
                _ => {
                    if let Some(v) = a.strip_prefix("--seed=") {
                        seed = v.parse().ok();
                    } else if let Some(v) = a.strip_prefix("--method=") {
                        method = Some(v.to_string());
                    } else {
                        rest.push(a);
                    }
                }
            }
        }
        let seed = seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(42)
        });
        Opts {
            fast,
            seed,
            method,
            rest,
        }
    }

    /// A duration as the tutorial has it, scaled down in fast mode.
    pub fn dur(&self, secs: f64) -> Duration {
        scaled(secs, self.fast)
    }

    /// Sleeps for `secs` tutorial seconds (scaled down in fast mode).
    pub fn sleep(&self, secs: f64) {
        std::thread::sleep(self.dur(secs));
    }

    /// The value of a demo-specific `--name value` option.
    pub fn value(&self, name: &str) -> Option<&str> {
        let mut it = self.rest.iter();
        while let Some(a) = it.next() {
            if a == name {
                return it.next().map(String::as_str);
            }
            if let Some(v) = a.strip_prefix(name).and_then(|v| v.strip_prefix('=')) {
                return Some(v);
            }
        }
        None
    }

    /// Whether a demo-specific flag is present.
    pub fn flag(&self, name: &str) -> bool {
        self.rest.iter().any(|a| a == name)
    }

    /// The value of `--name value` parsed as a `T`, or `default` when absent. A value that
    /// does not parse is a usage error (the program exits with code 2).
    pub fn number<T: FromStr>(&self, name: &str, default: T) -> T {
        match self.value(name) {
            None => default,
            Some(v) => v
                .parse()
                .unwrap_or_else(|_| usage_error(&format!("{name}: not a valid number: {v}"))),
        }
    }

    /// The part of a multi-part demo named on the command line (the first argument that is one
    /// of `choices`), if any.
    pub fn part(&self, choices: &[&str]) -> Option<String> {
        self.rest
            .iter()
            .find(|a| choices.contains(&a.as_str()))
            .cloned()
    }

    /// The start method in effect (`--method`, else procpool's default).
    pub fn start_method(&self) -> StartMethod {
        procpool::get_start_method()
    }

    /// Runs each part (`(name, heading)`) in a fresh copy of this program, one after another,
    /// with the same options (and the same seed), printing the heading first. Returns success
    /// when every part succeeded.
    pub fn run_parts(&self, parts: &[(&str, &str)]) -> ExitCode {
        let exe = match std::env::current_exe() {
            Ok(exe) => exe,
            Err(e) => {
                eprintln!("error: cannot find this program to run its parts: {e}");
                return ExitCode::FAILURE;
            }
        };
        let mut failed = Vec::new();
        for (i, (name, heading)) in parts.iter().enumerate() {
            if i > 0 {
                say!();
            }
            say!("=== {name}: {heading} ===");
            let status = Command::new(&exe)
                .args(std::env::args().skip(1))
                .arg("--seed")
                .arg(self.seed.to_string())
                .arg(name)
                .status();
            match status {
                Ok(s) if s.success() => {}
                Ok(s) => {
                    eprintln!("error: part {name} failed ({s})");
                    failed.push(*name);
                }
                Err(e) => {
                    eprintln!("error: cannot run part {name}: {e}");
                    failed.push(*name);
                }
            }
        }
        if failed.is_empty() {
            ExitCode::SUCCESS
        } else {
            eprintln!("error: failed parts: {}", failed.join(", "));
            ExitCode::FAILURE
        }
    }
}

/// Prints a usage error and exits with code 2.
pub fn usage_error(msg: &str) -> ! {
    eprintln!("error: {msg} (see --help)");
    std::process::exit(2)
}

/// What a demo's body returns: an error is printed by [`run`].
pub type DemoResult<T = ()> = Result<T, Box<dyn std::error::Error>>;

/// Runs a demo's body: on error prints `error: ...` with its causes and exits with code 1.
///
/// A demo's own checks (exactly 5 tickets sold, never more than 4 users in a room...) fail
/// through [`check`].
pub fn run(body: impl FnOnce() -> DemoResult) -> ExitCode {
    match body() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let mut msg = format!("error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                msg.push_str(&format!(": {s}"));
                src = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}

/// A failed check of a demo: `Err("check failed: <what>")` unless `ok`.
pub fn check(ok: bool, what: impl std::fmt::Display) -> DemoResult {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}").into())
    }
}

/// A tutorial duration, scaled down when `fast` (serialisable into children).
pub fn scaled(secs: f64, fast: bool) -> Duration {
    let d = Duration::from_secs_f64(secs.max(0.0));
    if fast { d / FAST_FACTOR } else { d }
}

/// A small seedable random number generator (SplitMix64): enough for demos, reproducible
/// with `--seed`, and serialisable so a child can continue a stream of its own.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// A generator for child number `i` derived from `seed` (independent streams).
    pub fn for_child(seed: u64, i: u64) -> Rng {
        let mut r = Rng(seed ^ i.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        r.next_u64();
        r
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A float uniformly in `[0, 1)`.
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A float uniformly in `[lo, hi)`.
    pub fn range_f64(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.f64()
    }

    /// An integer uniformly in `[lo, hi]`.
    pub fn range_u64(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }
}

/// Whether to colour output: stdout is a terminal and `NO_COLOR` is not set.
pub fn use_colour() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// Wraps `text` in green when colours are on.
pub fn green(text: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[32m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Wraps `text` in red when colours are on.
pub fn red(text: &str, colour: bool) -> String {
    if colour {
        format!("\x1b[31m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_common_and_rest() {
        let o = Opts::parse_from(
            ["--fast", "--seed", "7", "--rounds", "3", "--method=spawn"].map(String::from),
            "",
        );
        assert!(o.fast);
        assert_eq!(o.seed, 7);
        assert_eq!(o.method.as_deref(), Some("spawn"));
        assert_eq!(o.value("--rounds"), Some("3"));
        assert_eq!(o.dur(1.0), Duration::from_millis(50));
    }

    #[test]
    fn rng_is_reproducible() {
        let a: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(1);
                move |_| r.next_u64()
            })
            .collect();
        let b: Vec<u64> = (0..5)
            .map({
                let mut r = Rng::new(1);
                move |_| r.next_u64()
            })
            .collect();
        assert_eq!(a, b);
        let mut r = Rng::new(3);
        for _ in 0..1000 {
            let x = r.range_u64(2, 5);
            assert!((2..=5).contains(&x));
            let f = r.range_f64(0.0, 1.0);
            assert!((0.0..1.0).contains(&f));
        }
    }
}
