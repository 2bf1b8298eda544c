//! Python's `multiprocessing.Pipe`, `Connection` and `connection.wait`: messages over a
//! socketpair (duplex) or a pipe (one-way), with message boundaries kept.
//!
//! ```
//! use ipc_core::Pipe;
//!
//! let (left, right) = Pipe::new()?; // Python: left, right = Pipe()
//! left.send(&vec!["spam", "egg"])?;
//! let got: Vec<String> = right.recv()?;
//! assert_eq!(got, ["spam", "egg"]);
//! right.send_bytes(b"thank you")?;
//! assert_eq!(left.recv_bytes()?, b"thank you");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! | Python                               | here                                                  |
//! |--------------------------------------|-------------------------------------------------------|
//! | `a, b = Pipe()`                      | `let (a, b) = Pipe::new()?` (or `Pipe::duplex()`)     |
//! | `r, w = Pipe(duplex=False)`          | `let (r, w) = Pipe::one_way()?`                       |
//! | `c.send(obj)` / `c.recv()`           | [`send(&value)`](Connection::send) / [`recv::<T>()`](Connection::recv) |
//! | `c.send_bytes(buf, offset, size)`    | [`send_bytes`](Connection::send_bytes), [`send_bytes_range`](Connection::send_bytes_range) |
//! | `c.recv_bytes(maxlength)`            | [`recv_bytes`](Connection::recv_bytes), [`recv_bytes_max`](Connection::recv_bytes_max) |
//! | `c.recv_bytes_into(buf, offset)`     | [`recv_bytes_into`](Connection::recv_bytes_into)      |
//! | `c.poll(timeout)`                    | [`poll`](Connection::poll), [`poll_timeout`](Connection::poll_timeout) |
//! | `c.close()`, `c.fileno()`            | [`close`](Connection::close), [`fileno`](Connection::fileno) / [`AsFd`] |
//! | `EOFError`                           | [`RecvError::Eof`]                                    |
//! | `BufferTooShort` (message in `args[0]`) | [`RecvBytesIntoError::BufferTooShort`]`(message)`  |
//! | `multiprocessing.connection.wait`    | [`wait`]                                              |
//!
//! # Design
//!
//! **Untyped connections, typed calls.** A [`Connection`] is not generic over a message type;
//! [`send`](Connection::send) takes any `T: Serialize` and [`recv`](Connection::recv) any
//! `T: DeserializeOwned`. Python's connections are untyped and programs rely on it (a child
//! sends a list, then a map, and receives a set over the same pipe); a `Connection<T>` would
//! force every such program to declare an enum of everything it ever sends. The price: the
//! receiver must ask for the type the sender sent. The encoding is not self-describing, so a
//! mismatch is usually a [`RecvError::Decode`] but can decode as a wrong value (for instance
//! `u32` sent, `i32` received; mind the type of integer literals). Types with the same
//! encoding interoperate: `&str` and `String`, `&[T]` and `Vec<T>`, a `BTreeSet` and a
//! `HashSet`. A fixed-size array `[T; N]` encodes like a tuple, not like a sequence: send
//! `&array[..]` to receive a `Vec` or a set.
//!
//! **The direction is a type.** [`Pipe::one_way`] returns a `Connection<RecvOnly>` and a
//! `Connection<SendOnly>`; sending on the receiving end does not compile:
//!
//! ```compile_fail,E0599
//! let (rx, _tx) = ipc_core::Pipe::one_way().unwrap();
//! rx.send(&1u8).unwrap(); // no method `send` on `Connection<RecvOnly>`
//! ```
//!
//! **Frames.** Each message is an 8-byte header (length and a check word) and the body, padded
//! to at least 128 bytes. A small message is one `write` and one `read`; the reader never reads
//! past the message it is receiving, so ends can be shared (see below). A header that this
//! library did not write is [`RecvError::BadFrame`]; one announcing more than
//! [`MAX_MESSAGE_LEN`] is [`RecvError::TooLong`] without any
//! allocation, and a long body is read into a buffer that grows only as bytes arrive. Messages
//! of any size up to the limit work; a message larger than the pipe's buffer (1 MiB for a
//! one-way pipe, about 200 KiB for a socketpair) makes `send` wait until the receiver reads,
//! so a process must not send a large message to itself on one thread and then receive it.
//!
//! **Threads.** `send` and `recv` take `&self`: a connection can be shared between threads
//! (`Arc<Connection>`, or scoped threads), and each direction has an internal turn so that two
//! threads never interleave the bytes of their messages. One thread may send while another
//! receives. Steady traffic allocates nothing besides the decoded value.
//!
//! **Processes.** A connection is passed to a child as an argument (it serialises as a
//! transferred descriptor, under every start method) or inherited by `fork`. Several processes
//! may use copies of one end, as in Python, but like Python the library does not order them:
//! processes that receive (or send) on copies of the same end must take turns with a
//! [`Lock`](crate::Lock), or their messages may mix. Do not set `O_NONBLOCK` on
//! [`fileno`](Connection::fileno).
//!
//! # End of file, and the copy you forgot
//!
//! [`RecvError::Eof`] arrives when every message has been received and **every copy** of the
//! sending end is closed: the kernel counts descriptors, not owners. A forked child inherits a
//! copy of *both* ends, so a consumer child that keeps its copy of the sending end never sees
//! end of file, and loops forever (the classic bug of Python tutorials). Two remedies:
//!
//! 1. Each process closes the ends it does not use, first thing: the consumer calls
//!    [`close`](Connection::close) on its copy of the sending end (drop does the same).
//! 2. The producer ends the stream for everyone with
//!    [`shutdown_send`](Connection::shutdown_send): the receiver gets end of file after the
//!    messages already sent, even if stray copies of the sending end are still open (a socket
//!    is shut down; a one-way pipe carries an end marker). Prefer it whenever the producer
//!    knows it is done.
//!
//! ```
//! use ipc_core::Pipe;
//!
//! let (rx, tx) = Pipe::one_way()?;
//! let stray = std::os::fd::AsFd::as_fd(&tx).try_clone_to_owned()?; // as if a child inherited it
//! let consumer = std::thread::spawn(move || rx.iter::<u32>().collect::<Result<Vec<_>, _>>());
//! for i in 0..10u32 {
//!     tx.send(&i)?;
//! }
//! tx.shutdown_send()?; // end of file despite the stray copy
//! assert_eq!(consumer.join().unwrap()?, (0..10).collect::<Vec<u32>>());
//! drop(stray);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors
//!
//! Every failure is a value ([`SendError`], [`RecvError`], ...); nothing panics on what a peer
//! sends. A message that does not decode is consumed and the connection stays usable. A
//! framing error (a truncated message, bytes that are not a frame, an untrusted length, a read
//! error in the middle of a message) leaves the stream out of step: every later receive on that
//! end returns [`RecvError::Broken`]. Likewise a write that fails part-way makes every later
//! send return [`SendError::Broken`].
//!
//! Writing to a pipe or socket whose readers are all closed is [`SendError::Disconnected`].
//! Sockets are written with `MSG_NOSIGNAL`; one-way pipes rely on `SIGPIPE` being ignored,
//! which the Rust runtime arranges before `main` (and children inherit). A program that
//! restores the default `SIGPIPE` disposition (or a non-Rust host that never ignored it) is
//! killed by a write to a one-way pipe without readers; use a duplex pipe there.

