//! The wire format of a pipe, and a frame reader that works on any byte source.
//!
//! A frame is an 8-byte header, the body, and zero padding up to [`MIN_FRAME`] bytes:
//!
//! ```text
//! bytes 0..4   body length, u32 little-endian (at most codec::MAX_MESSAGE_LEN)
//! bytes 4..8   check word, u32 little-endian: the length XOR a magic naming the frame kind
//!              (a message, or the end-of-stream marker of `shutdown_send` on a pipe)
//! bytes 8..    the body, then zeros until the frame is at least MIN_FRAME bytes long
//! ```
//!
//! **Why the padding.** Every frame is at least `MIN_FRAME` bytes, so a reader can always ask
//! the kernel for `MIN_FRAME` bytes first without any risk of reading past the end of the
//! frame. A small message (body up to [`INLINE`] bytes) therefore costs exactly one `read`,
//! and no byte of the *next* frame is ever taken into a private buffer. That matters because
//! an end may be shared: several processes may receive on copies of one end (each taking
//! whole messages under a lock, as in Python), and a forked child inherits an end; a
//! read-ahead buffer would steal or duplicate other readers' messages. The padding costs a
//! few dozen bytes of copying per small message, far less than a second system call.
//!
//! **Garbage.** The check word rejects a header that was not written by this module (random
//! bytes pass with probability 2⁻³²), and a length above the limit is refused *before*
//! anything is allocated. A long body is read into a buffer that grows only as bytes
//! actually arrive, so a peer that announces a gigabyte and sends nothing costs nothing.

use std::io;
use std::os::fd::BorrowedFd;

use super::error::RecvError;
use crate::codec::MAX_MESSAGE_LEN;
use crate::sys::fd as sysfd;

/// Length of a frame header.
pub(super) const HEADER_LEN: usize = 8;
/// Every frame is padded to at least this many bytes.
pub(super) const MIN_FRAME: usize = 128;
/// Bodies up to this length travel in a single minimum-size frame (one read, one write).
pub(super) const INLINE: usize = MIN_FRAME - HEADER_LEN;
/// A body up to this size gets its whole buffer at once; longer ones grow as bytes arrive.
pub(super) const UPFRONT: usize = 1 << 20;

const MAGIC_MESSAGE: u32 = 0x7050_6D31;
const MAGIC_END: u32 = 0x7050_6531;

/// What a frame header announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Head {
    /// A message with a body of this many bytes.
    Message(usize),
    /// The end-of-stream marker written by `shutdown_send` on a pipe.
    End,
}

/// The header of a frame. `len` above the limit is the caller's bug; it is written as
/// `u32::MAX`, which every reader refuses.
pub(super) fn encode_head(head: Head) -> [u8; HEADER_LEN] {
    let (len, magic) = match head {
        Head::Message(n) => (u32::try_from(n).unwrap_or(u32::MAX), MAGIC_MESSAGE),
        Head::End => (0, MAGIC_END),
    };
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&len.to_le_bytes());
    h[4..].copy_from_slice(&(len ^ magic).to_le_bytes());
    h
}

/// Parses a header; an unknown check word or an excessive length is an error.
pub(super) fn decode_head(h: [u8; HEADER_LEN]) -> Result<Head, RecvError> {
    let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
    let check = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
    if check ^ len == MAGIC_MESSAGE {
        let len = len as usize;
        if len > MAX_MESSAGE_LEN {
            return Err(RecvError::TooLong {
                len,
                limit: MAX_MESSAGE_LEN,
            });
        }
        Ok(Head::Message(len))
    } else if len == 0 && check == MAGIC_END {
        Ok(Head::End)
    } else {
        Err(RecvError::BadFrame)
    }
}

/// Total bytes on the wire for a body of `len` bytes.
#[cfg(test)]
pub(super) fn frame_len(len: usize) -> usize {
    (HEADER_LEN + len).max(MIN_FRAME)
}

/// A whole frame for `body` (tests build streams with it; the send path writes the same
/// bytes without building a vector).
#[cfg(test)]
pub(super) fn frame_bytes(body: &[u8]) -> Vec<u8> {
    let mut v = encode_head(Head::Message(body.len())).to_vec();
    v.extend_from_slice(body);
    v.resize(frame_len(body.len()), 0);
    v
}

