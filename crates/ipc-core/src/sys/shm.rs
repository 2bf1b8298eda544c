//! Shared memory: memfd-backed `MAP_SHARED` mappings, and POSIX named segments.
//!
//! An anonymous region is a `memfd_create` file: it has no name in any file system, so
//! nothing can leak into `/dev/shm`; the kernel frees it when the last descriptor is closed
//! and the last mapping is gone. Mappings are made with memmap2's `MmapRaw` over the file,
//! which is `MAP_SHARED` (memmap2's `map_anon` is private and must not be used for
//! anything shared: a child's writes would never reach the parent).

use std::ffi::CString;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use memmap2::{MmapOptions, MmapRaw};
use nix::fcntl::{FallocateFlags, OFlag, fallocate};
use nix::sys::memfd::{MFdFlags, memfd_create};
use nix::sys::stat::Mode;

/// Creates an anonymous memory file of `len` bytes (zero-filled, sparse), close-on-exec.
pub(crate) fn memfd(name: &str, len: usize) -> io::Result<OwnedFd> {
    let cname = CString::new(name).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    let fd = memfd_create(cname.as_c_str(), MFdFlags::MFD_CLOEXEC)?;
    let len = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    nix::unistd::ftruncate(&fd, len)?;
    Ok(fd)
}

/// Maps `len` bytes of `fd` shared and read-write.
pub(crate) fn map_shared(fd: BorrowedFd<'_>, len: usize) -> io::Result<MmapRaw> {
    MmapOptions::new().len(len).map_raw(fd.as_raw_fd())
}

/// The size in bytes of the file behind `fd`.
pub(crate) fn file_len(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let st = nix::sys::stat::fstat(fd)?;
    u64::try_from(st.st_size).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))
}

/// Gives the pages of `[offset, offset + len)` back to the kernel; they read as zeros after.
pub(crate) fn punch_hole(fd: BorrowedFd<'_>, offset: u64, len: u64) -> io::Result<()> {
    let (Ok(off), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
        return Err(io::ErrorKind::InvalidInput.into());
    };
    fallocate(
        fd.as_fd(),
        FallocateFlags::FALLOC_FL_PUNCH_HOLE | FallocateFlags::FALLOC_FL_KEEP_SIZE,
        off,
        len,
    )?;
    Ok(())
}

/// Opens a POSIX named shared-memory object (`/dev/shm/<name>`), creating it exclusively if
/// `create` is set. The descriptor is close-on-exec.
pub(crate) fn shm_open(name: &str, create: bool) -> io::Result<OwnedFd> {
    let mut flags = OFlag::O_RDWR | OFlag::O_CLOEXEC;
    if create {
        flags |= OFlag::O_CREAT | OFlag::O_EXCL;
    }
    Ok(nix::sys::mman::shm_open(
        name,
        flags,
        Mode::from_bits_truncate(0o600),
    )?)
}

/// Removes a POSIX named shared-memory object.
pub(crate) fn shm_unlink(name: &str) -> io::Result<()> {
    Ok(nix::sys::mman::shm_unlink(name)?)
}

/// Sets the size of a file.
pub(crate) fn set_len(fd: BorrowedFd<'_>, len: u64) -> io::Result<()> {
    let len = i64::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    nix::unistd::ftruncate(fd, len)?;
    Ok(())
}