mod end;
mod error;
mod frame;
mod turn;

#[cfg(test)]
mod tests;

pub use error::{RecvBytesIntoError, RecvError, RecvTimeoutError, SendError, TryRecvError};

use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::codec::MAX_MESSAGE_LEN;
use crate::sync::deadline_after;
use crate::sys::fd as sysfd;
use end::End;

/// Buffer size asked for one-way pipes (best effort; the pipe works with any size).
const PIPE_SIZE: usize = 1 << 20;

#[allow(unreachable_pub)]
mod sealed {
    pub trait Sealed {}
}

/// The direction of a [`Connection`]: [`Duplex`], [`RecvOnly`] or [`SendOnly`]. Sealed.
pub trait Direction: sealed::Sealed + Send + Sync + 'static {
    /// Name shown by `Debug`.
    const NAME: &'static str;
}

/// Directions that can send: [`Duplex`] and [`SendOnly`].
pub trait CanSend: Direction {}

/// Directions that can receive: [`Duplex`] and [`RecvOnly`].
pub trait CanRecv: Direction {}

/// Both ends of [`Pipe::new`] send and receive.
#[derive(Debug)]
pub enum Duplex {}

/// The receiving end of [`Pipe::one_way`].
#[derive(Debug)]
pub enum RecvOnly {}

