//! The error type of the harness and of its implementations.

use std::{fmt, io};

/// A measurement that could not be completed: a syscall failed, a peer timed out or died, or an
/// external implementation (Python) misbehaved. It carries a human-readable description only:
/// the harness reports it and moves on to the next implementation.
#[derive(Debug)]
pub struct BenchError {
    message: String,
    source: Option<io::Error>,
}

impl BenchError {
    /// An error described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        BenchError {
            message: message.into(),
            source: None,
        }
    }

    /// An OS error, with `context` saying what was being done.
    pub fn io(context: impl Into<String>, source: io::Error) -> Self {
        BenchError {
            message: context.into(),
            source: Some(source),
        }
    }
}

impl fmt::Display for BenchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.source {
            Some(source) => write!(f, "{}: {source}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for BenchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_ref().map(|e| e as _)
    }
}

impl From<io::Error> for BenchError {
    fn from(source: io::Error) -> Self {
        BenchError {
            message: "I/O error".into(),
            source: Some(source),
        }
    }
}
