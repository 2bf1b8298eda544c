//! The errors of pipe operations, one type per operation.

use std::{error, fmt, io};

use crate::codec::{DecodeError, EncodeError};

/// A message could not be sent.
///
/// `send` borrows the value, so it is still the caller's after a failure.
#[derive(Debug)]
pub enum SendError {
    /// The value could not be encoded. Nothing was written; the connection is unchanged.
    Encode(EncodeError),
    /// The message is longer than the limit ([`MAX_MESSAGE_LEN`](crate::codec::MAX_MESSAGE_LEN)).
    /// Nothing was written.
    TooLong {
        /// Length of the message, in bytes.
        len: usize,
        /// The largest message a pipe carries.
        limit: usize,
    },
    /// `offset`/`size` do not describe a range of the buffer (`send_bytes_range`). Nothing
    /// was written.
    OutOfRange {
        /// The requested start.
        offset: usize,
        /// The requested length.
        size: usize,
        /// The length of the buffer.
        len: usize,
    },
    /// Every copy of the receiving end is closed (`EPIPE`): nobody can ever read a message
    /// again. Permanent.
    Disconnected,
    /// This end was shut down with `shutdown_send`.
    Closed,
    /// An earlier send on this end failed part-way through a message, so the stream is out of
    /// step: this end cannot send any more.
    Broken,
    /// The write failed. Part of the message may have been written, so this end is now
    /// [`Broken`](SendError::Broken) for sending.
    Io(io::Error),
}

impl SendError {
    /// Whether the receiving side is gone for good.
    pub fn is_disconnected(&self) -> bool {
        matches!(self, SendError::Disconnected)
    }
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Encode(_) => f.write_str("cannot encode the message"),
            SendError::TooLong { len, limit } => {
                write!(f, "message of {len} bytes exceeds the {limit}-byte limit")
            }
            SendError::OutOfRange { offset, size, len } => write!(
                f,
                "range {offset}..{offset}+{size} is outside a buffer of {len} bytes"
            ),
            SendError::Disconnected => {
                f.write_str("sending on a pipe whose receiving end is closed")
            }
            SendError::Closed => f.write_str("sending on an end that was shut down"),
            SendError::Broken => {
                f.write_str("sending on an end whose stream broke in an earlier send")
            }
            SendError::Io(_) => f.write_str("writing to the pipe failed"),
        }
    }
}

impl error::Error for SendError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            SendError::Encode(e) => Some(e),
            SendError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A message could not be received.
#[derive(Debug)]
pub enum RecvError {
    /// End of file: every message sent has been received, and every copy of the sending end
    /// is closed (or it was shut down with `shutdown_send`). Python's `EOFError`. Every later
    /// receive returns this again.
    Eof,
    /// End of file in the middle of a message: the sender died or closed while sending it.
    /// The end cannot receive any more ([`Broken`](RecvError::Broken)).
    Truncated,
    /// The message is longer than the limit: the `maxlength` of `recv_bytes_max` (the message
    /// was read and dropped; the connection stays usable), or, for a header announcing more
    /// than [`MAX_MESSAGE_LEN`](crate::codec::MAX_MESSAGE_LEN), the limit of every pipe (the
    /// header is not trusted: nothing is read or allocated, and the end is broken).
    TooLong {
        /// The announced length of the message.
        len: usize,
        /// The limit it exceeds.
        limit: usize,
    },
    /// The bytes on the wire are not a frame written by this library (something else wrote
    /// into the pipe). The end cannot receive any more.
    BadFrame,
    /// An earlier framing error ([`Truncated`](RecvError::Truncated),
    /// [`BadFrame`](RecvError::BadFrame), a header over the limit, or a read error in the
    /// middle of a message) left the stream out of step: this end cannot receive any more.
    Broken,
    /// The message arrived whole but does not decode as the requested type (the receiver
    /// asked for a different type than the sender sent). The message is consumed; the
    /// connection stays usable.
    Decode(DecodeError),
    /// The read failed. If it failed in the middle of a message, the end is now broken.
    Io(io::Error),
}