/// The sending end of [`Pipe::one_way`].
#[derive(Debug)]
pub enum SendOnly {}

impl sealed::Sealed for Duplex {}
impl sealed::Sealed for RecvOnly {}
impl sealed::Sealed for SendOnly {}
impl Direction for Duplex {
    const NAME: &'static str = "duplex";
}
impl Direction for RecvOnly {
    const NAME: &'static str = "receive-only";
}
impl Direction for SendOnly {
    const NAME: &'static str = "send-only";
}
impl CanSend for Duplex {}
impl CanSend for SendOnly {}
impl CanRecv for Duplex {}
impl CanRecv for RecvOnly {}

/// Creates pipes: Python's `Pipe()`. (A namespace: it has no values.)
///
/// ```
/// use ipc_core::Pipe;
///
/// let (a, b) = Pipe::new()?; // duplex, like Python's default
/// a.send(&1u8)?;
/// b.send(&2u8)?;
/// assert_eq!((b.recv::<u8>()?, a.recv::<u8>()?), (1, 2));
///
/// let (rx, tx) = Pipe::one_way()?; // Pipe(duplex=False): receiving end first
/// tx.send("one way")?;
/// assert_eq!(rx.recv::<String>()?, "one way");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub enum Pipe {}

impl Pipe {
    /// A duplex pipe (Python's `Pipe()`): two connected ends that both send and receive, over
    /// a Unix stream socketpair.
    #[allow(clippy::new_ret_no_self)] // `Pipe::new()` reads as Python's `Pipe()`; a pipe is two ends
    pub fn new() -> io::Result<(Connection<Duplex>, Connection<Duplex>)> {
        Pipe::duplex()
    }

    /// Same as [`Pipe::new`].
    pub fn duplex() -> io::Result<(Connection<Duplex>, Connection<Duplex>)> {
        let (a, b) = sysfd::socketpair_stream()?;
        Ok((Connection::from_end(a, true), Connection::from_end(b, true)))
    }

    /// A one-way pipe (Python's `Pipe(duplex=False)`): `(receiving end, sending end)`, over a
    /// kernel pipe grown to 1 MiB when the system allows it.
    pub fn one_way() -> io::Result<(Connection<RecvOnly>, Connection<SendOnly>)> {
        let (r, w) = sysfd::pipe()?;
        sysfd::set_pipe_size(w.as_fd(), PIPE_SIZE);
        Ok((
            Connection::from_end(r, false),
            Connection::from_end(w, false),
        ))
    }
}

/// One end of a pipe: Python's `multiprocessing.connection.Connection`.
///
/// `D` is the direction: [`Duplex`] (the default) sends and receives; [`RecvOnly`] and
/// [`SendOnly`] are the ends of a one-way pipe and only have the methods of their direction.
/// See the [module docs](self) for the design, end of file, and errors.
///
/// Dropping a connection closes this copy of the end.
pub struct Connection<D: Direction = Duplex> {
    end: End,
    _dir: PhantomData<D>,
}

