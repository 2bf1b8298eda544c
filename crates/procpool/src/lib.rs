//! procpool
