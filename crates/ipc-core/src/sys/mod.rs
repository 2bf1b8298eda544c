//! The only place in ipc-core that makes raw system calls.
//!
//! One file per facility: [`futex`] (wait/wake on a word in shared memory), [`fd`] (descriptor
//! creation, poll, framed I/O helpers, `SCM_RIGHTS`), [`shm`] (memfd-backed `MAP_SHARED`
//! regions), [`proc`] (cached pid/tid, liveness of other processes) and [`code`] (turning code
//! addresses into offsets that survive address-space randomisation and re-execution).
//!
//! Everything above this module is safe Rust. Each `unsafe` block here covers one operation
//! and carries a `// SAFETY:` comment naming what makes it sound.

#[cfg(not(target_os = "linux"))]
compile_error!("ipc-core needs Linux: futexes, memfd_create and pidfds are Linux facilities");

pub(crate) mod code;
pub(crate) mod fd;
pub(crate) mod futex;
pub(crate) mod proc;
pub(crate) mod shm;
#[cfg(test)]
pub(crate) mod testfork;
pub(crate) mod view;