impl<D: Direction> Connection<D> {
    fn from_end(fd: std::os::fd::OwnedFd, socket: bool) -> Self {
        Connection {
            end: End::new(fd, socket),
            _dir: PhantomData,
        }
    }

    /// Another copy of this end (a duplicated descriptor), for instance to hand the same
    /// receiving end to several consumer processes (scenario 25). Frames stay whole only if
    /// the copies take turns: share a [`Lock`](crate::Lock) around `recv` (as Python requires)
    /// — within one process, share one `Connection` through an `Arc` instead, whose calls
    /// already take turns. Every copy must be closed before the other side sees end of file.
    ///
    /// ```
    /// let (a, b) = ipc_core::Pipe::duplex()?;
    /// let b2 = b.try_clone()?;
    /// a.send(&7u8)?;
    /// assert_eq!(b2.recv::<u8>()?, 7);
    /// # drop(b);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_clone(&self) -> std::io::Result<Self> {
        Ok(Self::from_end(
            self.end.fd().try_clone_to_owned()?,
            self.end.is_socket(),
        ))
    }

    /// Closes this copy of the end (Python's `close()`; dropping does the same). The other
    /// side sees end of file once every copy is closed.
    pub fn close(self) {
        drop(self);
    }

    /// The descriptor number (Python's `fileno()`), for event loops; the connection still owns
    /// it.
    pub fn fileno(&self) -> RawFd {
        self.end.fd().as_raw_fd()
    }
}

impl<D: CanSend> Connection<D> {
    /// Encodes `value` and sends it as one message. Blocks while the pipe is full.
    ///
    /// ```
    /// use std::collections::BTreeMap;
    ///
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// a.send(&BTreeMap::from([("name", "Bob"), ("spam", "42")]))?;
    /// let m: BTreeMap<String, String> = b.recv()?;
    /// assert_eq!(m["name"], "Bob");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send<T: Serialize + ?Sized>(&self, value: &T) -> Result<(), SendError> {
        self.end.send_value(value)
    }

    /// Sends `data` as one message (an empty message is a message).
    pub fn send_bytes(&self, data: &[u8]) -> Result<(), SendError> {
        self.end.send_bytes(data)
    }

    /// Sends `size` bytes of `buf` from `offset` (all the rest if `size` is `None`) as one
    /// message: Python's `send_bytes(buf, offset, size)`. A range outside `buf` is
    /// [`SendError::OutOfRange`] and sends nothing.
    ///
    /// ```
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// a.send_bytes_range(b"abcdef", 2, Some(3))?;
    /// assert_eq!(b.recv_bytes()?, b"cde");
    /// assert!(a.send_bytes_range(b"abc", 2, Some(5)).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn send_bytes_range(
        &self,
        buf: &[u8],
        offset: usize,
        size: Option<usize>,
    ) -> Result<(), SendError> {
        let size = size.unwrap_or(buf.len().saturating_sub(offset));
        match offset.checked_add(size) {
            Some(end) if end <= buf.len() => self.end.send_bytes(&buf[offset..end]),
            _ => Err(SendError::OutOfRange {
                offset,
                size,
                len: buf.len(),
            }),
        }
    }

    /// Ends the stream for every copy of this end: the receiver gets end of file after the
    /// messages already sent, even if copies of this end are still open in other processes
    /// (the remedy for the copy a forked child forgot to close; see the
    /// [module docs](self#end-of-file-and-the-copy-you-forgot)). Later sends on this
    /// connection return [`SendError::Closed`]; on a duplex connection, receiving still works.
    ///
    /// A socket is shut down for writing (every copy then fails to send). A one-way pipe
    /// carries an end marker instead; copies elsewhere could still write after it, but the
    /// receiver that read the marker will not look. With several processes receiving on one
    /// one-way pipe, only one of them reads the marker: send one end message per receiver
    /// instead, as Python programs do.
    ///
    /// ```
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// a.send(&1u8)?;
    /// a.shutdown_send()?;
    /// assert_eq!(b.recv::<u8>()?, 1);
    /// assert!(b.recv::<u8>().unwrap_err().is_eof());
    /// b.send(&2u8)?; // the other direction is unaffected
    /// assert_eq!(a.recv::<u8>()?, 2);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_send(&self) -> Result<(), SendError> {
        self.end.shutdown_send()
    }
}

