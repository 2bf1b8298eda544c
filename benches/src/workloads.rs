//! The workload catalogue of the comparison harness: names, units, targets and pinnings.
//!
//! The names are the ones of the benchmark issue and are shared, verbatim, by the three
//! implementations: [`crate::raw`], the Python script `benches/python/mp_bench.py` and
//! [`crate::procpool_side`]. A [`Case`] is one row of the comparison: a workload under one
//! [`Pinning`]. Cross-process latency on a 2-core VM depends on whether the two processes share a
//! core, so every workload marked [`Workload::pinnable`] is measured twice, once with both
//! processes on CPU 0 and once on CPUs 0 and 1.

use std::fmt;

/// Where the processes of a latency workload run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Pinning {
    /// No pinning: the scheduler places the processes.
    None,
    /// Every process pinned to CPU 0.
    SameCore,
    /// The measuring process (or first worker) on CPU 0, its peer on CPU 1.
    TwoCores,
}

impl Pinning {
    /// The name used in the table and in `compare.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Pinning::None => "none",
            Pinning::SameCore => "same_core",
            Pinning::TwoCores => "two_cores",
        }
    }

    /// The value of `mp_bench.py --pin`.
    pub fn python_flag(self) -> &'static str {
        match self {
            Pinning::None => "none",
            Pinning::SameCore => "same",
            Pinning::TwoCores => "two",
        }
    }

    /// The CPUs of the measuring process and of its peer (`None`: not pinned).
    pub fn cpus(self) -> (Option<usize>, Option<usize>) {
        match self {
            Pinning::None => (None, None),
            Pinning::SameCore => (Some(0), Some(0)),
            Pinning::TwoCores => (Some(0), Some(1)),
        }
    }
}

impl fmt::Display for Pinning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One condition of a workload's target, from the benchmark issue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// procpool at least this many times better than Python (ratio oriented so that >1 is
    /// better: Python's cost ÷ procpool's, or procpool's throughput ÷ Python's).
    BeatsPython(f64),
    /// procpool costs at most this many times the raw limit (procpool's cost ÷ the limit's, or
    /// the limit's throughput ÷ procpool's).
    WithinLimit(f64),
    /// procpool's own value at least this (for a figure that is already a ratio).
    AtLeast(f64),
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::BeatsPython(x) => write!(f, ">={x}x py"),
            Goal::WithinLimit(x) => write!(f, "<={x}x lim"),
            Goal::AtLeast(x) => write!(f, ">={x}"),
        }
    }
}

/// A workload of the benchmark issue.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Workload {
    /// The name, exactly as in the issue.
    pub name: &'static str,
    /// The unit of every value reported for it.
    pub unit: &'static str,
    /// Whether a larger value is better (throughput) or worse (cost, latency).
    pub higher_is_better: bool,
    /// Whether it is measured under [`Pinning::SameCore`] and [`Pinning::TwoCores`] (instead of
    /// once, unpinned).
    pub pinnable: bool,
    /// What the raw limit is for this workload (`None`: no raw equivalent).
    pub limit: Option<&'static str>,
    /// The targets for procpool; all must hold.
    pub goals: &'static [Goal],
    /// A reference figure (raw only), printed for context; not a workload of the issue.
    pub reference: bool,
}

const fn w(
    name: &'static str,
    unit: &'static str,
    higher_is_better: bool,
    pinnable: bool,
    limit: Option<&'static str>,
    goals: &'static [Goal],
) -> Workload {
    Workload {
        name,
        unit,
        higher_is_better,
        pinnable,
        limit,
        goals,
        reference: false,
    }
}

