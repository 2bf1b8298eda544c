//! The byte ring in shared memory that every queue is built on.
//!
//! # Layout
//! A [`RingState`] header (atomics) followed by a data area of `capacity` bytes, a power of
//! two. Positions are byte counts that only grow (modulo 2^40); `position % capacity` is the
//! offset in the data area. `head` is where the next chunk is written, `tail` where the next
//! chunk is read; both words also carry, in their top 24 bits, the number of messages
//! completed at that end, so that publishing a message's last chunk and counting the message
//! is one atomic store — `qsize` is exact, and a crash can never leave the two disagreeing.
//!
//! # Chunks
//! A message is written as one or more chunks: an 8-byte header (`len: u32`, `flags: u32`) and
//! `len` payload bytes padded to 8. A message that fits is one `FIRST|LAST` chunk; a larger one
//! streams through the ring in pieces while the reader consumes them. One writer and one reader
//! at a time hold the ring's writer and reader locks for a whole message.
//!
//! # Crashes
//! Both locks are robust ([`RawLock`]): the next party to take a lock from a dead holder
//! repairs what it left. A writer that died mid-message leaves `msg_open` set; whoever takes
//! the writer lock over appends an `ABORT` chunk, and the reader discards the partial message.
//! (A reader waiting for the rest of a message that will never come takes the writer lock over
//! itself.) A reader that died mid-message leaves `reader_in_msg` set; the next reader skips
//! the rest of that message. The writer always leaves [`SLACK`] bytes free so that an `ABORT`
//! fits even in a full ring.
//!
//! # Memory
//! Queues reserve a large sparse ring (pages are only allocated when touched). When the
//! writer is past [`SOFT_END`] and the reader keeps up, it emits a `SKIP` chunk to the end of
//! the ring and starts again at offset 0, so a steady stream keeps reusing the same resident
//! pages (no page faults); a burst runs on into the rest of the ring, and at the next wrap the
//! pages it touched beyond the first [`SOFT_END`] + [`KEEP_RESIDENT`] bytes are punched out,
//! so memory follows the bytes in flight, not the peak.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Instant;

use crate::region::{Shm, ShmSafe};
use crate::sync::notifier::Notifier;
use crate::sync::raw::{Acquired, RawLock};
use crate::sys::proc;

const POS_BITS: u32 = 40;
const POS_MASK: u64 = (1 << POS_BITS) - 1;
/// The largest number of messages a ring holds at once.
pub(crate) const MAX_ITEMS: u64 = (1 << (64 - POS_BITS)) - 1;

const HDR: usize = 8;
/// Space the writer never fills, so that an ABORT chunk always fits.
const SLACK: usize = HDR;
/// Offset beyond which the writer wraps to 0 early when the reader keeps up.
const SOFT_END: usize = 2 * 1024 * 1024;
/// Touched pages beyond [`SOFT_END`] that are kept resident when the ring wraps (the rest of
/// a burst's pages are given back).
const KEEP_RESIDENT: usize = 8 * 1024 * 1024;
/// Free touched bytes worth a hole-punch at a wrap.
const TRIM_MIN: usize = 4 * 1024 * 1024;
/// Smallest chunk payload when a message has to stream.
const MIN_STREAM_CHUNK: usize = 4096;
const PAGE: usize = 4096;

const FIRST: u32 = 1;
const LAST: u32 = 2;
const SKIP: u32 = 4;
const ABORT: u32 = 8;

#[inline]
fn pos(w: u64) -> u64 {
    w & POS_MASK
}
#[inline]
fn cnt(w: u64) -> u64 {
    w >> POS_BITS
}
#[inline]
fn pack(pos: u64, cnt: u64) -> u64 {
    (pos & POS_MASK) | ((cnt & MAX_ITEMS) << POS_BITS)
}
#[inline]
fn pad8(n: usize) -> usize {
    (n + 7) & !7
}

