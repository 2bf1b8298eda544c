//! The single module of procpool that uses `unsafe`.
//!
//! It holds: `fork` and `_exit`; pidfds (`pidfd_open`, `pidfd_send_signal`, `waitid(P_PIDFD)`);
//! `atexit`/`pthread_atfork` registration; a cell of leaked, never-freed per-process state; the
//! ELF constructor that recognises a spawned child (or a fork server) before `main` runs; the
//! launcher that re-executes the current binary with a `pre_exec` hook; descriptor passing with
//! `SCM_RIGHTS`; and [`Trusted`], the only way to decode a child's spec (which names code
//! addresses) from bytes that our parent wrote to a private descriptor.
//!
//! Each `unsafe` block covers one operation and carries a `// SAFETY:` comment.
#![allow(unsafe_code)]
#![allow(clippy::disallowed_methods)] // fork and raw syscalls live here

use std::convert::Infallible;
use std::ffi::{c_char, c_int, c_uint};
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::{self, IoSlice, IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::fs::FileExt;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::atomic::{AtomicPtr, Ordering};

use ipc_core::codec::DecodeError;
use nix::errno::Errno;
use nix::fcntl::{FcntlArg, fcntl};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::signal::{SigHandler, Signal};
use nix::sys::socket::{ControlMessage, ControlMessageOwned, MsgFlags, recvmsg, sendmsg};
use serde::de::DeserializeOwned;

// ---------------------------------------------------------------------------------------------
// fork and exit

/// What [`fork`] returned in this process.
#[derive(Debug)]
pub(crate) enum Forked {
    /// This is the new child process.
    Child,
    /// This is the parent; the child has this pid.
    Parent(u32),
}

/// Forks the calling process.
///
/// # Safety
/// The child is a copy of the whole address space but has a single thread: a copy of the
/// calling one. Locks that other threads of the parent held at the moment of the fork stay
/// locked forever in the child, and data they were updating may be half written. Strictly,
/// the child may therefore call only async-signal-safe functions until it `exec`s or exits.
/// The caller must ensure that the child never returns into the parent's stack frames above the
/// call (it must end with [`exit_now`]) and either runs only async-signal-safe code or accepts
/// the caveat above. procpool accepts it for the `Fork` start method, as Python does: the child
/// runs procpool's child runtime and then the user's target (glibc's `fork` keeps `malloc`
/// usable in the child). This is why a multi-threaded parent should use `ForkServer` or
/// `Spawn`.
pub(crate) unsafe fn fork() -> io::Result<Forked> {
    // SAFETY: forwarded to our caller, who accepted the contract above.
    match unsafe { nix::unistd::fork() } {
        Ok(nix::unistd::ForkResult::Child) => Ok(Forked::Child),
        Ok(nix::unistd::ForkResult::Parent { child }) => Ok(Forked::Parent(child.as_raw() as u32)),
        Err(e) => Err(e.into()),
    }
}

/// Forks; the child runs `child` (which must not return normally) and the parent gets the
/// child's pid. A panic escaping `child` ends the child with exit code 70; it never unwinds
/// into the parent's copied stack.
pub(crate) fn fork_run(child: impl FnOnce() -> Infallible) -> io::Result<u32> {
    // SAFETY: the child runs only `child`, which in procpool is the child runtime (it installs
    // fresh per-process state and runs the user's target: the documented caveat of the Fork
    // start method, the same as Python's) and never returns: it ends with `exit_now`, and a
    // panic is caught here and also ends with `exit_now`.
    match unsafe { fork() }? {
        Forked::Child => {
            let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(child));
            exit_now(70)
        }
        Forked::Parent(pid) => Ok(pid),
    }
}

/// Ends the process at once with `code`: no atexit handlers, no destructors, no stdio flush.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: `_exit` has no preconditions and never returns.
    unsafe { libc::_exit(code) }
}

