//! The comparison harness: procpool vs Python's multiprocessing vs the raw limit.
//!
//! ```text
//! cargo run --release -p benches --bin compare -- [--quick] [--reps N] [--only NAME[,NAME]]
//!                                                 [--json PATH] [--no-python] [--list]
//! ```
//!
//! For every workload of the benchmark issue (both pinnings for the latency ones), it runs the
//! three implementations repetition by repetition, prints a table of medians and ratios and
//! writes a JSON list (default `target/bench/compare.json` under the workspace root) with one
//! record per row:
//!
//! ```text
//! {"workload", "unit", "higher_is_better", "pinning", "procpool", "python", "limit",
//!  "spread": {"procpool": {median, min, max, q1, q3, values} | null, "python": .., "limit": ..},
//!  "ratio_vs_python", "cost_vs_limit", "target", "met", "errors"?, "reference"?}
//! ```
//!
//! `procpool`, `python` and `limit` are medians, `null` where an implementation does not apply
//! (or failed: `errors` says why). `ratio_vs_python` is oriented so that >1 means procpool is
//! better; `cost_vs_limit` is procpool's cost in units of the limit's (1 = at the limit, 1.5 =
//! 50% slower, for throughputs too).
//!
//! # Fair alternation
//!
//! Within a row, repetition r runs the implementations in the order of [`SIDES`] rotated by r
//! (raw, python, procpool; python, procpool, raw; procpool, raw, python; ...), so each one runs
//! after each other one equally often and slow drifts of the machine (clock frequency, caches,
//! other load) spread evenly. A Python repetition is its own `python3 mp_bench.py --reps 1`
//! process: the script measures itself after start-up, so the interpreter's start-up is never
//! inside the measured region.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use benches::BenchError;
use benches::procpool_side::procpool_impl;
use benches::python::Python;
use benches::raw;
use benches::stats::Summary;
use benches::workloads::{self, Case, Goal, WORKLOADS, Workload};
use serde::Serialize;

/// An implementation of the workloads: a column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Raw,
    Python,
    Procpool,
}

/// The implementations, in the order of the first repetition of every row.
const SIDES: [Side; 3] = [Side::Raw, Side::Python, Side::Procpool];

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Raw => "limit",
            Side::Python => "python",
            Side::Procpool => "procpool",
        }
    }
}

/// The command line.
#[derive(Debug)]
struct Args {
    quick: bool,
    reps: usize,
    only: Option<Vec<&'static Workload>>,
    json: PathBuf,
    python: bool,
    list: bool,
}

const USAGE: &str = "\
usage: compare [--quick] [--reps N] [--only NAME[,NAME...]] [--json PATH] [--no-python] [--list]

  --quick       smaller sizes and 3 repetitions (about a minute on 2 cores)
  --reps N      repetitions per implementation and row (default 5, 3 with --quick)
  --only NAMES  run only these workloads (comma-separated; see --list)
  --json PATH   where to write the results (default: target/bench/compare.json)
  --no-python   leave the Python column empty
  --list        list the workloads and exit";

fn parse_args() -> Result<Args, String> {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let workspace = manifest_dir.parent().unwrap_or(manifest_dir);
    let mut args = Args {
        quick: false,
        reps: 0,
        only: None,
        json: workspace.join("target/bench/compare.json"),
        python: true,
        list: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| it.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--quick" => args.quick = true,
            "--reps" => {
                let v = value("--reps")?;
                args.reps = v
                    .parse()
                    .ok()
                    .filter(|&n| n > 0)
                    .ok_or(format!("bad --reps {v}"))?;
            }
            "--only" => {
                let names = value("--only")?;
                let mut picked = Vec::new();
                for name in names.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    picked.push(workloads::find(name).ok_or(format!("unknown workload {name}"))?);
                }
                args.only = Some(picked);
            }
            "--json" => args.json = PathBuf::from(value("--json")?),
            "--no-python" => args.python = false,
            "--list" => args.list = true,
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    if args.reps == 0 {
        args.reps = if args.quick { 3 } else { 5 };
    }
    Ok(args)
}

/// The repetitions of one implementation in one row.
#[derive(Debug, Default)]
struct Column {
    values: Vec<f64>,
    /// The implementation has no equivalent of the workload.
    not_applicable: bool,
    /// Why it stopped (the first failure ends its repetitions in this row).
    error: Option<String>,
}

