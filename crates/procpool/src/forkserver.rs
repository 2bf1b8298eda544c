//! The fork-server start method.
//!
//! On first use a process spawns a server (the same re-execution as the spawn method, with
//! `__PROCPOOL_FORKSERVER=<fd>:<token>` naming its end of a `SOCK_SEQPACKET` socket pair). The
//! server is single-threaded and small, so forking it is cheap and safe whatever the client's
//! threads are doing. For each request (a child's spec inline, or in a memfd if large, plus the
//! arguments' descriptor table, via `SCM_RIGHTS`) it forks; the child runs the spec like a
//! spawned child; the server replies with the pid, a pidfd and the read end of a status pipe.
//! It watches its children's pidfds, reaps each as it ends and writes the exit status into its
//! pipe (the client's sentinel), then closes it.
//!
//! Lifetime: the server is spawned from a thread that lives as long as the client, with
//! `PR_SET_PDEATHSIG(SIGKILL)`, so it dies with the client; its daemon children have
//! `PDEATHSIG` set on the server, so they die with it. If the control socket reaches end of
//! file, the server kills its daemon children, waits for the others and exits.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::Signal;
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};

use crate::child::{ChildShared, adopt_orphan};
use crate::error::StartError;
use crate::identity::{ChildSetup, state};
use crate::launcher::on_long_lived_thread;
use crate::spawn::encode_wire;
use crate::sys::{self, ServerSocket};
use crate::target::Task;

/// Specs up to this size travel inside the request message; larger ones in a memfd.
pub(crate) const INLINE_MAX: usize = 32 * 1024;

/// A client's connection to its fork server.
pub(crate) struct ServerConn {
    sock: OwnedFd,
    server: Arc<ChildShared>,
}

impl ServerConn {
    fn launch() -> io::Result<ServerConn> {
        let (ours, theirs) = socketpair(
            AddressFamily::Unix,
            SockType::SeqPacket,
            None,
            SockFlag::SOCK_CLOEXEC,
        )?;
        let token = sys::random_token();
        // The server checks this first message against the token in its environment.
        sys::send_fds(ours.as_fd(), &token.to_le_bytes(), &[])?;
        let (pid, pidfd) = on_long_lived_thread(move || {
            sys::spawn_self(sys::SERVER_ENV, token, theirs, Vec::new(), true)
        })??;
        Ok(ServerConn {
            sock: ours,
            server: ChildShared::own(pid, pidfd, "ForkServer".into(), true),
        })
    }

    fn request(
        &self,
        wire: &[u8],
        table: &[OwnedFd],
        daemon: bool,
    ) -> Result<(u32, OwnedFd, OwnedFd), RequestError> {
        let mut flags = if daemon { sys::REQ_DAEMON } else { 0 };
        let mut fds: Vec<BorrowedFd<'_>> = table.iter().map(|f| f.as_fd()).collect();
        let memfd;
        let mut data = Vec::with_capacity(1 + wire.len().min(INLINE_MAX));
        if wire.len() <= INLINE_MAX {
            data.push(flags);
            data.extend_from_slice(wire);
        } else {
            memfd = sys::bytes_memfd(wire).map_err(RequestError::Failed)?;
            flags |= sys::REQ_IN_MEMFD;
            data.push(flags);
            fds.push(memfd.as_fd());
        }
        sys::send_fds(self.sock.as_fd(), &data, &fds).map_err(RequestError::NotSent)?;
        let mut buf = [0u8; 8];
        let (n, mut got) =
            sys::recv_fds(self.sock.as_fd(), &mut buf, 2).map_err(RequestError::Failed)?;
        if n == 0 {
            // The server died after taking the request: the child may have started, so the
            // request must not be repeated.
            return Err(RequestError::Failed(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the fork server died while starting the child",
            )));
        }
        let pid = i32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if pid < 0 {
            return Err(RequestError::Failed(io::Error::from_raw_os_error(-pid)));
        }
        if n != 4 || got.len() != 2 {
            return Err(RequestError::Failed(io::Error::other(
                "malformed reply from the fork server",
            )));
        }
        let pidfd = got.pop().expect("two descriptors");
        let status = got.pop().expect("two descriptors");
        Ok((pid as u32, status, pidfd))
    }

    fn shut_down(self) {
        drop(self.sock); // end of file: the server ends its children and exits
        adopt_orphan(self.server);
    }
}

/// Why a request failed: before the server got it (safe to retry on a new server), or after.
enum RequestError {
    NotSent(io::Error),
    Failed(io::Error),
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::UnexpectedEof | io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset
    ) || e.raw_os_error() == Some(libc::ENOTCONN)
}