/// Ignores `SIGPIPE` (a write to a closed pipe then fails with `EPIPE` instead of killing us).
pub(crate) fn ignore_sigpipe() {
    // SAFETY: SIG_IGN installs no handler code, so no async-signal-safety rule is involved.
    let _ = unsafe { nix::sys::signal::signal(Signal::SIGPIPE, SigHandler::SigIgn) };
}

/// Whether `SIGPIPE` is ignored in this process (a query; changes nothing).
pub(crate) fn sigpipe_ignored() -> bool {
    // SAFETY: sigaction is plain old data for which all-zero is a valid value.
    let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: a null new action only queries the current one into `old`, a valid, writable
    // sigaction.
    let r = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), &mut old) };
    r == 0 && old.sa_sigaction == libc::SIG_IGN
}

/// Registers `f` to run when the process exits normally (`exit`, return from `main`).
pub(crate) fn register_atexit(f: extern "C" fn()) -> io::Result<()> {
    // SAFETY: `f` is a plain `extern "C" fn()` with static lifetime.
    let r = unsafe { libc::atexit(f) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::other("atexit registration failed"))
    }
}

/// Registers `f` to run in the child after every `fork(3)`. `f` must be async-signal-safe.
pub(crate) fn register_atfork_child(f: extern "C" fn()) {
    // SAFETY: `f` is a static function; the caller passes one that only does atomic stores.
    let r = unsafe { libc::pthread_atfork(None, None, Some(f)) };
    debug_assert_eq!(r, 0, "pthread_atfork failed");
}

// ---------------------------------------------------------------------------------------------
// pidfds

/// Opens a pidfd (close-on-exec) for process `pid`.
pub(crate) fn pidfd_open(pid: u32) -> io::Result<OwnedFd> {
    let pid =
        libc::pid_t::try_from(pid).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: pidfd_open takes a pid and flags by value and returns a new descriptor or -1.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0 as c_uint) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just installed descriptor `r` in this process; nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(r as RawFd) })
}

/// Sends `sig` to the process behind `pidfd` (no pid-reuse race).
pub(crate) fn pidfd_send_signal(pidfd: BorrowedFd<'_>, sig: Signal) -> io::Result<()> {
    // SAFETY: the arguments are a live descriptor, a signal number, a null siginfo pointer
    // (allowed: the kernel then fills in a default one) and zero flags.
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig as c_int,
            std::ptr::null::<libc::siginfo_t>(),
            0 as c_uint,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Reaps the child behind `pidfd` if it has ended (or waits for it if `block`).
///
/// Returns `Ok(None)` while it runs, else its exit status, or −N for death by signal N.
pub(crate) fn waitid_pidfd(pidfd: BorrowedFd<'_>, block: bool) -> io::Result<Option<i32>> {
    let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
    loop {
        // SAFETY: siginfo_t is plain old data for which all-zero is a valid value.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: `info` is a valid, writable siginfo_t; the descriptor is live.
        let r = unsafe {
            libc::waitid(
                libc::P_PIDFD,
                pidfd.as_raw_fd() as libc::id_t,
                &mut info,
                flags,
            )
        };
        if r < 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return Err(e);
        }
        // SAFETY: waitid filled `info` for a SIGCHLD-style event (or left it zeroed when
        // WNOHANG found nothing), so the child-status union members are the active ones.
        let (pid, status) = unsafe { (info.si_pid(), info.si_status()) };
        if pid == 0 {
            return Ok(None);
        }
        return Ok(match info.si_code {
            libc::CLD_EXITED => Some(status),
            libc::CLD_KILLED | libc::CLD_DUMPED => Some(-status),
            _ => None,
        });
    }
}

// ---------------------------------------------------------------------------------------------
// leaked per-process state

