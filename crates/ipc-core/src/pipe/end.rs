//! The engine behind every [`Connection`](super::Connection): one descriptor, a send
//! direction and a receive direction, each with its own turn and status.

use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::time::Instant;

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::error::{RecvBytesIntoError, RecvError, SendError};
use super::frame::{self, Fail, FdSource, HEADER_LEN, Head, INLINE, MIN_FRAME, UPFRONT};
use super::turn::{BROKEN, DISCONNECTED, ENDED, Half, OPEN, Turn};
use crate::codec::{self, MAX_MESSAGE_LEN};
use crate::sys::fd as sysfd;

#[derive(Debug)]
pub(super) struct End {
    fd: OwnedFd,
    socket: bool,
    tx: Half,
    rx: Half,
}

fn is_disconnect(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::BrokenPipe | io::ErrorKind::ConnectionReset | io::ErrorKind::NotConnected
    )
}

impl End {
    pub(super) fn new(fd: OwnedFd, socket: bool) -> End {
        End {
            fd,
            socket,
            tx: Half::new(),
            rx: Half::new(),
        }
    }

    pub(super) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub(super) fn is_socket(&self) -> bool {
        self.socket
    }

    // ----------------------------------------------------------------------------- sending

    fn check_tx(&self) -> Result<(), SendError> {
        match self.tx.status() {
            OPEN => Ok(()),
            ENDED => Err(SendError::Closed),
            BROKEN => Err(SendError::Broken),
            _ => Err(SendError::Disconnected),
        }
    }

    fn tx_failed(&self, e: io::Error) -> SendError {
        if is_disconnect(&e) {
            self.tx.set_status(DISCONNECTED);
            SendError::Disconnected
        } else {
            // Part of the frame may be on the wire: the stream is out of step.
            self.tx.set_status(BROKEN);
            SendError::Io(e)
        }
    }

    /// Writes a frame: `head` (a header, or a whole frame) then `body`, in one system call
    /// when the kernel takes it all.
    fn write(&self, head: &[u8], body: &[u8]) -> Result<(), SendError> {
        let r = if body.is_empty() {
            sysfd::write_all(self.fd(), head, self.socket)
        } else {
            sysfd::write_all_vectored(self.fd(), head, body, self.socket)
        };
        r.map_err(|e| self.tx_failed(e))
    }

