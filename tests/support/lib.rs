//! Test support: watchdogs and helpers shared by the integration tests.