impl<D: CanRecv> Connection<D> {
    /// Blocks until a message arrives and decodes it as a `T`.
    ///
    /// ```
    /// use std::collections::BTreeSet;
    ///
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// a.send(&["spam", "egg"][..])?; // a slice: a sequence, like a Vec or a set
    /// let set: BTreeSet<String> = b.recv()?;
    /// assert!(set.contains("egg"));
    /// drop(a);
    /// assert!(b.recv::<u8>().unwrap_err().is_eof());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv<T: DeserializeOwned>(&self) -> Result<T, RecvError> {
        let mut turn = self.end.rx_turn();
        self.end.recv_value(&mut turn)
    }

    /// Receives a message if one has started to arrive, without waiting for one.
    ///
    /// ```
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// assert!(b.try_recv::<u8>().unwrap_err().is_empty());
    /// a.send(&7u8)?;
    /// assert_eq!(b.try_recv::<u8>()?, 7);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn try_recv<T: DeserializeOwned>(&self) -> Result<T, TryRecvError> {
        match self.recv_until(Instant::now()) {
            Ok(v) => Ok(v),
            Err(RecvTimeoutError::Timeout) => Err(TryRecvError::Empty),
            Err(RecvTimeoutError::Recv(e)) => Err(TryRecvError::Recv(e)),
        }
    }

    /// Waits at most `timeout` for a message to start arriving, then receives it.
    ///
    /// The timeout covers the wait for the *start* of a message; once it has begun, the rest
    /// is read without a deadline (the sender writes a message in one go; if it dies half-way
    /// the result is [`RecvError::Truncated`]).
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (_a, b) = ipc_core::Pipe::new()?;
    /// let e = b.recv_timeout::<u8>(Duration::from_millis(10)).unwrap_err();
    /// assert!(e.is_timeout());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_timeout<T: DeserializeOwned>(
        &self,
        timeout: Duration,
    ) -> Result<T, RecvTimeoutError> {
        match deadline_after(timeout) {
            Some(d) => self.recv_until(d),
            None => Ok(self.recv()?),
        }
    }

    /// Waits until `deadline` for a message to start arriving, then receives it (see
    /// [`recv_timeout`](Connection::recv_timeout)).
    pub fn recv_deadline<T: DeserializeOwned>(
        &self,
        deadline: Instant,
    ) -> Result<T, RecvTimeoutError> {
        self.recv_until(deadline)
    }

    fn recv_until<T: DeserializeOwned>(&self, deadline: Instant) -> Result<T, RecvTimeoutError> {
        let mut turn = self
            .end
            .rx_turn_until(deadline)
            .ok_or(RecvTimeoutError::Timeout)?;
        if !self.end.readable(Some(deadline)).map_err(RecvError::Io)? {
            return Err(RecvTimeoutError::Timeout);
        }
        Ok(self.end.recv_value(&mut turn)?)
    }

    /// Receives one message as raw bytes.
    pub fn recv_bytes(&self) -> Result<Vec<u8>, RecvError> {
        self.recv_bytes_max(MAX_MESSAGE_LEN)
    }

    /// Receives one message as raw bytes, refusing one longer than `maxlength`: Python's
    /// `recv_bytes(maxlength)`.
    ///
    /// A longer message is read and dropped (only a 64 KiB buffer is used) and the result is
    /// [`RecvError::TooLong`]; unlike Python, which closes the connection, the connection stays
    /// usable and the next message can be received.
    ///
    /// ```
    /// use ipc_core::RecvError;
    ///
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// a.send_bytes(b"far too long")?;
    /// a.send_bytes(b"ok")?;
    /// assert!(matches!(b.recv_bytes_max(4), Err(RecvError::TooLong { len: 12, limit: 4 })));
    /// assert_eq!(b.recv_bytes_max(4)?, b"ok");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_max(&self, maxlength: usize) -> Result<Vec<u8>, RecvError> {
        let mut turn = self.end.rx_turn();
        self.end.recv_bytes(&mut turn, maxlength)
    }

    /// Receives one message into `buf` from `offset` and returns its length: Python's
    /// `recv_bytes_into(buf, offset)`.
    ///
    /// If the message does not fit, it is still received whole and returned in
    /// [`RecvBytesIntoError::BufferTooShort`] (`buf` is untouched). An `offset` past the end
    /// of `buf` is an error before anything is received.
    ///
    /// ```
    /// use ipc_core::RecvBytesIntoError;
    ///
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// let mut buf = [0u8; 8];
    /// a.send_bytes(b"abc")?;
    /// assert_eq!(b.recv_bytes_into(&mut buf, 5)?, 3);
    /// assert_eq!(&buf[5..], b"abc");
    /// a.send_bytes(b"too long for it")?;
    /// match b.recv_bytes_into(&mut buf, 0) {
    ///     Err(RecvBytesIntoError::BufferTooShort(m)) => assert_eq!(m, b"too long for it"),
    ///     other => panic!("{other:?}"),
    /// }
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn recv_bytes_into(
        &self,
        buf: &mut [u8],
        offset: usize,
    ) -> Result<usize, RecvBytesIntoError> {
        let _turn = self.end.rx_turn();
        self.end.recv_bytes_into(buf, offset)
    }

    /// Whether a receive would return at once — a message has started to arrive, or end of
    /// file or an error is waiting — without waiting (Python's `poll()`).
    pub fn poll(&self) -> io::Result<bool> {
        self.end.readable(Some(Instant::now()))
    }

    /// Waits at most `timeout` until a receive would return at once (Python's
    /// `poll(timeout)`; a timeout too large to represent waits forever, like `poll(None)`).
    /// Returns `false` if the time ran out.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let (a, b) = ipc_core::Pipe::new()?;
    /// assert!(!b.poll_timeout(Duration::from_millis(5))?);
    /// a.send(&())?;
    /// assert!(b.poll_timeout(Duration::from_secs(5))?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_timeout(&self, timeout: Duration) -> io::Result<bool> {
        self.end.readable(deadline_after(timeout))
    }

    /// Waits until `deadline` until a receive would return at once; `false` if it passed.
    pub fn poll_deadline(&self, deadline: Instant) -> io::Result<bool> {
        self.end.readable(Some(deadline))
    }

    /// An iterator that receives `T`s until end of file.
    ///
    /// It yields `Ok(value)` per message and ends at [`RecvError::Eof`]. Another error is
    /// yielded once, and then the iterator ends, except for a [`RecvError::Decode`] (the
    /// message was consumed and the next one may be fine).
    ///
    /// ```
    /// let (rx, tx) = ipc_core::Pipe::one_way()?;
    /// for i in 0..3u32 {
    ///     tx.send(&i)?;
    /// }
    /// tx.close();
    /// let got: Result<Vec<u32>, _> = rx.iter().collect();
    /// assert_eq!(got?, [0, 1, 2]);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn iter<T: DeserializeOwned>(&self) -> Iter<'_, T, D> {
        Iter {
            conn: self,
            done: false,
            _t: PhantomData,
        }
    }
}