/// Something frames are read from: a descriptor, or bytes in memory (tests).
pub(super) trait Source {
    /// Reads at least one byte into `buf` (which is never empty), or returns `Ok(0)` at end of
    /// file.
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize>;
}

/// Reads from a pipe or socket. A reset connection (the peer closed a socket with unread data
/// in its own receive queue) counts as end of file: the peer is gone either way.
pub(super) struct FdSource<'a>(pub(super) BorrowedFd<'a>);

impl Source for FdSource<'_> {
    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match sysfd::read_some(self.0, buf) {
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => Ok(0),
            r => r,
        }
    }
}

/// A failed frame read. `fatal` means the stream lost its framing (a partial frame was
/// consumed, or the header was not trustworthy): the end can no longer receive.
#[derive(Debug)]
pub(super) struct Fail {
    pub(super) err: RecvError,
    pub(super) fatal: bool,
}

impl Fail {
    fn clean(err: RecvError) -> Fail {
        Fail { err, fatal: false }
    }
    fn fatal(err: RecvError) -> Fail {
        Fail { err, fatal: true }
    }
}

/// Reads the first [`MIN_FRAME`] bytes of the next frame into `small` and parses its header.
///
/// The body starts at `small[HEADER_LEN]`; its first `min(len, INLINE)` bytes are there.
/// Stops as soon as a header is known to be bad, without waiting for more bytes.
pub(super) fn read_start(src: &mut impl Source, small: &mut [u8; MIN_FRAME]) -> Result<Head, Fail> {
    let mut got = 0usize;
    let mut head = None;
    loop {
        let n = match src.read_some(&mut small[got..]) {
            Ok(n) => n.min(MIN_FRAME - got),
            // Nothing of this frame consumed yet: the stream is still in step.
            Err(e) if got == 0 => return Err(Fail::clean(RecvError::Io(e))),
            Err(e) => return Err(Fail::fatal(RecvError::Io(e))),
        };
        if n == 0 {
            return Err(if got == 0 {
                Fail::clean(RecvError::Eof)
            } else {
                Fail::fatal(RecvError::Truncated)
            });
        }
        got += n;
        if head.is_none() && got >= HEADER_LEN {
            let mut h = [0u8; HEADER_LEN];
            h.copy_from_slice(&small[..HEADER_LEN]);
            head = Some(decode_head(h).map_err(Fail::fatal)?);
        }
        if got == MIN_FRAME {
            // `got >= HEADER_LEN`, so the header was parsed above.
            return head.ok_or(Fail::fatal(RecvError::BadFrame));
        }
    }
}

/// Fills `dst` completely from `src` (the rest of a body).
pub(super) fn read_rest_into_slice(src: &mut impl Source, dst: &mut [u8]) -> Result<(), Fail> {
    let mut filled = 0;
    while filled < dst.len() {
        match src.read_some(&mut dst[filled..]) {
            Ok(0) => return Err(Fail::fatal(RecvError::Truncated)),
            Ok(n) => filled += n,
            Err(e) => return Err(Fail::fatal(RecvError::Io(e))),
        }
    }
    Ok(())
}

/// Appends the `n` remaining body bytes to `out`, growing it only as bytes arrive: at most
/// [`UPFRONT`] bytes ahead of what has been received, doubling after that.
pub(super) fn read_rest_into_vec(
    src: &mut impl Source,
    out: &mut Vec<u8>,
    n: usize,
) -> Result<(), Fail> {
    let target = out.len() + n;
    out.reserve(n.min(UPFRONT));
    while out.len() < target {
        let start = out.len();
        let step = (target - start).min(start.max(UPFRONT));
        out.resize(start + step, 0);
        let mut filled = start;
        while filled < out.len() {
            match src.read_some(&mut out[filled..]) {
                Ok(0) => {
                    out.truncate(filled);
                    return Err(Fail::fatal(RecvError::Truncated));
                }
                Ok(k) => filled += k,
                Err(e) => {
                    out.truncate(filled);
                    return Err(Fail::fatal(RecvError::Io(e)));
                }
            }
        }
    }
    Ok(())
}