impl RecvError {
    /// Whether this is end of file.
    pub fn is_eof(&self) -> bool {
        matches!(self, RecvError::Eof)
    }
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvError::Eof => f.write_str("end of file: the sending end is closed"),
            RecvError::Truncated => f.write_str("end of file in the middle of a message"),
            RecvError::TooLong { len, limit } => {
                write!(f, "message of {len} bytes exceeds the {limit}-byte limit")
            }
            RecvError::BadFrame => f.write_str("the pipe carries bytes that are not a message"),
            RecvError::Broken => {
                f.write_str("receiving on an end whose stream broke in an earlier receive")
            }
            RecvError::Decode(_) => f.write_str("cannot decode the message"),
            RecvError::Io(_) => f.write_str("reading from the pipe failed"),
        }
    }
}

impl error::Error for RecvError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            RecvError::Decode(e) => Some(e),
            RecvError::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// A receive with a timeout or deadline failed.
#[derive(Debug)]
pub enum RecvTimeoutError {
    /// No message started to arrive before the deadline. Nothing was consumed.
    Timeout,
    /// Receiving failed.
    Recv(RecvError),
}

impl RecvTimeoutError {
    /// Whether the deadline passed.
    pub fn is_timeout(&self) -> bool {
        matches!(self, RecvTimeoutError::Timeout)
    }
}

impl From<RecvError> for RecvTimeoutError {
    fn from(e: RecvError) -> Self {
        RecvTimeoutError::Recv(e)
    }
}

impl fmt::Display for RecvTimeoutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvTimeoutError::Timeout => f.write_str("timed out waiting for a message"),
            RecvTimeoutError::Recv(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl error::Error for RecvTimeoutError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            RecvTimeoutError::Timeout => None,
            RecvTimeoutError::Recv(e) => e.source(),
        }
    }
}

/// A non-blocking receive failed.
#[derive(Debug)]
pub enum TryRecvError {
    /// No message is waiting (or another thread of this process is receiving on the end).
    Empty,
    /// Receiving failed.
    Recv(RecvError),
}

impl TryRecvError {
    /// Whether no message was waiting.
    pub fn is_empty(&self) -> bool {
        matches!(self, TryRecvError::Empty)
    }
}

impl From<RecvError> for TryRecvError {
    fn from(e: RecvError) -> Self {
        TryRecvError::Recv(e)
    }
}

impl fmt::Display for TryRecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryRecvError::Empty => f.write_str("no message is waiting"),
            TryRecvError::Recv(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl error::Error for TryRecvError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            TryRecvError::Empty => None,
            TryRecvError::Recv(e) => e.source(),
        }
    }
}

/// `recv_bytes_into` failed.
#[derive(Debug)]
pub enum RecvBytesIntoError {
    /// The message did not fit in the buffer after the offset. It was received whole and is
    /// given here (Python's `BufferTooShort`, whose `args[0]` is the message); the buffer is
    /// untouched and the connection stays usable.
    BufferTooShort(Vec<u8>),
    /// The offset is past the end of the buffer. Nothing was received.
    OffsetOutOfRange {
        /// The requested offset.
        offset: usize,
        /// The length of the buffer.
        len: usize,
    },
    /// Receiving failed.
    Recv(RecvError),
}

impl RecvBytesIntoError {
    /// The message, if the buffer was too short for it.
    pub fn into_message(self) -> Option<Vec<u8>> {
        match self {
            RecvBytesIntoError::BufferTooShort(m) => Some(m),
            _ => None,
        }
    }
}

impl From<RecvError> for RecvBytesIntoError {
    fn from(e: RecvError) -> Self {
        RecvBytesIntoError::Recv(e)
    }
}

impl fmt::Display for RecvBytesIntoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecvBytesIntoError::BufferTooShort(m) => {
                write!(f, "buffer too short for a message of {} bytes", m.len())
            }
            RecvBytesIntoError::OffsetOutOfRange { offset, len } => {
                write!(
                    f,
                    "offset {offset} is past the end of a buffer of {len} bytes"
                )
            }
            RecvBytesIntoError::Recv(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl error::Error for RecvBytesIntoError {
    fn source(&self) -> Option<&(dyn error::Error + 'static)> {
        match self {
            RecvBytesIntoError::Recv(e) => e.source(),
            _ => None,
        }
    }
}