/// A cell holding a `&'static T` that can be replaced (the old value is leaked, never freed)
/// and cleared from an atfork handler. Used for procpool's per-process state, which a forked
/// child must replace without touching locks that the parent's other threads may have held.
#[derive(Debug)]
pub(crate) struct LeakedCell<T: 'static>(AtomicPtr<T>);

impl<T: Sync + 'static> LeakedCell<T> {
    /// An empty cell.
    pub(crate) const fn new() -> Self {
        LeakedCell(AtomicPtr::new(std::ptr::null_mut()))
    }

    /// The current value, if any.
    pub(crate) fn get(&self) -> Option<&'static T> {
        let p = self.0.load(Ordering::Acquire);
        // SAFETY: only pointers obtained from `Box::into_raw`/`Box::leak` and published below
        // are ever stored, and they are never freed, so a non-null pointer is valid for
        // 'static; `T: Sync`, so sharing `&T` between threads is fine.
        unsafe { p.as_ref() }
    }

    /// The current value, or `make()` installed if the cell is empty (one winner if threads
    /// race).
    pub(crate) fn get_or_init(&self, make: impl FnOnce() -> T) -> &'static T {
        if let Some(v) = self.get() {
            return v;
        }
        let fresh = Box::into_raw(Box::new(make()));
        match self.0.compare_exchange(
            std::ptr::null_mut(),
            fresh,
            Ordering::AcqRel,
            Ordering::Acquire,
        ) {
            // SAFETY: `fresh` came from Box::into_raw just above and is now published; it is
            // never freed.
            Ok(_) => unsafe { &*fresh },
            Err(current) => {
                // SAFETY: `fresh` was never published, so we still own it uniquely.
                drop(unsafe { Box::from_raw(fresh) });
                // SAFETY: `current` is a published, never-freed pointer (see `get`).
                unsafe { &*current }
            }
        }
    }

    /// Replaces the value (the previous one is leaked).
    pub(crate) fn set_boxed(&self, value: Box<T>) -> &'static T {
        let v: &'static T = Box::leak(value);
        self.0.store(v as *const T as *mut T, Ordering::Release);
        v
    }

    /// Empties the cell (async-signal-safe: one atomic store; the old value is leaked).
    pub(crate) fn clear(&self) {
        self.0.store(std::ptr::null_mut(), Ordering::Release);
    }
}

// ---------------------------------------------------------------------------------------------
// trusted specs

/// Bytes (and the descriptor table they refer to) that procpool's launcher in our parent wrote
/// to a private descriptor for this process: the only input from which procpool decodes code
/// references. Created only in this module, from a token-checked spawn spec or from the fork
/// server's control socket.
#[derive(Debug)]
pub(crate) struct Trusted {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl Trusted {
    /// Decodes a header `H` followed by a body, keeping the descriptor table for the body.
    pub(crate) fn open<H: DeserializeOwned>(self) -> Result<(H, Trusted), DecodeError> {
        // SAFETY: `self.bytes` was produced by `encode_with_fds` in our parent, a process
        // running this same binary (the header's identity check is done by the caller before
        // any code reference is called), and reached us over a private descriptor; the header
        // carries no descriptors, so an empty table is the right one.
        let (h, body): (H, Vec<u8>) =
            unsafe { ipc_core::transfer::decode_with_fds(&self.bytes, Vec::new()) }?;
        Ok((
            h,
            Trusted {
                bytes: body,
                fds: self.fds,
            },
        ))
    }