/// Receives messages until end of file; see [`Connection::iter`].
#[must_use = "iterators do nothing unless consumed"]
pub struct Iter<'a, T, D: CanRecv = Duplex> {
    conn: &'a Connection<D>,
    done: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned, D: CanRecv> Iterator for Iter<'_, T, D> {
    type Item = Result<T, RecvError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.conn.recv() {
            Ok(v) => Some(Ok(v)),
            Err(RecvError::Eof) => {
                self.done = true;
                None
            }
            Err(e @ RecvError::Decode(_)) => Some(Err(e)),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl<T, D: CanRecv> fmt::Debug for Iter<'_, T, D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Iter")
            .field("conn", self.conn)
            .field("done", &self.done)
            .finish()
    }
}

impl<D: Direction> AsFd for Connection<D> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.end.fd()
    }
}

impl<D: Direction> AsRawFd for Connection<D> {
    fn as_raw_fd(&self) -> RawFd {
        self.fileno()
    }
}

impl<D: Direction> fmt::Debug for Connection<D> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (send, recv) = self.end.state();
        let mut s = f.debug_struct("Connection");
        s.field("fd", &self.fileno())
            .field("direction", &D::NAME)
            .field(
                "kind",
                &if self.end.is_socket() {
                    "socket"
                } else {
                    "pipe"
                },
            );
        if D::NAME != RecvOnly::NAME {
            s.field("send", &send);
        }
        if D::NAME != SendOnly::NAME {
            s.field("recv", &recv);
        }
        s.finish()
    }
}

