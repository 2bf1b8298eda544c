//! Passing process-shared objects to child processes: the descriptor side table.
//!
//! A [`Queue`](crate::Queue), a [`Lock`](crate::Lock), a pipe end or a shared value is backed
//! by file descriptors (a memfd, a socket). When such an object is serialised as part of a
//! child's arguments, its descriptors are duplicated into a side table and the message records
//! only their index in that table. The process launcher delivers the table to the child —
//! inherited under fork, kept open across exec for spawn, or sent with `SCM_RIGHTS` to a fork
//! server — and deserialising in the child re-attaches the object to the same kernel object.
//! (This is the serialisation-context pattern of ipc-channel.)
//!
//! Outside an [`encode_with_fds`] call such objects refuse to serialise: a queue cannot be put
//! inside a queue message, for instance; the error says so.

use std::cell::{Cell, RefCell};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::{self, DecodeError, EncodeError};

thread_local! {
    static OUTGOING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static INCOMING: RefCell<Option<Vec<OwnedFd>>> = const { RefCell::new(None) };
    static REFUSAL: Cell<Option<&'static str>> = const { Cell::new(None) };
    static MISSING_FD: Cell<bool> = const { Cell::new(false) };
}

const REFUSAL_TEXT: &str = "process-shared objects (queues, locks, pipe ends, shared values) and \
     code references can only be passed as arguments of a child process, not inside a message";

/// Returns and clears the reason the last serialisation on this thread was refused.
pub(crate) fn take_refusal() -> Option<&'static str> {
    REFUSAL.with(|r| r.take())
}

/// Returns and clears whether the last deserialisation on this thread lacked a descriptor.
pub(crate) fn take_missing_fd() -> bool {
    MISSING_FD.with(|m| m.replace(false))
}

/// A value encoded together with the descriptors it refers to.
#[derive(Debug)]
pub struct Encoded {
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Duplicates of the descriptors the value refers to, in table order. They are
    /// close-on-exec; the launcher decides how they reach the child.
    pub fds: Vec<OwnedFd>,
}

/// Encodes `value`, collecting the descriptors of any process-shared objects inside it.
pub fn encode_with_fds<T: Serialize + ?Sized>(value: &T) -> Result<Encoded, EncodeError> {
    let saved = OUTGOING.with(|o| o.replace(Some(Vec::new())));
    let result = codec::encode(value);
    let fds = OUTGOING.with(|o| o.replace(saved)).unwrap_or_default();
    result.map(|bytes| Encoded { bytes, fds })
}

/// Decodes a value produced by [`encode_with_fds`], given the descriptors the launcher
/// delivered (same order). Objects inside the value attach to duplicates of these descriptors;
/// the table itself is closed when this returns.
///
/// # Safety
/// `bytes` must have been produced by [`encode_with_fds`] in a process running this same
/// binary (the parent, or a process it trusts), and `fds` must be the delivered table. The
/// value may contain [`CodeRef`](crate::code::CodeRef)s, which are called as functions: bytes
/// from anywhere else could name an arbitrary code address.
pub unsafe fn decode_with_fds<T: DeserializeOwned>(
    bytes: &[u8],
    fds: Vec<OwnedFd>,
) -> Result<T, DecodeError> {
    let saved = INCOMING.with(|i| i.replace(Some(fds)));
    let result = codec::decode(bytes);
    INCOMING.with(|i| i.replace(saved));
    result
}

/// Whether an [`encode_with_fds`] call is running on this thread.
pub(crate) fn outgoing_active() -> bool {
    OUTGOING.with(|o| o.borrow().is_some())
}

/// Whether a [`decode_with_fds`] call is running on this thread.
pub(crate) fn incoming_active() -> bool {
    INCOMING.with(|i| i.borrow().is_some())
}

/// Records that a serialisation was refused because no transfer context is active, and
/// returns the serde error to report.
pub(crate) fn refuse<E: serde::ser::Error>() -> E {
    REFUSAL.with(|r| r.set(Some(REFUSAL_TEXT)));
    E::custom(REFUSAL_TEXT)
}