    /// Decodes the whole value with its descriptor table.
    pub(crate) fn decode<T: DeserializeOwned>(self) -> Result<T, DecodeError> {
        // SAFETY: as in `open`: the bytes and the table came from our parent, which runs this
        // binary, over a private descriptor.
        unsafe { ipc_core::transfer::decode_with_fds(&self.bytes, self.fds) }
    }
}

// ---------------------------------------------------------------------------------------------
// re-execution: spawn children and the fork server

/// Environment variable naming a spawned child's spec: `<fd>:<token>`.
pub(crate) const SPAWN_ENV: &str = "__PROCPOOL_SPAWN";
/// Environment variable naming a fork server's control socket: `<fd>:<token>`.
pub(crate) const SERVER_ENV: &str = "__PROCPOOL_FORKSERVER";
const MAGIC: [u8; 8] = *b"PROCPOOL";

type InitFn = extern "C" fn(c_int, *const *const c_char, *const *const c_char);

/// The ELF constructor: runs before `main` (and before the test harness under `cargo test`).
/// In a process started by procpool's spawn launcher it runs the child and exits; in a fork
/// server it serves; anywhere else it returns at once.
#[used]
#[unsafe(link_section = ".init_array")]
pub(crate) static CTOR: InitFn = constructor;

extern "C" fn constructor(_argc: c_int, _argv: *const *const c_char, _envp: *const *const c_char) {
    // Never unwind out of an `extern "C"` function.
    let r = std::panic::catch_unwind(|| crate::spawn::on_startup(true));
    if r.is_err() {
        exit_now(70);
    }
}

/// What this process was started for, according to its environment.
#[derive(Debug)]
pub(crate) enum Role {
    /// A child started by the Spawn method: its spec.
    Spawned(Trusted),
    /// A fork server: its control socket.
    ForkServer(ServerSocket),
}

/// Reads the role variables. From the constructor (`remove` set) they are also removed from
/// the environment so that the user's own child programs do not inherit them; they carry a
/// random token anyway, so a stale copy is ignored.
pub(crate) fn take_role(remove: bool) -> Option<Role> {
    let spawn = std::env::var_os(SPAWN_ENV);
    let server = std::env::var_os(SERVER_ENV);
    if spawn.is_none() && server.is_none() {
        return None;
    }
    if remove {
        // SAFETY: constructors run before `main`, on the process's only thread, so nothing
        // reads the environment concurrently.
        unsafe {
            std::env::remove_var(SPAWN_ENV);
            std::env::remove_var(SERVER_ENV);
        }
    }
    if let Some((fd, token)) = spawn.as_deref().and_then(parse_role) {
        match read_spawn_spec(fd, token) {
            Ok(Some(t)) => return Some(Role::Spawned(t)),
            Ok(None) => {}
            Err(e) => {
                let _ = writeln!(io::stderr(), "procpool: cannot read the spawn spec: {e}");
                exit_now(1);
            }
        }
    }
    if let Some((fd, token)) = server.as_deref().and_then(parse_role) {
        if let Some(s) = open_server_socket(fd, token) {
            return Some(Role::ForkServer(s));
        }
    }
    None
}

fn parse_role(v: &std::ffi::OsStr) -> Option<(RawFd, u64)> {
    let v = v.to_str()?;
    let (fd, token) = v.split_once(':')?;
    Some((fd.parse().ok()?, u64::from_str_radix(token, 16).ok()?))
}

/// Whether `raw` is an open descriptor of this process.
fn is_open(raw: RawFd) -> bool {
    if raw < 0 {
        return false;
    }
    // SAFETY: F_GETFD only inspects the descriptor table; the borrow does not outlive the
    // call and nothing is closed through it.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    fcntl(fd, FcntlArg::F_GETFD).is_ok()
}

fn read_spawn_spec(raw: RawFd, token: u64) -> io::Result<Option<Trusted>> {
    if !is_open(raw) {
        return Ok(None);
    }
    // SAFETY: the descriptor is open (checked above) and only borrowed for these reads.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let file = File::from(fd.try_clone_to_owned()?);
    let len = file.metadata()?.len();
    let mut head = [0u8; 16];
    if len < 16 || file.read_exact_at(&mut head, 0).is_err() {
        return Ok(None);
    }
    if head[..8] != MAGIC || head[8..] != token.to_le_bytes() {
        return Ok(None); // not ours: a stale variable inherited by an unrelated program
    }
    // SAFETY: the descriptor is the spec memfd that our parent made inheritable for us and
    // named (with the matching token) in our environment; nothing else in this process owns it.
    drop(unsafe { OwnedFd::from_raw_fd(raw) });
    let mut rest = vec![0u8; (len - 16) as usize];
    file.read_exact_at(&mut rest, 16)?;
    drop(file);
    let (raw_fds, wire): (Vec<i32>, Vec<u8>) =
        ipc_core::codec::decode(&rest).map_err(io::Error::other)?;
    let mut sorted = raw_fds.clone();
    sorted.sort_unstable();
    sorted.dedup();
    if sorted.len() != raw_fds.len() || raw_fds.iter().any(|&f| !is_open(f)) {
        return Err(io::Error::other("descriptor table not inherited"));
    }
    let fds = raw_fds
        .into_iter()
        // SAFETY: each number names a distinct open descriptor (checked above) that our parent
        // made inheritable for this child and listed in the token-checked spec; nothing else in
        // this process knows or owns it.
        .map(|f| unsafe { OwnedFd::from_raw_fd(f) })
        .collect();
    Ok(Some(Trusted { bytes: wire, fds }))
}

/// A random 64-bit token (not cryptographic: it tells our own descriptors from stale ones).
pub(crate) fn random_token() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish()
}