/// Configuration, written once at creation and read by everyone.
#[repr(C, align(128))]
#[derive(Debug)]
struct Config {
    /// Data area size in bytes (a power of two).
    capacity: AtomicU64,
    /// Item limit (0: only [`MAX_ITEMS`]).
    maxsize: AtomicU32,
}

/// What producers write (one cache-line pair of its own, so that a consumer on another core
/// does not bounce it: `head` is the only word here a consumer reads).
#[repr(C, align(128))]
#[derive(Debug)]
struct WriterSide {
    write_lock: RawLock,
    /// The writer has published chunks of a message whose last chunk is not written yet.
    msg_open: AtomicU32,
    head: AtomicU64,
    /// Highest data offset written since the last trim.
    high_water: AtomicU64,
}

/// What consumers write (`tail` is the only word here a producer reads).
#[repr(C, align(128))]
#[derive(Debug)]
struct ReaderSide {
    read_lock: RawLock,
    /// The reader has consumed chunks of a message whose last chunk it has not consumed.
    reader_in_msg: AtomicU32,
    tail: AtomicU64,
}

/// A notifier on a line of its own.
#[repr(C, align(128))]
#[derive(Debug)]
struct Padded<T>(T);

impl<T> std::ops::Deref for Padded<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// The shared header of a ring: producer-side and consumer-side words on separate cache
/// lines (128-byte aligned, for adjacent-line prefetching), so that a producer and a consumer
/// on two cores do not make each other's lines bounce.
#[repr(C)]
#[derive(Debug)]
pub(crate) struct RingState {
    config: Config,
    writer: WriterSide,
    reader: ReaderSide,
    /// Readers sleep here until data is published.
    data: Padded<Notifier>,
    /// Writers sleep here until space or an item slot is freed.
    space: Padded<Notifier>,
    /// JoinableQueue::join sleeps here until no task is unfinished.
    joined: Notifier,
    /// JoinableQueue: items put and not yet marked done.
    unfinished: AtomicU64,
}

// SAFETY: `#[repr(C)]`, only atomics (no pointers or descriptors); all-zero is a valid state
// (checked at attach: a zero capacity is rejected).
unsafe impl ShmSafe for RingState {}

/// Why a ring operation did not complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RingError {
    /// The deadline passed (for a put: the queue stayed full; for a get: it stayed empty).
    Timeout,
}

/// Why [`Ring::put_with`] did not complete.
#[derive(Debug)]
pub(crate) enum PutWithError<E> {
    /// The deadline passed.
    Timeout,
    /// The encoder failed; nothing was published.
    Encode(E),
}

/// How [`Ring::get_locked`] found the next message.
enum Got {
    /// Assembled in the caller's buffer; the tail has moved past it.
    Assembled,
    /// One contiguous chunk at ring position `at` with `len` payload bytes; the tail has not
    /// moved yet (the caller reads it in place, then calls `consume_single`).
    InPlace { at: u64, len: usize },
}

/// A handle to a shared byte ring.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct Ring {
    shm: Shm<RingState>,
}

impl Ring {
    /// Creates a ring with a data area of `capacity` bytes (rounded up to a power of two, at
    /// least 4 KiB) and an item limit (`0`: unbounded).
    pub(crate) fn create(capacity: usize, maxsize: u32) -> std::io::Result<Ring> {
        let capacity = capacity
            .clamp(PAGE, 1 << (POS_BITS - 1))
            .next_power_of_two();
        let shm = Shm::<RingState>::create("procpool-queue", capacity)?;
        shm.config
            .capacity
            .store(capacity as u64, Ordering::Relaxed);
        shm.config.maxsize.store(maxsize, Ordering::Relaxed);
        Ok(Ring { shm })
    }

