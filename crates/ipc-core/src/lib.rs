//! ipc-core