/// Reads and drops `n` body bytes, using `buf` (resized to at most 64 KiB) as scratch.
pub(super) fn discard(src: &mut impl Source, n: usize, buf: &mut Vec<u8>) -> Result<(), Fail> {
    buf.clear();
    buf.resize(n.min(64 * 1024), 0);
    let mut left = n;
    while left > 0 {
        let want = left.min(buf.len());
        match src.read_some(&mut buf[..want]) {
            Ok(0) => return Err(Fail::fatal(RecvError::Truncated)),
            Ok(k) => left -= k.min(left),
            Err(e) => return Err(Fail::fatal(RecvError::Io(e))),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Bytes in memory, handed out in chunks of the given sizes (cycled), then end of file.
    struct Chunked<'a> {
        data: &'a [u8],
        chunks: Vec<usize>,
        i: usize,
    }

    impl Source for Chunked<'_> {
        fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let c = self.chunks[self.i % self.chunks.len()].max(1);
            self.i += 1;
            let n = c.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Reads one whole frame body the way the receive path does.
    fn read_frame(src: &mut impl Source) -> Result<Option<Vec<u8>>, Fail> {
        let mut small = [0u8; MIN_FRAME];
        match read_start(src, &mut small)? {
            Head::End => Ok(None),
            Head::Message(len) => {
                let first = len.min(INLINE);
                let mut out = small[HEADER_LEN..HEADER_LEN + first].to_vec();
                read_rest_into_vec(src, &mut out, len - first)?;
                Ok(Some(out))
            }
        }
    }

    #[test]
    fn header_round_trips_and_rejects_garbage() {
        assert_eq!(
            decode_head(encode_head(Head::Message(5))).unwrap(),
            Head::Message(5)
        );
        assert_eq!(decode_head(encode_head(Head::End)).unwrap(), Head::End);
        assert!(matches!(
            decode_head(encode_head(Head::Message(usize::MAX))),
            Err(RecvError::TooLong { .. })
        ));
        assert!(matches!(decode_head([0; 8]), Err(RecvError::BadFrame)));
    }

    #[test]
    fn small_frame_is_one_read_and_never_reads_ahead() {
        let mut stream = frame_bytes(b"one");
        stream.extend(frame_bytes(b"two"));
        let mut src = Chunked {
            data: &stream,
            chunks: vec![usize::MAX],
            i: 0,
        };
        assert_eq!(read_frame(&mut src).unwrap().unwrap(), b"one");
        assert_eq!(src.i, 1, "one read for a small frame");
        assert_eq!(src.data.len(), MIN_FRAME, "the next frame is untouched");
        assert_eq!(read_frame(&mut src).unwrap().unwrap(), b"two");
        assert!(matches!(
            read_frame(&mut src),
            Err(Fail {
                err: RecvError::Eof,
                fatal: false
            })
        ));
    }

    proptest! {
        #[test]
        fn random_bytes_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..2048),
            chunks in proptest::collection::vec(1usize..300, 1..8),
        ) {
            let mut src = Chunked { data: &data, chunks, i: 0 };
            for _ in 0..64 {
                match read_frame(&mut src) {
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        }

        #[test]
        fn valid_streams_round_trip_and_truncation_is_detected(
            bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..400), 0..6),
            chunks in proptest::collection::vec(1usize..300, 1..8),
            cut in any::<prop::sample::Index>(),
        ) {
            let stream: Vec<u8> = bodies.iter().flat_map(|b| frame_bytes(b)).collect();
            let cut = if stream.is_empty() { 0 } else { cut.index(stream.len() + 1) };
            let mut src = Chunked { data: &stream[..cut], chunks, i: 0 };
            let mut at = 0usize;
            let mut got = Vec::new();
            loop {
                match read_frame(&mut src) {
                    Ok(Some(b)) => {
                        at += frame_len(b.len());
                        got.push(b);
                    }
                    Ok(None) => prop_assert!(false, "no end marker was written"),
                    Err(Fail { err: RecvError::Eof, fatal: false }) => {
                        prop_assert_eq!(at, cut, "clean end of file only on a frame boundary");
                        break;
                    }
                    Err(Fail { err: RecvError::Truncated, fatal: true }) => {
                        prop_assert!(at < cut);
                        break;
                    }
                    Err(f) => prop_assert!(false, "unexpected {:?}", f),
                }
            }
            prop_assert_eq!(&got[..], &bodies[..got.len()]);
        }
    }
}