/// Serialises a descriptor: inside [`encode_with_fds`] it records a duplicate in the side table
/// and writes its index; elsewhere it refuses with a clear error.
pub(crate) fn serialize_fd<S: Serializer>(fd: BorrowedFd<'_>, s: S) -> Result<S::Ok, S::Error> {
    let index = OUTGOING.with(|o| -> Result<Option<u32>, std::io::Error> {
        let mut o = o.borrow_mut();
        match o.as_mut() {
            None => Ok(None),
            Some(table) => {
                table.push(fd.try_clone_to_owned()?);
                Ok(Some((table.len() - 1) as u32))
            }
        }
    });
    match index {
        Ok(Some(i)) => i.serialize(s),
        Ok(None) => Err(refuse()),
        Err(e) => Err(serde::ser::Error::custom(format!(
            "cannot duplicate descriptor: {e}"
        ))),
    }
}

/// Deserialises a descriptor written by [`serialize_fd`]: returns a duplicate of the table
/// entry, so the same object may appear several times in one message.
pub(crate) fn deserialize_fd<'de, D: Deserializer<'de>>(d: D) -> Result<OwnedFd, D::Error> {
    let index = u32::deserialize(d)? as usize;
    let fd = INCOMING.with(|i| {
        let i = i.borrow();
        i.as_ref()
            .and_then(|t| t.get(index))
            .map(|fd| fd.try_clone())
    });
    match fd {
        Some(Ok(fd)) => Ok(fd),
        Some(Err(e)) => Err(serde::de::Error::custom(format!(
            "cannot duplicate descriptor: {e}"
        ))),
        None => {
            MISSING_FD.with(|m| m.set(true));
            Err(serde::de::Error::custom(format!(
                "descriptor #{index} was not transferred"
            )))
        }
    }
}

/// The raw numbers of a descriptor table, for launchers that must name them to a child.
pub fn raw_fds(fds: &[OwnedFd]) -> Vec<RawFd> {
    fds.iter().map(|f| f.as_raw_fd()).collect()
}

/// Marks `fds` inheritable across `exec` (clears close-on-exec). For launchers, in the child
/// between `fork` and `exec`, on the descriptors of an [`Encoded`] table.
pub fn make_inheritable(fds: &[OwnedFd]) -> std::io::Result<()> {
    for fd in fds {
        crate::sys::fd::set_cloexec(fd.as_fd(), false)?;
    }
    Ok(())
}

/// Any file descriptor, passed to a child process as an argument: a listening or accepted
/// socket, a file, a pipe end of another library. Python's `multiprocessing.reduction.DupFd`.
///
/// Like every process-shared object it travels in the descriptor side table (inherited under
/// fork, kept open across exec for spawn, sent with `SCM_RIGHTS` to a fork server); in the
/// child, [`into_owned`](FdArg::into_owned) gives the descriptor back, ready for
/// `std::net::TcpStream::from(owned)` and the like. Serialising it anywhere else (inside a
/// queue message, say) is refused.
///
/// ```
/// use std::os::fd::AsFd;
/// let file = std::fs::File::open("/dev/null")?;
/// let arg = ipc_core::FdArg::new(file.as_fd())?; // a duplicate, close-on-exec
/// let owned: std::os::fd::OwnedFd = arg.into_owned();
/// let _same_file = std::fs::File::from(owned);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct FdArg {
    fd: OwnedFd,
}

impl FdArg {
    /// Duplicates `fd` (close-on-exec) to pass it on.
    pub fn new(fd: BorrowedFd<'_>) -> std::io::Result<FdArg> {
        Ok(FdArg {
            fd: fd.try_clone_to_owned()?,
        })
    }

    /// The descriptor.
    pub fn into_owned(self) -> OwnedFd {
        self.fd
    }
}

impl From<OwnedFd> for FdArg {
    fn from(fd: OwnedFd) -> Self {
        FdArg { fd }
    }
}

impl AsFd for FdArg {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl Serialize for FdArg {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        serialize_fd(self.fd.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for FdArg {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(FdArg {
            fd: deserialize_fd(d)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fd_arg_round_trips_through_the_side_table() {
        let (a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        let enc = encode_with_fds(&FdArg::new(a.as_fd()).unwrap()).unwrap();
        assert_eq!(enc.fds.len(), 1);
        // SAFETY: the bytes were produced just above by `encode_with_fds` in this very
        // process, with this table; the value holds no code reference.
        let back: FdArg = unsafe { decode_with_fds(&enc.bytes, enc.fds) }.unwrap();
        let mut s = std::os::unix::net::UnixStream::from(back.into_owned());
        use std::io::{Read, Write};
        s.write_all(b"hi").unwrap();
        let mut buf = [0u8; 2];
        (&b).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        assert!(crate::codec::encode(&FdArg::new(a.as_fd()).unwrap()).is_err());
    }
}