/// Re-executes the current binary (`/proc/self/exe`) with `role_env=<fd>:<token>` naming
/// `role_fd`, keeping `role_fd` and `table` open across `exec`. With `pdeathsig` the child
/// gets `SIGKILL` when the calling thread exits. Returns the child's pid and a pidfd; the
/// child is not reaped by anything but that pidfd.
pub(crate) fn spawn_self(
    role_env: &str,
    token: u64,
    role_fd: OwnedFd,
    table: Vec<OwnedFd>,
    pdeathsig: bool,
) -> io::Result<(u32, OwnedFd)> {
    // Keep the constructor in the link: this is the code path that relies on it.
    std::hint::black_box(&CTOR);
    let mut cmd = Command::new("/proc/self/exe");
    if let Some(arg0) = std::env::args_os().next() {
        cmd.arg0(arg0);
    }
    cmd.env(role_env, format!("{}:{token:016x}", role_fd.as_raw_fd()));
    let parent = std::process::id();
    let mut keep = table;
    keep.push(role_fd);
    let hook = move || -> io::Result<()> {
        ipc_core::transfer::make_inheritable(&keep)?;
        if pdeathsig {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            if nix::unistd::getppid().as_raw() as u32 != parent {
                return Err(io::Error::from_raw_os_error(libc::ESRCH));
            }
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before `exec`. It calls only fcntl, prctl and
    // getppid (async-signal-safe), builds errors from errno values (no allocation), and
    // touches no lock.
    unsafe {
        cmd.pre_exec(hook);
    }
    let mut child = cmd.spawn()?;
    drop(cmd); // closes the parent's copies of the descriptors handed over
    let pid = child.id();
    match pidfd_open(pid) {
        Ok(pidfd) => Ok((pid, pidfd)),
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            Err(e)
        }
    }
}

/// Writes a spawn spec (`MAGIC`, token, then the raw descriptor numbers and the wire bytes)
/// into a new memfd.
pub(crate) fn spawn_spec_memfd(token: u64, table: &[OwnedFd], wire: &[u8]) -> io::Result<OwnedFd> {
    let raw: Vec<i32> = table.iter().map(|f| f.as_raw_fd()).collect();
    let body = ipc_core::codec::encode(&(raw, wire)).map_err(io::Error::other)?;
    let fd = memfd_create(c"procpool-spawn", MFdFlags::MFD_CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(&MAGIC)?;
    file.write_all(&token.to_le_bytes())?;
    file.write_all(&body)?;
    Ok(OwnedFd::from(file))
}

/// A memfd holding `bytes` (for fork-server requests too large to send inline).
pub(crate) fn bytes_memfd(bytes: &[u8]) -> io::Result<OwnedFd> {
    let fd = memfd_create(c"procpool-spec", MFdFlags::MFD_CLOEXEC)?;
    let mut file = File::from(fd);
    file.write_all(bytes)?;
    Ok(OwnedFd::from(file))
}

fn read_memfd(fd: OwnedFd) -> io::Result<Vec<u8>> {
    let file = File::from(fd);
    let len = file.metadata()?.len();
    let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
    if len > ipc_core::codec::MAX_MESSAGE_LEN {
        return Err(io::ErrorKind::InvalidData.into());
    }
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

// ---------------------------------------------------------------------------------------------
// descriptor passing

/// The most descriptors one fork-server message carries (the kernel's SCM_MAX_FD is 253).
pub(crate) const MAX_FDS_PER_MESSAGE: usize = 250;

/// Sends `data` and `fds` in one message on a Unix packet socket.
pub(crate) fn send_fds(
    sock: BorrowedFd<'_>,
    data: &[u8],
    fds: &[BorrowedFd<'_>],
) -> io::Result<()> {
    let raw: Vec<RawFd> = fds.iter().map(|f| f.as_raw_fd()).collect();
    let iov = [IoSlice::new(data)];
    let cmsg = [ControlMessage::ScmRights(&raw)];
    let cmsgs: &[ControlMessage<'_>] = if raw.is_empty() { &[] } else { &cmsg };
    loop {
        match sendmsg::<()>(sock.as_raw_fd(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
            Ok(n) if n == data.len() => return Ok(()),
            Ok(_) => return Err(io::Error::other("short sendmsg on a packet socket")),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Receives one message and its descriptors (close-on-exec) from a Unix packet socket.
/// `Ok((0, []))` is end of file.
pub(crate) fn recv_fds(
    sock: BorrowedFd<'_>,
    buf: &mut [u8],
    max_fds: usize,
) -> io::Result<(usize, Vec<OwnedFd>)> {
    let mut space = vec![0u8; nix::cmsg_space!(RawFd).len() * max_fds.max(1)];
    loop {
        let mut iov = [IoSliceMut::new(buf)];
        match recvmsg::<()>(
            sock.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        ) {
            Ok(msg) => {
                let mut fds = Vec::new();
                let truncated = msg
                    .flags
                    .intersects(MsgFlags::MSG_CTRUNC | MsgFlags::MSG_TRUNC);
                for c in msg.cmsgs()? {
                    if let ControlMessageOwned::ScmRights(list) = c {
                        for raw in list {
                            // SAFETY: the kernel just installed `raw` in this process as part
                            // of this SCM_RIGHTS message; nothing else refers to it.
                            fds.push(unsafe { OwnedFd::from_raw_fd(raw) });
                        }
                    }
                }
                if truncated {
                    return Err(io::Error::other("message or descriptor list truncated"));
                }
                return Ok((msg.bytes, fds));
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The fork server's end of its control socket, inherited from (and token-checked against)
/// the client that spawned it.
#[derive(Debug)]
pub(crate) struct ServerSocket(OwnedFd);

fn open_server_socket(raw: RawFd, token: u64) -> Option<ServerSocket> {
    if !is_open(raw) {
        return None;
    }
    // SAFETY: the descriptor is open and only borrowed for the checks and the first read.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    let is_socket = nix::sys::stat::fstat(fd)
        .map(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK)
        .unwrap_or(false);
    if !is_socket {
        return None;
    }
    let mut buf = [0u8; 8];
    match recv_fds(fd, &mut buf, 1) {
        Ok((8, fds)) if fds.is_empty() && buf == token.to_le_bytes() => {}
        _ => return None,
    }
    // SAFETY: the descriptor is the control socket our parent made inheritable for us and
    // named, with the token it sent first on it, in our environment; nothing else owns it.
    Some(ServerSocket(unsafe { OwnedFd::from_raw_fd(raw) }))
}

/// Flag bits of the first byte of a fork-server request.
pub(crate) const REQ_IN_MEMFD: u8 = 1;
/// The requested child is a daemon.
pub(crate) const REQ_DAEMON: u8 = 2;

impl ServerSocket {
    /// Receives one request: `Ok(None)` at end of file (the client is gone).
    pub(crate) fn recv_request(&self) -> io::Result<Option<(bool, Trusted)>> {
        let mut buf = vec![0u8; crate::forkserver::INLINE_MAX + 64];
        let (n, mut fds) = recv_fds(self.0.as_fd(), &mut buf, MAX_FDS_PER_MESSAGE + 1)?;
        if n == 0 {
            return Ok(None);
        }
        let flags = buf[0];
        let bytes = if flags & REQ_IN_MEMFD != 0 {
            let memfd = fds
                .pop()
                .ok_or_else(|| io::Error::other("request without its spec"))?;
            read_memfd(memfd)?
        } else {
            buf.truncate(n);
            buf.split_off(1)
        };
        Ok(Some((flags & REQ_DAEMON != 0, Trusted { bytes, fds })))
    }
}

impl AsFd for ServerSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

/// Decodes a value that the pool's parent encoded with `encode_with_fds` (an initializer's
/// arguments), with the descriptors delivered alongside.
pub(crate) fn decode_trusted<T: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<T, DecodeError> {
    // SAFETY: these bytes reach a pool worker only inside its own start arguments, which the
    // launcher delivered from the parent over a private descriptor (they were decoded through
    // `Trusted`); the parent produced them with `encode_with_fds` in this same binary, and
    // `fds` is the table it collected.
    unsafe { ipc_core::transfer::decode_with_fds(bytes, fds) }
}

/// Rebuilds a function pointer from a raw code offset that a pool worker received from the
/// pool that started it.
pub(crate) fn trusted_code<F: ipc_core::code::FnPtr>(raw: i64) -> F {
    // SAFETY: raw offsets reach a worker only over its private task queue (a memfd ring that
    // only the pool's parent process and the worker hold), from the parent running this same
    // binary (the launcher checks the binary's identity for spawned children). Each offset
    // was made by `CodeRef::<F>::new` for exactly this `F`: the pool pairs every function with
    // an entry monomorphised for that function's type, and the entry asks for that type.
    unsafe { ipc_core::code::CodeRef::<F>::from_raw(raw) }.get()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_variables_parse() {
        assert_eq!(
            parse_role(std::ffi::OsStr::new("7:00000000000000ff")),
            Some((7, 255))
        );
        assert_eq!(parse_role(std::ffi::OsStr::new("7")), None);
        assert_eq!(parse_role(std::ffi::OsStr::new("x:1")), None);
    }

    #[test]
    fn stale_spawn_variables_are_ignored() {
        // Not open, and open but without our token: neither is a spawn spec.
        assert!(read_spawn_spec(-1, 1).unwrap().is_none());
        let memfd = bytes_memfd(b"PROCPOOL\x01\x00\x00\x00\x00\x00\x00\x00rest").unwrap();
        assert!(read_spawn_spec(memfd.as_raw_fd(), 2).unwrap().is_none());
        assert!(
            is_open(memfd.as_raw_fd()),
            "a foreign descriptor is left alone"
        );
    }

    #[test]
    fn leaked_cell() {
        static CELL: LeakedCell<u32> = LeakedCell::new();
        assert!(CELL.get().is_none());
        assert_eq!(*CELL.get_or_init(|| 1), 1);
        assert_eq!(*CELL.get_or_init(|| 2), 1);
        CELL.set_boxed(Box::new(3));
        assert_eq!(CELL.get(), Some(&3));
        CELL.clear();
        assert!(CELL.get().is_none());
    }
}