/// Every workload, in table order.
pub static WORKLOADS: &[Workload] = &[
    w(
        "start_join_fork",
        "us/process",
        false,
        false,
        Some("fork + _exit + wait (poll on a pidfd, then waitpid)"),
        &[Goal::WithinLimit(1.5)],
    ),
    w(
        "start_join_spawn",
        "us/process",
        false,
        false,
        Some("posix_spawn of the harness binary, which exits at once + waitpid"),
        &[Goal::BeatsPython(10.0)],
    ),
    w(
        "start_join_forkserver",
        "us/process",
        false,
        false,
        Some("request over a socketpair to a small forked server that forks + reaps the child"),
        &[Goal::BeatsPython(10.0)],
    ),
    w(
        "pool_map_default",
        "tasks/s",
        true,
        false,
        None,
        &[Goal::BeatsPython(5.0)],
    ),
    w(
        "pool_map_chunk1",
        "tasks/s",
        true,
        false,
        None,
        &[Goal::BeatsPython(20.0)],
    ),
    w(
        "apply_async_pipelined",
        "tasks/s",
        true,
        false,
        None,
        &[Goal::BeatsPython(10.0)],
    ),
    w(
        "apply_async_serial",
        "us/roundtrip",
        false,
        true,
        Some(
            "socketpair ping-pong of 16 bytes (a task round trip is at least one message each way)",
        ),
        &[Goal::BeatsPython(5.0)],
    ),
    w(
        "queue_small",
        "items/s",
        true,
        true,
        Some(
            "SPSC ring of 8-byte items in shared memory, published one by one; waits spin, then yield",
        ),
        &[Goal::BeatsPython(20.0)],
    ),
    w(
        "queue_64k",
        "MB/s",
        true,
        true,
        Some("SPSC ring of 64 KiB slots in shared memory (memcpy in, memcpy out)"),
        &[Goal::BeatsPython(3.0)],
    ),
    w(
        "pipe_rtt",
        "us/roundtrip",
        false,
        true,
        Some("socketpair ping-pong of 16 bytes"),
        &[Goal::WithinLimit(1.3), Goal::BeatsPython(1.5)],
    ),
    w(
        "lock_uncontended",
        "ns/op",
        false,
        false,
        Some("CAS lock on an AtomicU32 in shared memory (futex slow path)"),
        &[Goal::WithinLimit(2.0), Goal::BeatsPython(3.0)],
    ),
    w(
        "lock_contended",
        "ns/op",
        false,
        true,
        Some("the same futex lock hammered by 2 forked processes"),
        &[],
    ),
    w(
        "event_wake",
        "us",
        false,
        true,
        Some("FUTEX_WAKE to a process asleep in FUTEX_WAIT, CLOCK_MONOTONIC delta"),
        &[Goal::WithinLimit(1.5)],
    ),
    w("cpu_speedup", "x", true, false, None, &[Goal::AtLeast(1.8)]),
    Workload {
        name: "memcpy_64k",
        unit: "MB/s",
        higher_is_better: true,
        pinnable: false,
        limit: Some("memcpy of a 64 KiB block, in cache (reference for queue_64k)"),
        goals: &[],
        reference: true,
    },
];

/// Looks a workload up by its exact name.
pub fn find(name: &str) -> Option<&'static Workload> {
    WORKLOADS.iter().find(|w| w.name == name)
}

/// One row of the comparison: a workload under one pinning.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Case {
    /// The workload.
    pub workload: &'static Workload,
    /// Where its processes run.
    pub pinning: Pinning,
}

impl Case {
    /// The cases of one workload: both pinnings if it is pinnable, else one unpinned case.
    pub fn of(workload: &'static Workload) -> Vec<Case> {
        if workload.pinnable {
            [Pinning::SameCore, Pinning::TwoCores]
                .into_iter()
                .map(|pinning| Case { workload, pinning })
                .collect()
        } else {
            vec![Case {
                workload,
                pinning: Pinning::None,
            }]
        }
    }
}

impl fmt::Display for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pinning {
            Pinning::None => f.write_str(self.workload.name),
            p => write!(f, "{} [{p}]", self.workload.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_the_issues_are_all_there() {
        let issue = [
            "start_join_fork",
            "start_join_spawn",
            "start_join_forkserver",
            "pool_map_default",
            "pool_map_chunk1",
            "apply_async_pipelined",
            "apply_async_serial",
            "queue_small",
            "queue_64k",
            "pipe_rtt",
            "lock_uncontended",
            "lock_contended",
            "event_wake",
            "cpu_speedup",
        ];
        for name in issue {
            assert!(find(name).is_some_and(|w| !w.reference), "{name} missing");
        }
        let mut names: Vec<_> = WORKLOADS.iter().map(|w| w.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), WORKLOADS.len());
    }

    #[test]
    fn pinnable_workloads_expand_to_two_cases() {
        let pipe = find("pipe_rtt").unwrap();
        let cases = Case::of(pipe);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[0].to_string(), "pipe_rtt [same_core]");
        assert_eq!(
            Case::of(find("cpu_speedup").unwrap())[0].pinning,
            Pinning::None
        );
    }
}