/// Starts a child through this process's fork server (starting the server if needed).
pub(crate) fn start(setup: ChildSetup, task: &dyn Task) -> Result<Arc<ChildShared>, StartError> {
    let payload = task.encode()?;
    if payload.body.fds.len() > sys::MAX_FDS_PER_MESSAGE {
        return Err(StartError::Os(io::Error::other(
            "too many descriptors in the arguments for the fork server",
        )));
    }
    let name = setup.name.clone();
    let daemon = setup.daemon;
    let wire = encode_wire(setup, &payload)?;
    let mut conn = state().forkserver.lock();
    let mut retried = false;
    loop {
        if conn.is_none() {
            *conn = Some(ServerConn::launch()?);
        }
        let c = conn.as_ref().expect("connected above");
        match c.request(&wire, &payload.body.fds, daemon) {
            Ok((pid, status, pidfd)) => {
                return Ok(ChildShared::via_server(pid, pidfd, status, name, daemon));
            }
            Err(RequestError::NotSent(e)) if is_disconnect(&e) && !retried => {
                // The server had died before this request: start a new one, try once more.
                retried = true;
                if let Some(old) = conn.take() {
                    old.shut_down();
                }
            }
            Err(RequestError::NotSent(e)) => return Err(StartError::Os(e)),
            Err(RequestError::Failed(e)) => {
                if e.kind() == io::ErrorKind::UnexpectedEof {
                    if let Some(old) = conn.take() {
                        old.shut_down();
                    }
                }
                return Err(StartError::Os(e));
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// the server

struct Kid {
    pidfd: OwnedFd,
    status: OwnedFd,
    daemon: bool,
}

fn report(kid: &Kid, code: i32) {
    // The client may be gone (EPIPE, SIGPIPE is ignored): nothing to do then.
    let _ = nix::unistd::write(&kid.status, &code.to_le_bytes());
}

fn reply(sock: &ServerSocket, pid: i32, fds: &[BorrowedFd<'_>]) -> io::Result<()> {
    let mut data = [0u8; 4];
    data.copy_from_slice(&pid.to_le_bytes());
    sys::send_fds(sock.as_fd(), &data, fds)
}

/// The fork server's main loop (runs in the re-executed binary, before `main`).
pub(crate) fn serve(sock: ServerSocket) -> ! {
    sys::ignore_sigpipe();
    crate::runtime::install_panic_hook(); // inherited by every child
    let me = std::process::id();
    let mut sock = Some(sock);
    let mut kids: Vec<Kid> = Vec::new();
    loop {
        let ready: Option<Vec<bool>> = {
            let s = sock.as_ref().expect("the socket lives until shutdown");
            let mut pfds = vec![PollFd::new(s.as_fd(), PollFlags::POLLIN)];
            pfds.extend(
                kids.iter()
                    .map(|k| PollFd::new(k.pidfd.as_fd(), PollFlags::POLLIN)),
            );
            match poll(&mut pfds, PollTimeout::NONE) {
                Ok(_) => Some(
                    pfds.iter()
                        .map(|p| p.revents().is_some_and(|r| !r.is_empty()))
                        .collect(),
                ),
                Err(nix::errno::Errno::EINTR) => continue,
                Err(_) => None,
            }
        };
        let Some(ready) = ready else { shutdown(kids) };
        let mut i = 0;
        kids.retain(|k| {
            i += 1;
            if !ready[i] {
                return true;
            }
            match sys::waitid_pidfd(k.pidfd.as_fd(), false) {
                Ok(Some(code)) => {
                    report(k, code);
                    false
                }
                Ok(None) => true,
                Err(_) => {
                    report(k, crate::child::UNKNOWN_EXIT);
                    false
                }
            }
        });
        if !ready[0] {
            continue;
        }
        let s = sock.as_ref().expect("the socket lives until shutdown");
        let (daemon, spec) = match s.recv_request() {
            Ok(Some(r)) => r,
            Ok(None) => shutdown(kids),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                // A malformed request: refuse it, keep serving.
                let _ = reply(s, -libc::EINVAL, &[]);
                continue;
            }
        };
        let forked = sys::fork_run(|| {
            // The child keeps nothing of the server's.
            drop(sock.take());
            kids.clear();
            crate::spawn::run_spec(spec, Some(me))
        });
        let s = sock.as_ref().expect("the socket lives until shutdown");
        let pid = match forked {
            Ok(pid) => pid,
            Err(e) => {
                let _ = reply(s, -e.raw_os_error().unwrap_or(libc::EAGAIN), &[]);
                continue;
            }
        };
        // The child is not reaped before we open the pidfd, so this cannot name another process.
        let opened = sys::pidfd_open(pid).and_then(|pidfd| {
            let (r, w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
            Ok((pidfd, r, w))
        });
        match opened {
            Ok((pidfd, r, w)) => {
                let _ = reply(s, pid as i32, &[r.as_fd(), pidfd.as_fd()]);
                kids.push(Kid {
                    pidfd,
                    status: w,
                    daemon,
                });
            }
            Err(e) => {
                // Cannot track it: do not leave an untracked child running.
                let _ =
                    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), Signal::SIGKILL);
                let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid as i32), None);
                let _ = reply(s, -e.raw_os_error().unwrap_or(libc::EMFILE), &[]);
            }
        }
    }
}

/// The client is gone: kill daemon children, wait for the others, exit.
fn shutdown(kids: Vec<Kid>) -> ! {
    for k in kids.iter().filter(|k| k.daemon) {
        let _ = sys::pidfd_send_signal(k.pidfd.as_fd(), Signal::SIGKILL);
    }
    for k in &kids {
        if let Ok(Some(code)) = sys::waitid_pidfd(k.pidfd.as_fd(), true) {
            report(k, code);
        }
    }
    sys::exit_now(0)
}
