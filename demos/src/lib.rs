//! Shared helpers for the tutorial demos.
#![forbid(unsafe_code)]