/// A connection travels to a child process as an argument: its descriptor goes through the
/// transfer side table ([`transfer`](crate::transfer)). Inside an ordinary message it refuses to
/// serialise. The child's copy starts with fresh state (nothing half-sent or half-received).
impl<D: Direction> Serialize for Connection<D> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::transfer::serialize_fd(self.end.fd(), s)
    }
}

impl<'de, D: Direction> Deserialize<'de> for Connection<D> {
    fn deserialize<De: Deserializer<'de>>(d: De) -> Result<Self, De::Error> {
        let fd = crate::transfer::deserialize_fd(d)?;
        let socket = sysfd::is_socket(fd.as_fd());
        if D::NAME == Duplex::NAME && !socket {
            return Err(serde::de::Error::custom(
                "a duplex connection needs a socket descriptor",
            ));
        }
        Ok(Connection::from_end(fd, socket))
    }
}

/// Waits until at least one of `objects` is ready, or until `timeout` passes (`None`: no
/// limit): Python's `multiprocessing.connection.wait`. Returns the indices of the ready
/// objects, in order; empty if the time ran out.
///
/// "Ready" means readable: a connection with a message (or end of file) waiting, or any
/// descriptor such as a process's pidfd sentinel, which becomes readable when the process
/// exits. An empty `objects` returns at once (waiting forever on nothing would hang).
///
/// A receiving end that already read a one-way pipe's end marker
/// ([`shutdown_send`](Connection::shutdown_send)) knows it is at end of file but its
/// descriptor may not be readable; check [`Connection::poll`] for such ends.
///
/// ```
/// use std::time::Duration;
/// use ipc_core::Pipe;
///
/// let (a1, b1) = Pipe::new()?;
/// let (a2, b2) = Pipe::new()?;
/// let (a3, b3) = Pipe::new()?;
/// a1.send(&1u8)?;
/// a3.send(&3u8)?;
/// let ready = ipc_core::pipe::wait(&[&b1, &b2, &b3], Some(Duration::from_secs(5)))?;
/// assert_eq!(ready, [0, 2]);
/// # drop((a2, b2));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn wait<F: AsFd>(objects: &[F], timeout: Option<Duration>) -> io::Result<Vec<usize>> {
    wait_until(objects, timeout.and_then(deadline_after))
}

/// Like [`wait`], until `deadline`.
pub fn wait_deadline<F: AsFd>(objects: &[F], deadline: Instant) -> io::Result<Vec<usize>> {
    wait_until(objects, Some(deadline))
}

fn wait_until<F: AsFd>(objects: &[F], deadline: Option<Instant>) -> io::Result<Vec<usize>> {
    if objects.is_empty() {
        return Ok(Vec::new());
    }
    let fds: Vec<BorrowedFd<'_>> = objects.iter().map(|o| o.as_fd()).collect();
    sysfd::poll_readable(&fds, deadline)
}