impl Column {
    fn active(&self) -> bool {
        !self.not_applicable && self.error.is_none()
    }
}

/// One row of the table: a case and its three columns, indexed like [`SIDES`].
#[derive(Debug)]
struct Row {
    case: Case,
    columns: [Column; 3],
}

impl Row {
    fn summary(&self, side: Side) -> Option<Summary> {
        let col = &self.columns[SIDES.iter().position(|&s| s == side)?];
        if col.error.is_some() {
            None
        } else {
            Summary::of(&col.values)
        }
    }

    fn median(&self, side: Side) -> Option<f64> {
        self.summary(side).map(|s| s.median)
    }

    /// procpool vs Python, oriented so that >1 means procpool is better.
    fn ratio_vs_python(&self) -> Option<f64> {
        let (pp, py) = (self.median(Side::Procpool)?, self.median(Side::Python)?);
        Some(if self.case.workload.higher_is_better {
            pp / py
        } else {
            py / pp
        })
    }

    /// procpool's cost in units of the limit's (1 = at the limit, >1 = slower).
    fn cost_vs_limit(&self) -> Option<f64> {
        let (pp, lim) = (self.median(Side::Procpool)?, self.median(Side::Raw)?);
        Some(if self.case.workload.higher_is_better {
            lim / pp
        } else {
            pp / lim
        })
    }

    fn goal_met(&self, goal: Goal) -> Option<bool> {
        match goal {
            Goal::BeatsPython(x) => self.ratio_vs_python().map(|r| r >= x),
            Goal::WithinLimit(x) => self.cost_vs_limit().map(|r| r <= x),
            Goal::AtLeast(x) => self.median(Side::Procpool).map(|v| v >= x),
        }
    }

    /// Whether every goal is met; `None` if there are none or a figure is missing.
    fn met(&self) -> Option<bool> {
        let goals = self.case.workload.goals;
        if goals.is_empty() {
            return None;
        }
        goals
            .iter()
            .map(|&g| self.goal_met(g))
            .collect::<Option<Vec<_>>>()
            .map(|v| v.iter().all(|&m| m))
    }

