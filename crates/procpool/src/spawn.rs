//! The spawn start method: re-execute the current binary, which recognises its role before
//! `main` runs.
//!
//! The parent writes the child's spec (identity, a trampoline `CodeRef`, the encoded target
//! and arguments) into a memfd, clears close-on-exec on it and on the arguments' descriptor
//! table in a `pre_exec` hook, and executes `/proc/self/exe` (always the very file the parent
//! runs, even if it was replaced on disk since) with `__PROCPOOL_SPAWN=<fd>:<token>`. In the
//! child an ELF constructor (`sys::CTOR`, in `.init_array`) reads the variable before `main`
//! and before a test harness starts, checks the token, runs the child exactly like a forked one
//! and exits. [`init`] is the explicit fallback for a program where constructors do not run.
//!
//! The spec starts with the binary's identity (device and inode of the executable, and the
//! anchor offset of a marker function), checked before any code reference is called, so that
//! a mismatch is a clear error instead of a jump to a wrong address.

use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::sync::Arc;
use std::sync::OnceLock;

use ipc_core::code::CodeRef;
use ipc_core::transfer::encode_with_fds;
use serde::{Deserialize, Serialize};

use crate::child::ChildShared;
use crate::error::StartError;
use crate::identity::{ChildSetup, PreparedState};
use crate::launcher::on_long_lived_thread;
use crate::sys::{self, Role, Trusted};
use crate::target::{Payload, Task, Trampoline};

/// What a child decodes first.
#[derive(Serialize, Deserialize)]
pub(crate) struct Header {
    exe: (u64, u64),
    marker: CodeRef<fn() -> u64>,
    pub(crate) setup: ChildSetup,
    trampoline: CodeRef<Trampoline>,
}

fn marker() -> u64 {
    0x5052_4f43_504f_4f4c
}

/// Device and inode of the running executable.
fn exe_id() -> (u64, u64) {
    static ID: OnceLock<(u64, u64)> = OnceLock::new();
    *ID.get_or_init(|| {
        std::fs::metadata("/proc/self/exe")
            .map(|m| (m.dev(), m.ino()))
            .unwrap_or((0, 0))
    })
}

/// Encodes a child's spec: header then the body bytes (the body's descriptors travel apart).
pub(crate) fn encode_wire(setup: ChildSetup, payload: &Payload) -> Result<Vec<u8>, StartError> {
    let header = Header {
        exe: exe_id(),
        marker: CodeRef::new(marker as fn() -> u64),
        setup,
        trampoline: payload.trampoline,
    };
    Ok(encode_with_fds(&(header, &payload.body.bytes))?.bytes)
}

/// Starts a child with the spawn method.
pub(crate) fn start(setup: ChildSetup, task: &dyn Task) -> Result<Arc<ChildShared>, StartError> {
    let payload = task.encode()?;
    let name = setup.name.clone();
    let daemon = setup.daemon;
    let wire = encode_wire(setup, &payload)?;
    let table = payload.body.fds;
    let launch = move || {
        let token = sys::random_token();
        let spec = sys::spawn_spec_memfd(token, &table, &wire)?;
        sys::spawn_self(sys::SPAWN_ENV, token, spec, table, daemon)
    };
    let (pid, pidfd) = if daemon {
        on_long_lived_thread(launch)??
    } else {
        launch()?
    };
    Ok(ChildShared::own(pid, pidfd, name, daemon))
}

/// Called by the constructor before `main` (and by [`init`]): runs the child or the fork
/// server if this process was started as one; otherwise returns.
pub(crate) fn on_startup(from_ctor: bool) {
    match sys::take_role(from_ctor) {
        None => {}
        Some(Role::Spawned(spec)) => run_spec(spec, None),
        Some(Role::ForkServer(sock)) => crate::forkserver::serve(sock),
    }
}

fn fatal(what: &str, detail: &dyn std::fmt::Display) -> ! {
    let _ = writeln!(std::io::stderr(), "procpool: {what}: {detail}");
    sys::exit_now(1)
}

/// Runs a child from its spec (spawn, or a child of the fork server, whose `server_pid` is
/// then its real parent).
pub(crate) fn run_spec(spec: Trusted, server_pid: Option<u32>) -> ! {
    let (header, body): (Header, Trusted) = match spec.open() {
        Ok(x) => x,
        Err(e) => fatal("cannot decode the child's spec", &e),
    };
    if header.exe != exe_id() || header.marker != CodeRef::new(marker as fn() -> u64) {
        fatal(
            "refusing to run a child",
            &"the parent runs a different build of this program",
        );
    }
    let ppid = server_pid.unwrap_or(header.setup.parent_pid);
    let trampoline = header.trampoline;
    crate::runtime::run_child(PreparedState::new(header.setup), ppid, move || {
        (trampoline.get())(body)
    })
}

/// Runs this process as a spawned child (or fork server) if it was started as one, and never
/// returns in that case; does nothing otherwise. Idempotent.
///
/// You normally never call this: procpool recognises a spawned child in an ELF constructor,
/// before `main` runs (and before the test harness under `cargo test`). Call it as the first
/// statement of `main` only on a platform or link setup where `.init_array` constructors of
/// libraries do not run (for instance a custom linker script that drops them).
///
/// ```
/// fn main() {
///     procpool::init();
///     // ... the program
/// }
/// # main();
/// ```
pub fn init() {
    on_startup(false);
}