    /// Checks a ring received from another process.
    pub(crate) fn validate(&self) -> Result<(), &'static str> {
        let cap = self.shm.config.capacity.load(Ordering::Relaxed) as usize;
        if cap < PAGE || !cap.is_power_of_two() || self.shm.data().1 < cap {
            return Err("corrupt queue header");
        }
        Ok(())
    }

    fn cap(&self) -> usize {
        self.shm.config.capacity.load(Ordering::Relaxed) as usize
    }

    fn item_limit(&self) -> u64 {
        match self.shm.config.maxsize.load(Ordering::Relaxed) {
            0 => MAX_ITEMS,
            m => u64::from(m),
        }
    }

    /// The item limit given at creation (0 = unbounded).
    pub(crate) fn maxsize(&self) -> u32 {
        self.shm.config.maxsize.load(Ordering::Relaxed)
    }

    /// Messages in the ring, exactly (a snapshot).
    pub(crate) fn len(&self) -> u64 {
        let t = self.shm.reader.tail.load(Ordering::Acquire);
        let h = self.shm.writer.head.load(Ordering::Acquire);
        cnt(h).wrapping_sub(cnt(t)) & MAX_ITEMS
    }

    /// Whether a put would have to wait for an item slot (a snapshot).
    pub(crate) fn is_full(&self) -> bool {
        self.shm.config.maxsize.load(Ordering::Relaxed) != 0 && self.len() >= self.item_limit()
    }

    /// Data bytes in flight, headers included (a snapshot).
    #[cfg(test)]
    pub(crate) fn bytes_in_flight(&self) -> u64 {
        let t = self.shm.reader.tail.load(Ordering::Acquire);
        let h = self.shm.writer.head.load(Ordering::Acquire);
        pos(h).wrapping_sub(pos(t)) & POS_MASK
    }

    /// The memfd behind the ring (tests inspect its allocated size).
    #[cfg(test)]
    pub(crate) fn shm_fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.shm.region().fd()
    }

    fn data_offset(&self) -> usize {
        self.shm.data_offset()
    }

    /// Copies `src` into the data area at ring position `at`, wrapping at the end.
    fn copy_in(&self, at: u64, src: &[u8]) {
        let cap = self.cap();
        let off = (at as usize) & (cap - 1);
        let first = src.len().min(cap - off);
        let base = self.data_offset();
        let region = self.shm.region();
        region.write_at(base + off, &src[..first]);
        if first < src.len() {
            region.write_at(base, &src[first..]);
        }
    }

    /// Appends `len` bytes from ring position `at` to `out`, wrapping at the end.
    fn copy_out(&self, at: u64, len: usize, out: &mut Vec<u8>) {
        let cap = self.cap();
        let off = (at as usize) & (cap - 1);
        let first = len.min(cap - off);
        let base = self.data_offset();
        let region = self.shm.region();
        let start = out.len();
        out.resize(start + len, 0);
        region.read_at(base + off, &mut out[start..start + first]);
        if first < len {
            region.read_at(base, &mut out[start + first..]);
        }
    }

    fn write_header(&self, at: u64, len: u32, flags: u32) {
        let mut h = [0u8; HDR];
        h[..4].copy_from_slice(&len.to_le_bytes());
        h[4..].copy_from_slice(&flags.to_le_bytes());
        self.copy_in(at, &h);
    }

    fn read_header(&self, at: u64) -> (u32, u32) {
        let cap = self.cap();
        let off = (at as usize) & (cap - 1);
        let mut h = [0u8; HDR];
        self.shm.region().read_at(self.data_offset() + off, &mut h);
        let len = u32::from_le_bytes([h[0], h[1], h[2], h[3]]);
        let flags = u32::from_le_bytes([h[4], h[5], h[6], h[7]]);
        (len, flags)
    }

    // ----- waiting -------------------------------------------------------------------------

    fn wake_readers(&self) {
        self.shm.data.notify();
    }

    fn wake_writers(&self) {
        self.shm.space.notify();
    }

    // ----- writing -------------------------------------------------------------------------

    fn free_bytes(&self, head: u64) -> usize {
        let t = self.shm.reader.tail.load(Ordering::Acquire);
        let used = (pos(head).wrapping_sub(pos(t)) & POS_MASK) as usize;
        self.cap().saturating_sub(used)
    }

    fn items_at(&self, head: u64) -> u64 {
        let t = self.shm.reader.tail.load(Ordering::Acquire);
        cnt(head).wrapping_sub(cnt(t)) & MAX_ITEMS
    }

    /// Repairs a message left half-written by a dead writer. Caller holds the writer lock.
    fn abort_open_message(&self) {
        if self.shm.writer.msg_open.load(Ordering::Relaxed) == 0 {
            return;
        }
        let h = self.shm.writer.head.load(Ordering::Relaxed);
        // SLACK guarantees room for this header.
        self.write_header(pos(h), 0, ABORT);
        self.shm
            .writer
            .head
            .store(pack(pos(h) + HDR as u64, cnt(h)), Ordering::Release);
        self.shm.writer.msg_open.store(0, Ordering::Relaxed);
        log::warn!("queue: discarded a message left half-written by a dead producer");
        self.wake_readers();
    }

    /// Wraps the writer back to offset 0 early, when it is past [`SOFT_END`] and the bytes in
    /// flight plus the next message fit before the current offset, so that a steady stream
    /// keeps reusing the same resident pages instead of touching fresh ones all over a large
    /// ring. At a wrap every page outside `[tail, head)` is free, so the pages touched by an
    /// earlier burst are given back. Caller holds the writer lock. Returns the new head.
    fn maybe_wrap(&self, h: u64, need: usize) -> u64 {
        let cap = self.cap();
        let off = (pos(h) as usize) & (cap - 1);
        if off <= SOFT_END || cap <= 2 * SOFT_END {
            return h;
        }
        let t = self.shm.reader.tail.load(Ordering::Acquire);
        let in_flight = (pos(h).wrapping_sub(pos(t)) & POS_MASK) as usize;
        if in_flight + need > off {
            return h; // the reader lags: keep going forward (a burst)
        }
        // Live data is [tail, head) within this lap: tail's offset is in [need, off].
        let off_t = off - in_flight;
        let skip = cap - off;
        self.write_header(pos(h), (skip - HDR) as u32, SKIP);
        let nh = pack(pos(h) + skip as u64, cnt(h));
        self.shm.writer.head.store(nh, Ordering::Release);
        self.wake_readers();
        let base = self.data_offset();
        let region = self.shm.region();
        // Pages below KEEP_END stay: a producer that runs ahead of its consumer for a time
        // slice (two processes on one core) reuses them instead of faulting in fresh ones.
        let keep_end = SOFT_END + KEEP_RESIDENT;
        let low_end = off_t & !(PAGE - 1);
        if low_end > keep_end + TRIM_MIN {
            let _ = region.punch_hole(base + keep_end, low_end - keep_end);
        }
        let high_from = (off + HDR).next_multiple_of(PAGE).max(keep_end);
        let high = self.shm.writer.high_water.load(Ordering::Relaxed) as usize;
        if high > high_from + TRIM_MIN {
            let _ = region.punch_hole(base + high_from, high.min(cap) - high_from);
        }
        self.shm
            .writer
            .high_water
            .store((off + HDR) as u64, Ordering::Relaxed);
        nh
    }

    /// Appends one message produced by an encoder, writing it straight into the ring when it
    /// fits in the contiguous free space (one copy instead of two), else encoding it into
    /// `scratch` and streaming it like [`put`](Ring::put).
    ///
    /// `direct` encodes into a slice and returns the length, or `None` if the slice is too
    /// small; `fallback` encodes into a vector. An encoder error is returned as is, and
    /// nothing is published.
    pub(crate) fn put_with<E>(
        &self,
        lock_deadline: Option<Instant>,
        deadline: Option<Instant>,
        scratch: &mut Vec<u8>,
        direct: impl FnOnce(&mut [u8]) -> Result<Option<usize>, E>,
        fallback: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), PutWithError<E>> {
        let me = proc::pid();
        match self.shm.writer.write_lock.lock(me, lock_deadline) {
            None => return Err(PutWithError::Timeout),
            Some(Acquired::OwnerDied) => self.abort_open_message(),
            Some(Acquired::Clean) => {}
        }
        let r = self.put_with_locked(deadline, scratch, direct, fallback);
        let _ = self.shm.writer.write_lock.unlock();
        r
    }

    fn put_with_locked<E>(
        &self,
        deadline: Option<Instant>,
        scratch: &mut Vec<u8>,
        direct: impl FnOnce(&mut [u8]) -> Result<Option<usize>, E>,
        fallback: impl FnOnce(&mut Vec<u8>) -> Result<(), E>,
    ) -> Result<(), PutWithError<E>> {
        let cap = self.cap();
        let limit = self.item_limit();
        let min_need = HDR + 8 + SLACK;
        let h = self.shm.writer.head.load(Ordering::Relaxed);
        let ready = |h: u64| self.items_at(h) < limit && self.free_bytes(h) >= min_need;
        if !ready(h) && !self.shm.space.wait(deadline, || ready(h), || {}) {
            return Err(PutWithError::Timeout);
        }
        let h = self.maybe_wrap(h, min_need);
        let off = (pos(h) as usize) & (cap - 1);
        let avail = ((self.free_bytes(h) - HDR - SLACK) & !7).min(cap - off - HDR);
        let base = self.data_offset() + off + HDR;
        match self.shm.region().with_slice_mut(base, avail, direct) {
            Ok(Some(n)) if pad8(n) <= avail => {
                self.write_header(pos(h), n as u32, FIRST | LAST);
                let end = (off + HDR + pad8(n)) as u64;
                if end > self.shm.writer.high_water.load(Ordering::Relaxed) {
                    self.shm.writer.high_water.store(end, Ordering::Relaxed);
                }
                let nh = pack(pos(h) + (HDR + pad8(n)) as u64, cnt(h) + 1);
                self.shm.writer.head.store(nh, Ordering::Release);
                self.wake_readers();
                Ok(())
            }
            Ok(_) => {
                scratch.clear();
                fallback(scratch).map_err(PutWithError::Encode)?;
                self.put_locked(scratch, deadline)
                    .map_err(|RingError::Timeout| PutWithError::Timeout)
            }
            Err(e) => Err(PutWithError::Encode(e)),
        }
    }

    fn put_locked(&self, msg: &[u8], deadline: Option<Instant>) -> Result<(), RingError> {
        let cap = self.cap();
        let limit = self.item_limit();
        let whole = HDR + pad8(msg.len()) + SLACK;
        // A streamed chunk must fit in the ring with its header and the slack (the smallest
        // ring, 4 KiB, cannot hold a MIN_STREAM_CHUNK one).
        let min_chunk = MIN_STREAM_CHUNK.min(cap / 2);
        // Wait for an item slot and, if the message fits in the ring, room for all of it.
        let first_need = if whole <= cap {
            whole
        } else {
            HDR + min_chunk + SLACK
        };
        let mut h = self.shm.writer.head.load(Ordering::Relaxed);
        let ready = |h: u64| self.items_at(h) < limit && self.free_bytes(h) >= first_need;
        if !ready(h) {
            let ok = self.shm.space.wait(deadline, || ready(h), || {});
            if !ok {
                return Err(RingError::Timeout);
            }
        }
        h = self.maybe_wrap(h, first_need);
        let mut rest = msg;
        let mut first = true;
        loop {
            let mut free = self.free_bytes(h);
            let need = if HDR + pad8(rest.len()) + SLACK <= cap {
                HDR + pad8(rest.len()) + SLACK
            } else {
                HDR + min_chunk + SLACK
            };
            if free < need {
                let ok = self
                    .shm
                    .space
                    .wait(deadline, || self.free_bytes(h) >= need, || {});
                if !ok {
                    if !first {
                        self.abort_open_message();
                    }
                    return Err(RingError::Timeout);
                }
                free = self.free_bytes(h);
            }
            let room = (free - HDR - SLACK) & !7;
            let n = rest.len().min(room).min(u32::MAX as usize & !7);
            let last = n == rest.len();
            let flags = (if first { FIRST } else { 0 }) | (if last { LAST } else { 0 });
            self.write_header(pos(h), n as u32, flags);
            self.copy_in(pos(h) + HDR as u64, &rest[..n]);
            let advance = (HDR + pad8(n)) as u64;
            let end_off = ((pos(h) as usize) & (cap - 1)) + HDR + pad8(n);
            if end_off as u64 > self.shm.writer.high_water.load(Ordering::Relaxed) {
                self.shm
                    .writer
                    .high_water
                    .store(end_off.min(cap) as u64, Ordering::Relaxed);
            }
            if !last && first {
                self.shm.writer.msg_open.store(1, Ordering::Relaxed);
            }
            let nh = pack(pos(h) + advance, cnt(h) + u64::from(last));
            self.shm.writer.head.store(nh, Ordering::Release);
            self.wake_readers();
            if last {
                if !first {
                    self.shm.writer.msg_open.store(0, Ordering::Relaxed);
                }
                return Ok(());
            }
            h = nh;
            rest = &rest[n..];
            first = false;
        }
    }

    // ----- reading -------------------------------------------------------------------------

    /// Takes the next message and hands its bytes to `f`: read in place when the message is
    /// one contiguous chunk (no copy), else assembled in `out` first. `lock_deadline` bounds
    /// the wait for other consumers; `deadline` bounds the wait for a message to begin; once a
    /// message has begun, the rest is awaited while its writer lives.
    pub(crate) fn get_with<R>(
        &self,
        out: &mut Vec<u8>,
        lock_deadline: Option<Instant>,
        deadline: Option<Instant>,
        f: impl FnOnce(&[u8]) -> R,
    ) -> Result<R, RingError> {
        let me = proc::pid();
        let mut discarding = match self.shm.reader.read_lock.lock(me, lock_deadline) {
            None => return Err(RingError::Timeout),
            Some(Acquired::OwnerDied) => {
                let was = self.shm.reader.reader_in_msg.swap(0, Ordering::Relaxed) != 0;
                if was {
                    log::warn!("queue: a consumer died mid-message; skipping the rest of it");
                }
                was
            }
            Some(Acquired::Clean) => false,
        };
        let r = match self.get_locked(out, deadline, &mut discarding) {
            Ok(Got::Assembled) => Ok(f(out)),
            Ok(Got::InPlace { at, len }) => {
                let off = (at as usize) & (self.cap() - 1);
                let v = self
                    .shm
                    .region()
                    .with_slice(self.data_offset() + off + HDR, len, f);
                let t = self.shm.reader.tail.load(Ordering::Relaxed);
                let nt = pack(pos(t) + (HDR + pad8(len)) as u64, cnt(t) + 1);
                self.shm.reader.tail.store(nt, Ordering::Release);
                self.wake_writers();
                Ok(v)
            }
            Err(e) => Err(e),
        };
        let _ = self.shm.reader.read_lock.unlock();
        r
    }

    fn get_locked(
        &self,
        out: &mut Vec<u8>,
        deadline: Option<Instant>,
        discarding: &mut bool,
    ) -> Result<Got, RingError> {
        out.clear();
        let mut in_msg = false;
        let me = proc::pid();
        loop {
            let t = self.shm.reader.tail.load(Ordering::Relaxed);
            let has_data = || pos(self.shm.writer.head.load(Ordering::Acquire)) != pos(t);
            if !has_data() {
                // Mid-message the deadline no longer applies: the rest is on its way unless its
                // writer died, which the liveness check repairs.
                let wait_deadline = if in_msg || *discarding {
                    None
                } else {
                    deadline
                };
                let ok = self.shm.data.wait(wait_deadline, has_data, || {
                    if self.shm.writer.msg_open.load(Ordering::Relaxed) != 0
                        && self.shm.writer.write_lock.take_over_if_dead(me)
                    {
                        self.abort_open_message();
                        let _ = self.shm.writer.write_lock.unlock();
                    }
                });
                if !ok {
                    return Err(RingError::Timeout);
                }
            }
            let (len, flags) = self.read_header(pos(t));
            let len = len as usize;
            let cap = self.cap();
            if flags & SKIP != 0 {
                let skip = HDR + len;
                self.shm
                    .reader
                    .tail
                    .store(pack(pos(t) + skip as u64, cnt(t)), Ordering::Release);
                self.wake_writers();
                continue;
            }
            if flags & ABORT != 0 {
                out.clear();
                in_msg = false;
                *discarding = false;
                self.shm.reader.reader_in_msg.store(0, Ordering::Relaxed);
                self.shm
                    .reader
                    .tail
                    .store(pack(pos(t) + HDR as u64, cnt(t)), Ordering::Release);
                self.wake_writers();
                continue;
            }
            if HDR + pad8(len) > cap {
                // Cannot happen with a well-behaved writer; resynchronise by dropping all.
                log::error!("queue: corrupt chunk header (len {len}); discarding queue contents");
                let h = self.shm.writer.head.load(Ordering::Acquire);
                self.shm
                    .reader
                    .tail
                    .store(pack(pos(h), cnt(h)), Ordering::Release);
                self.wake_writers();
                out.clear();
                in_msg = false;
                continue;
            }
            let first = flags & FIRST != 0;
            let last = flags & LAST != 0;
            let off = (pos(t) as usize) & (cap - 1);
            if first && last && off + HDR + len <= cap {
                // The common case: a whole message in one contiguous chunk. Read in place.
                *discarding = false;
                return Ok(Got::InPlace { at: pos(t), len });
            }
            if first {
                out.clear();
                *discarding = false;
                in_msg = true;
            }
            let keep = in_msg && !*discarding;
            if keep {
                self.copy_out(pos(t) + HDR as u64, len, out);
            }
            if !last {
                self.shm.reader.reader_in_msg.store(1, Ordering::Relaxed);
            }
            let nt = pack(pos(t) + (HDR + pad8(len)) as u64, cnt(t) + u64::from(last));
            if last {
                self.shm.reader.reader_in_msg.store(0, Ordering::Relaxed);
            }
            self.shm.reader.tail.store(nt, Ordering::Release);
            self.wake_writers();
            if last {
                if keep {
                    return Ok(Got::Assembled);
                }
                // The tail of a message a dead consumer had begun: it is gone now.
                *discarding = false;
                in_msg = false;
                out.clear();
            }
        }
    }

    // ----- JoinableQueue accounting ---------------------------------------------------------

    /// Counts one more unfinished task.
    pub(crate) fn add_unfinished(&self) {
        self.shm.unfinished.fetch_add(1, Ordering::AcqRel);
    }

    /// Takes back an unfinished count added for a put that then failed.
    pub(crate) fn undo_unfinished(&self) {
        let _ = self.task_done();
    }

    /// Marks one task done. `Err(())` if none is unfinished.
    pub(crate) fn task_done(&self) -> Result<(), ()> {
        let mut cur = self.shm.unfinished.load(Ordering::Acquire);
        loop {
            if cur == 0 {
                return Err(());
            }
            match self.shm.unfinished.compare_exchange_weak(
                cur,
                cur - 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => break,
                Err(v) => cur = v,
            }
        }
        if cur == 1 {
            self.shm.joined.notify();
        }
        Ok(())
    }

    /// Unfinished tasks (a snapshot).
    pub(crate) fn unfinished(&self) -> u64 {
        self.shm.unfinished.load(Ordering::Acquire)
    }

    /// Waits until no task is unfinished. `false` on timeout.
    pub(crate) fn join(&self, deadline: Option<Instant>) -> bool {
        self.shm.joined.wait(
            deadline,
            || self.shm.unfinished.load(Ordering::Acquire) == 0,
            || {},
        )
    }
}
