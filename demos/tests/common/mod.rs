//! What the demo tests share: the captured output of a demo run and the queries on it.
#![allow(dead_code, unreachable_pub)] // each test binary uses a part

use std::process::ExitStatus;

/// What a demo printed.
#[derive(Debug)]
pub struct Output {
    /// How it ended.
    pub status: ExitStatus,
    /// Everything it printed on standard output.
    pub stdout: String,
    /// Everything it printed on standard error.
    pub stderr: String,
}

impl Output {
    /// The lines of standard output.
    pub fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Lines starting with `prefix`.
    pub fn starting(&self, prefix: &str) -> Vec<&str> {
        self.stdout
            .lines()
            .filter(|l| l.starts_with(prefix))
            .collect()
    }

    /// How many lines are exactly `line`.
    pub fn count(&self, line: &str) -> usize {
        self.stdout.lines().filter(|l| *l == line).count()
    }

    /// Whether some line is exactly `line`.
    pub fn has(&self, line: &str) -> bool {
        self.count(line) > 0
    }

    /// The index of the first line that is exactly `line`.
    pub fn position(&self, line: &str) -> Option<usize> {
        self.stdout.lines().position(|l| l == line)
    }

    /// Status, stdout and stderr, for failure messages.
    pub fn dump(&self) -> String {
        format!(
            "{}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}