    fn target(&self) -> String {
        let w = self.case.workload;
        if w.reference {
            return "reference".into();
        }
        w.goals
            .iter()
            .map(Goal::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Runs one repetition of `case` on `side`; `None` if `side` has no equivalent.
fn run_once(
    side: Side,
    case: &Case,
    quick: bool,
    python: Option<&Python>,
) -> Option<Result<f64, BenchError>> {
    match side {
        Side::Raw => raw::limit(case, quick),
        Side::Python if case.workload.reference => None,
        Side::Python => python.map(|py| py.run_once(case, quick)),
        Side::Procpool => procpool_impl(case, quick),
    }
}

/// Measures one row: `reps` rounds, each running every still-active implementation once, in
/// the rotated order described in the module docs.
fn measure(case: Case, args: &Args, python: Option<&Python>) -> Row {
    let mut row = Row {
        case,
        columns: Default::default(),
    };
    for rep in 0..args.reps {
        for k in 0..SIDES.len() {
            let i = (rep + k) % SIDES.len();
            let column = &mut row.columns[i];
            if !column.active() {
                continue;
            }
            match run_once(SIDES[i], &case, args.quick, python) {
                None => column.not_applicable = true,
                Some(Ok(v)) if v.is_finite() => column.values.push(v),
                Some(Ok(v)) => column.error = Some(format!("non-finite value {v}")),
                Some(Err(e)) => {
                    eprintln!("  {case}: {} failed: {e}", SIDES[i].name());
                    column.error = Some(e.to_string());
                }
            }
        }
    }
    row
}

/// Formats a value with about 3 significant digits and an SI suffix for large ones.
fn fmt_value(v: f64) -> String {
    let a = v.abs();
    let (scaled, suffix) = if a >= 1e9 {
        (v / 1e9, "G")
    } else if a >= 1e6 {
        (v / 1e6, "M")
    } else if a >= 1e4 {
        (v / 1e3, "k")
    } else {
        (v, "")
    };
    let s = scaled.abs();
    let digits = if s >= 100.0 {
        0
    } else if s >= 10.0 {
        1
    } else {
        2
    };
    format!("{scaled:.digits$}{suffix}")
}

/// A median with its spread (half the min..max range, in % of the median), or `-`.
fn fmt_cell(summary: Option<&Summary>) -> String {
    match summary {
        Some(s) if s.values.len() > 1 => {
            format!("{} ±{:.0}%", fmt_value(s.median), s.half_range_pct())
        }
        Some(s) => fmt_value(s.median),
        None => "-".into(),
    }
}

fn fmt_ratio(r: Option<f64>) -> String {
    r.map_or("-".into(), |r| format!("{r:.2}x"))
}

fn print_table(rows: &[Row]) {
    let header = [
        "workload",
        "unit",
        "procpool",
        "python",
        "limit",
        "pp vs py",
        "pp cost/lim",
        "target",
        "met",
    ];
    let lines: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.case.to_string(),
                r.case.workload.unit.to_string(),
                fmt_cell(r.summary(Side::Procpool).as_ref()),
                fmt_cell(r.summary(Side::Python).as_ref()),
                fmt_cell(r.summary(Side::Raw).as_ref()),
                fmt_ratio(r.ratio_vs_python()),
                fmt_ratio(r.cost_vs_limit()),
                r.target(),
                match r.met() {
                    Some(true) => "yes".into(),
                    Some(false) => "NO".into(),
                    None => "-".into(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for line in &lines {
        for (w, cell) in widths.iter_mut().zip(line) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let print_line = |cells: &[String]| {
        let mut out = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            let pad = w - cell.chars().count();
            // Figures (columns 2..7) are right-aligned, text left-aligned.
            if !(2..7).contains(&i) {
                out.push_str(cell);
                out.push_str(&" ".repeat(pad));
            } else {
                out.push_str(&" ".repeat(pad));
                out.push_str(cell);
            }
            out.push_str("  ");
        }
        println!("{}", out.trim_end());
    };
    print_line(&header.map(String::from));
    println!(
        "{}",
        "-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1))
    );
    for line in &lines {
        print_line(line);
    }
}

/// One record of `compare.json`.
#[derive(Debug, Serialize)]
struct Record {
    workload: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    pinning: &'static str,
    procpool: Option<f64>,
    python: Option<f64>,
    limit: Option<f64>,
    spread: BTreeMap<&'static str, Option<Summary>>,
    ratio_vs_python: Option<f64>,
    cost_vs_limit: Option<f64>,
    target: String,
    met: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    errors: BTreeMap<&'static str, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    reference: bool,
}

impl Record {
    fn of(row: &Row) -> Record {
        let w = row.case.workload;
        let mut spread = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for (side, column) in SIDES.iter().zip(&row.columns) {
            spread.insert(side.name(), row.summary(*side));
            if let Some(e) = &column.error {
                errors.insert(side.name(), e.clone());
            }
        }
        Record {
            workload: w.name,
            unit: w.unit,
            higher_is_better: w.higher_is_better,
            pinning: row.case.pinning.as_str(),
            procpool: row.median(Side::Procpool),
            python: row.median(Side::Python),
            limit: row.median(Side::Raw),
            spread,
            ratio_vs_python: row.ratio_vs_python(),
            cost_vs_limit: row.cost_vs_limit(),
            target: row.target(),
            met: row.met(),
            errors,
            reference: w.reference,
        }
    }
}

fn write_json(path: &Path, rows: &[Row]) -> Result<(), String> {
    let records: Vec<Record> = rows.iter().map(Record::of).collect();
    let text = serde_json::to_string_pretty(&records).map_err(|e| e.to_string())?;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    }
    std::fs::write(path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))
}

/// The 1-minute load average, from `/proc/loadavg` (`?` if unreadable).
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into())
}

fn main() -> ExitCode {
    // First thing: the spawn limit re-executes this binary and times only its start-up.
    raw::exit_if_spawn_probe();

    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            if !msg.is_empty() {
                eprintln!("compare: {msg}");
            }
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.list {
        for w in WORKLOADS {
            let pins = if w.pinnable {
                "same_core, two_cores"
            } else {
                "none"
            };
            println!("{:<24} {:<13} pinning: {pins}", w.name, w.unit);
        }
        return ExitCode::SUCCESS;
    }

    let started = Instant::now();
    let load_before = load_average();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("python/mp_bench.py");
    let python = if args.python {
        match Python::find(&script) {
            Ok(py) => Some(py),
            Err(e) => {
                eprintln!("notice: Python column skipped ({e}); it is null in the JSON");
                None
            }
        }
    } else {
        None
    };

    let selected: Vec<&'static Workload> = match &args.only {
        Some(only) => WORKLOADS.iter().filter(|w| only.contains(w)).collect(),
        None => WORKLOADS.iter().collect(),
    };
    let mut cases = Vec::new();
    for w in selected {
        for case in Case::of(w) {
            if raw::can_pin(case.pinning) {
                cases.push(case);
            } else {
                eprintln!("notice: {case} skipped: this machine cannot pin to those CPUs");
            }
        }
    }