    pub(super) fn send_value<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        let mut turn = self.tx.take();
        self.check_tx()?;
        let buf = &mut turn.scratch;
        buf.clear();
        buf.extend_from_slice(&[0; HEADER_LEN]);
        codec::encode_into(value, buf).map_err(SendError::Encode)?;
        let len = buf.len() - HEADER_LEN;
        buf[..HEADER_LEN].copy_from_slice(&frame::encode_head(Head::Message(len)));
        if buf.len() < MIN_FRAME {
            buf.resize(MIN_FRAME, 0);
        }
        self.write(&turn.scratch, &[])
    }

    pub(super) fn send_bytes(&self, data: &[u8]) -> Result<(), SendError> {
        if data.len() > MAX_MESSAGE_LEN {
            return Err(SendError::TooLong {
                len: data.len(),
                limit: MAX_MESSAGE_LEN,
            });
        }
        let _turn = self.tx.take();
        self.check_tx()?;
        let head = frame::encode_head(Head::Message(data.len()));
        if data.len() <= INLINE {
            let mut small = [0u8; MIN_FRAME];
            small[..HEADER_LEN].copy_from_slice(&head);
            small[HEADER_LEN..HEADER_LEN + data.len()].copy_from_slice(data);
            self.write(&small, &[])
        } else {
            self.write(&head, data)
        }
    }

    pub(super) fn shutdown_send(&self) -> Result<(), SendError> {
        let _turn = self.tx.take();
        match self.check_tx() {
            Err(SendError::Closed) => return Ok(()),
            Err(e) => return Err(e),
            Ok(()) => {}
        }
        let r = if self.socket {
            sysfd::shutdown_write(self.fd())
        } else {
            let mut small = [0u8; MIN_FRAME];
            small[..HEADER_LEN].copy_from_slice(&frame::encode_head(Head::End));
            sysfd::write_all(self.fd(), &small, false)
        };
        match r {
            Ok(()) => {
                self.tx.set_status(ENDED);
                Ok(())
            }
            // Nobody is left to tell.
            Err(e) if is_disconnect(&e) => {
                self.tx.set_status(ENDED);
                Ok(())
            }
            Err(e) => Err(self.tx_failed(e)),
        }
    }

    // --------------------------------------------------------------------------- receiving

    pub(super) fn rx_turn(&self) -> Turn<'_> {
        self.rx.take()
    }

    pub(super) fn rx_turn_until(&self, deadline: Instant) -> Option<Turn<'_>> {
        self.rx.take_until(deadline)
    }

    /// Whether a receive would not block: a frame has started to arrive, end of file, an error
    /// is pending, or this end already knows it cannot receive.
    pub(super) fn readable(&self, deadline: Option<Instant>) -> io::Result<bool> {
        if self.rx.status() != OPEN {
            return Ok(true);
        }
        Ok(!sysfd::poll_readable(&[self.fd()], deadline)?.is_empty())
    }

    fn rx_failed(&self, f: Fail) -> RecvError {
        if f.fatal {
            self.rx.set_status(BROKEN);
        } else if f.err.is_eof() {
            self.rx.set_status(ENDED);
        }
        f.err
    }

    /// Reads the start of the next frame into `small`; returns the body length.
    fn start(&self, small: &mut [u8; MIN_FRAME]) -> Result<usize, RecvError> {
        match self.rx.status() {
            OPEN => {}
            ENDED => return Err(RecvError::Eof),
            _ => return Err(RecvError::Broken),
        }
        match frame::read_start(&mut FdSource(self.fd()), small) {
            Ok(Head::Message(len)) => Ok(len),
            Ok(Head::End) => {
                self.rx.set_status(ENDED);
                Err(RecvError::Eof)
            }
            Err(f) => Err(self.rx_failed(f)),
        }
    }

    /// Reads the body of a `len`-byte message whose start is in `small` into a new vector.
    fn body_vec(&self, small: &[u8; MIN_FRAME], len: usize) -> Result<Vec<u8>, RecvError> {
        let first = len.min(INLINE);
        let mut out = Vec::with_capacity(len.min(UPFRONT));
        out.extend_from_slice(&small[HEADER_LEN..HEADER_LEN + first]);
        frame::read_rest_into_vec(&mut FdSource(self.fd()), &mut out, len - first)
            .map_err(|f| self.rx_failed(f))?;
        Ok(out)
    }

    pub(super) fn recv_value<T: DeserializeOwned>(
        &self,
        turn: &mut Turn<'_>,
    ) -> Result<T, RecvError> {
        let mut small = [0u8; MIN_FRAME];
        let len = self.start(&mut small)?;
        if len <= INLINE {
            return codec::decode(&small[HEADER_LEN..HEADER_LEN + len]).map_err(RecvError::Decode);
        }
        let buf = &mut turn.scratch;
        buf.clear();
        buf.extend_from_slice(&small[HEADER_LEN..]);
        frame::read_rest_into_vec(&mut FdSource(self.fd()), buf, len - INLINE)
            .map_err(|f| self.rx_failed(f))?;
        codec::decode(buf).map_err(RecvError::Decode)
    }

    pub(super) fn recv_bytes(
        &self,
        turn: &mut Turn<'_>,
        maxlength: usize,
    ) -> Result<Vec<u8>, RecvError> {
        let mut small = [0u8; MIN_FRAME];
        let len = self.start(&mut small)?;
        if len > maxlength {
            frame::discard(
                &mut FdSource(self.fd()),
                len - len.min(INLINE),
                &mut turn.scratch,
            )
            .map_err(|f| self.rx_failed(f))?;
            return Err(RecvError::TooLong {
                len,
                limit: maxlength,
            });
        }
        self.body_vec(&small, len)
    }

    pub(super) fn recv_bytes_into(
        &self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<usize, RecvBytesIntoError> {
        if offset > buf.len() {
            return Err(RecvBytesIntoError::OffsetOutOfRange {
                offset,
                len: buf.len(),
            });
        }
        let mut small = [0u8; MIN_FRAME];
        let len = self.start(&mut small)?;
        let dst = &mut buf[offset..];
        if len > dst.len() {
            return Err(RecvBytesIntoError::BufferTooShort(
                self.body_vec(&small, len)?,
            ));
        }
        let first = len.min(INLINE);
        dst[..first].copy_from_slice(&small[HEADER_LEN..HEADER_LEN + first]);
        frame::read_rest_into_slice(&mut FdSource(self.fd()), &mut dst[first..len])
            .map_err(|f| self.rx_failed(f))?;
        Ok(len)
    }

    /// A short description of the state, for `Debug`.
    pub(super) fn state(&self) -> (&'static str, &'static str) {
        let name = |s| match s {
            OPEN => "open",
            ENDED => "ended",
            BROKEN => "broken",
            _ => "disconnected",
        };
        (name(self.tx.status()), name(self.rx.status()))
    }
}
