//! File descriptors: creation with close-on-exec set atomically, readiness polling, and
//! whole-buffer reads and writes that retry on `EINTR`.

use std::io::{self, IoSlice};
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use nix::errno::Errno;
use nix::fcntl::{FcntlArg, FdFlag, OFlag, fcntl};
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::socket::{AddressFamily, MsgFlags, SockFlag, SockType, sendmsg, socketpair};

/// Creates a connected pair of stream sockets, both close-on-exec.
pub(crate) fn socketpair_stream() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(socketpair(
        AddressFamily::Unix,
        SockType::Stream,
        None,
        SockFlag::SOCK_CLOEXEC,
    )?)
}

/// Creates a pipe `(read end, write end)`, both close-on-exec.
pub(crate) fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    Ok(nix::unistd::pipe2(OFlag::O_CLOEXEC)?)
}

/// Asks the kernel to grow a pipe's buffer to `size` bytes (best effort: the limit in
/// `/proc/sys/fs/pipe-max-size` may refuse; the pipe works either way).
pub(crate) fn set_pipe_size(fd: BorrowedFd<'_>, size: usize) {
    let size = i32::try_from(size).unwrap_or(i32::MAX);
    let _ = fcntl(fd, FcntlArg::F_SETPIPE_SZ(size));
}

/// Sets or clears `FD_CLOEXEC` on `fd`.
pub(crate) fn set_cloexec(fd: BorrowedFd<'_>, on: bool) -> io::Result<()> {
    let flags = if on {
        FdFlag::FD_CLOEXEC
    } else {
        FdFlag::empty()
    };
    fcntl(fd, FcntlArg::F_SETFD(flags))?;
    Ok(())
}

/// Milliseconds left until `deadline`, rounded up, as a poll timeout.
fn poll_timeout(deadline: Option<Instant>) -> PollTimeout {
    match deadline {
        None => PollTimeout::NONE,
        Some(d) => {
            let left = d.saturating_duration_since(Instant::now());
            // Round up so that a wait never ends before the deadline.
            let ms = left.as_nanos().div_ceil(1_000_000);
            PollTimeout::try_from(ms.min(i32::MAX as u128) as i32).unwrap_or(PollTimeout::MAX)
        }
    }
}

/// Waits until any of `fds` is readable (or hung up / in error), or until `deadline`.
///
/// Returns the indices of the ready descriptors; empty means the deadline passed. `EINTR` is
/// retried with the time that is left.
pub(crate) fn poll_readable(
    fds: &[BorrowedFd<'_>],
    deadline: Option<Instant>,
) -> io::Result<Vec<usize>> {
    loop {
        let mut pfds: Vec<PollFd<'_>> = fds
            .iter()
            .map(|fd| PollFd::new(*fd, PollFlags::POLLIN))
            .collect();
        match poll(&mut pfds, poll_timeout(deadline)) {
            Ok(0) => {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    return Ok(Vec::new());
                }
                continue;
            }
            Ok(_) => {
                let ready = pfds
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| p.revents().is_some_and(|r| !r.is_empty()))
                    .map(|(i, _)| i)
                    .collect();
                return Ok(ready);
            }
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes all of `buf` to `fd`, retrying on `EINTR` and short writes. Uses `send` with
/// `MSG_NOSIGNAL` on sockets so that a closed peer is `EPIPE`, never a `SIGPIPE`.
pub(crate) fn write_all(fd: BorrowedFd<'_>, mut buf: &[u8], is_socket: bool) -> io::Result<()> {
    while !buf.is_empty() {
        let r = if is_socket {
            nix::sys::socket::send(fd.as_raw_fd(), buf, MsgFlags::MSG_NOSIGNAL)
        } else {
            nix::unistd::write(fd, buf)
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Writes two buffers (a header and a body) with as few system calls as possible.
pub(crate) fn write_all_vectored(
    fd: BorrowedFd<'_>,
    head: &[u8],
    body: &[u8],
    is_socket: bool,
) -> io::Result<()> {
    let total = head.len() + body.len();
    let mut done = 0usize;
    while done < total {
        let r = if done < head.len() {
            let iov = [IoSlice::new(&head[done..]), IoSlice::new(body)];
            if is_socket {
                sendmsg::<()>(fd.as_raw_fd(), &iov, &[], MsgFlags::MSG_NOSIGNAL, None)
            } else {
                nix::sys::uio::writev(fd, &iov)
            }
        } else {
            let rest = &body[done - head.len()..];
            if is_socket {
                nix::sys::socket::send(fd.as_raw_fd(), rest, MsgFlags::MSG_NOSIGNAL)
            } else {
                nix::unistd::write(fd, rest)
            }
        };
        match r {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => done += n,
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Reads once into `buf`, retrying on `EINTR`. `Ok(0)` is end of file.
pub(crate) fn read_some(fd: BorrowedFd<'_>, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match nix::unistd::read(fd, buf) {
            Ok(n) => return Ok(n),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Whether `fd` refers to a socket.
pub(crate) fn is_socket(fd: BorrowedFd<'_>) -> bool {
    nix::sys::stat::fstat(fd)
        .map(|st| (st.st_mode & libc::S_IFMT) == libc::S_IFSOCK)
        .unwrap_or(false)
}

/// Shuts down the writing half of a socket.
pub(crate) fn shutdown_write(fd: BorrowedFd<'_>) -> io::Result<()> {
    nix::sys::socket::shutdown(fd.as_raw_fd(), nix::sys::socket::Shutdown::Write)?;
    Ok(())
}