    eprintln!(
        "compare: {} rows x {} reps, {} run; python: {}",
        cases.len(),
        args.reps,
        if args.quick { "quick" } else { "full" },
        python.as_ref().map_or("none", Python::version),
    );
    let mut rows = Vec::new();
    for case in cases {
        let t0 = Instant::now();
        let row = measure(case, &args, python.as_ref());
        let cells: Vec<String> = SIDES
            .iter()
            .map(|&s| format!("{} {}", s.name(), fmt_cell(row.summary(s).as_ref())))
            .collect();
        eprintln!(
            "  {case:<34} {}  ({:.1} s)",
            cells.join("  "),
            t0.elapsed().as_secs_f64()
        );
        rows.push(row);
    }

    println!();
    print_table(&rows);
    println!();
    println!(
        "Medians of {} repetitions, ±: half the min..max range. MB = 10^6 bytes. \
         'pp vs py': >1 means procpool is better; 'pp cost/lim': procpool's cost in units of the \
         limit's (1 = at the limit).",
        args.reps
    );
    println!(
        "Pinning: [same_core] = both processes on CPU 0; [two_cores] = the measuring process \
         on CPU 0, its peer on CPU 1; unmarked rows are not pinned."
    );
    println!(
        "Python: {}.",
        python.as_ref().map_or("not run".into(), |p| format!(
            "{} multiprocessing, fork context (start_join_* use their own method)",
            p.version()
        ))
    );
    println!(
        "Load average (1 min) before / after: {} / {} on {} CPUs: other load makes the figures \
         noisier, the cross-core and fork ones first.",
        load_before,
        load_average(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if rows.iter().all(|r| r.columns[2].not_applicable) {
        println!("procpool: not wired in yet (benches/src/procpool_side.rs returns None).");
    }
    println!("Limits:");
    let mut seen = Vec::new();
    for row in &rows {
        let w = row.case.workload;
        if let (Some(what), false) = (w.limit, seen.contains(&w.name)) {
            seen.push(w.name);
            println!("  {:<22} {what}", w.name);
        }
    }

    if let Err(e) = write_json(&args.json, &rows) {
        eprintln!("compare: cannot write the JSON: {e}");
        return ExitCode::FAILURE;
    }
    println!(
        "Wrote {} ({:.0} s in all).",
        args.json.display(),
        started.elapsed().as_secs_f64()
    );
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;
    use benches::workloads::Pinning;

    #[test]
    fn values_are_formatted_compactly() {
        assert_eq!(fmt_value(7_585_895.0), "7.59M");
        assert_eq!(fmt_value(202_543.0), "203k");
        assert_eq!(fmt_value(38.91), "38.9");
        assert_eq!(fmt_value(1979.6), "1980");
        assert_eq!(fmt_value(1.83), "1.83");
    }

    #[test]
    fn ratios_are_oriented() {
        let case = Case {
            workload: workloads::find("pipe_rtt").unwrap(),
            pinning: Pinning::None,
        };
        let col = |v: f64| Column {
            values: vec![v],
            ..Default::default()
        };
        // Lower is better: procpool 10 us, python 40 us, limit 8 us.
        let row = Row {
            case,
            columns: [col(8.0), col(40.0), col(10.0)],
        };
        assert_eq!(row.ratio_vs_python(), Some(4.0));
        assert_eq!(row.cost_vs_limit(), Some(1.25));
        assert_eq!(row.met(), Some(true));
    }
}
