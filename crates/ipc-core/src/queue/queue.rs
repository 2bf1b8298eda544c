//! [`Queue`]: Python's `multiprocessing.Queue`, on a shared-memory ring.

use std::cell::RefCell;
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::errors::{GetError, PutError};
use super::ring::{MAX_ITEMS, PutWithError, Ring, RingError};
use crate::codec;
use crate::sync::deadline_after;

/// Virtual size of a queue's ring unless the builder says otherwise: 1 GiB of address space,
/// of which only the pages holding bytes in flight are backed by memory.
pub const DEFAULT_CAPACITY: usize = 1 << 30;

/// How long the non-blocking forms wait for another producer or consumer that is in the
/// middle of an operation (they do not wait for items or room).
const TRY_LOCK_GRACE: Duration = Duration::from_millis(20);

/// Scratch buffers keep at most this much capacity between calls.
const SCRATCH_KEEP: usize = 1 << 20;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn with_scratch<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    SCRATCH.with(|s| match s.try_borrow_mut() {
        Ok(mut buf) => {
            let r = f(&mut buf);
            if buf.capacity() > SCRATCH_KEEP {
                *buf = Vec::new();
            } else {
                buf.clear();
            }
            r
        }
        // Re-entered (an item's Serialize impl uses a queue): use a fresh buffer.
        Err(_) => f(&mut Vec::new()),
    })
}

/// A FIFO queue shared between processes: Python's `multiprocessing.Queue`.
///
/// Any number of producer and consumer processes (and threads) may use it; each item is
/// delivered exactly once, to one consumer, in the order its producer put it. Items are any
/// `T: Serialize + DeserializeOwned`, encoded by [`codec`]. A clone is another handle to the
/// same queue; passed to a child process as an argument it reaches the same queue there.
///
/// `maxsize` counts items, as in Python (`0`: unbounded). An unbounded queue never blocks a
/// producer because no consumer has started yet: its ring reserves a large range of address
/// space and only the pages holding bytes in flight use memory. Messages of any size (up to
/// [`codec::MAX_MESSAGE_LEN`]) work, including messages larger than the ring, which stream.
///
/// ```
/// use ipc_core::Queue;
/// let q = Queue::<String>::new(2)?;
/// q.put("spam".to_string()).unwrap();
/// q.put("egg".to_string()).unwrap();
/// assert!(q.full());
/// assert!(q.try_put("ham".to_string()).unwrap_err().is_full());
/// assert_eq!(q.qsize(), 2);
/// assert_eq!(q.get().unwrap(), "spam");
/// assert_eq!(q.get().unwrap(), "egg");
/// assert!(q.get_timeout(std::time::Duration::from_millis(10)).unwrap_err().is_empty());
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Queue<T> {
    ring: Ring,
    closed: AtomicBool,
    _t: PhantomData<fn(T) -> T>,
}

/// Builds a [`Queue`] with a chosen ring size.
pub struct QueueBuilder<T> {
    maxsize: usize,
    capacity: usize,
    _t: PhantomData<fn(T) -> T>,
}

impl<T> fmt::Debug for QueueBuilder<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueBuilder")
            .field("maxsize", &self.maxsize)
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl<T: Serialize + DeserializeOwned> QueueBuilder<T> {
    /// Item limit (`0`: unbounded).
    pub fn maxsize(mut self, maxsize: usize) -> Self {
        self.maxsize = maxsize;
        self
    }

    /// Size of the ring in bytes (rounded up to a power of two, at least 4 KiB). Messages
    /// larger than the ring still work: they stream through it. Defaults to
    /// [`DEFAULT_CAPACITY`].
    pub fn capacity(mut self, bytes: usize) -> Self {
        self.capacity = bytes;
        self
    }

    /// Creates the queue.
    pub fn build(self) -> io::Result<Queue<T>> {
        if self.maxsize as u64 > MAX_ITEMS.min(u64::from(u32::MAX)) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("maxsize {} exceeds the limit {}", self.maxsize, MAX_ITEMS),
            ));
        }
        Ok(Queue::from_ring(Ring::create(
            self.capacity,
            self.maxsize as u32,
        )?))
    }
}

impl<T> Queue<T> {
    pub(crate) fn from_ring(ring: Ring) -> Self {
        Queue {
            ring,
            closed: AtomicBool::new(false),
            _t: PhantomData,
        }
    }

    pub(crate) fn ring(&self) -> &Ring {
        &self.ring
    }

    /// A builder, to choose the ring size as well as `maxsize`.
    pub fn builder() -> QueueBuilder<T> {
        QueueBuilder {
            maxsize: 0,
            capacity: DEFAULT_CAPACITY,
            _t: PhantomData,
        }
    }

    /// Number of items in the queue: exact at the moment of the call (unlike Python's, which
    /// is approximate and missing on macOS).
    pub fn qsize(&self) -> usize {
        self.ring.len() as usize
    }

    /// Whether the queue holds no item (a snapshot).
    pub fn empty(&self) -> bool {
        self.ring.len() == 0
    }

    /// Whether the queue holds `maxsize` items (a snapshot; always `false` when unbounded).
    pub fn full(&self) -> bool {
        self.ring.is_full()
    }

    /// The item limit given at creation (`0`: unbounded).
    pub fn maxsize(&self) -> usize {
        self.ring.maxsize() as usize
    }

    /// Closes this handle: further `put` and `get` on it fail with `Closed`. Other handles,
    /// in this and other processes, are unaffected, and items already put stay in the queue
    /// (nothing is lost: they are in shared memory already).
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
    }

    /// Whether [`close`](Queue::close) was called on this handle.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    /// Creates a queue holding at most `maxsize` items (`0`: unbounded).
    pub fn new(maxsize: usize) -> io::Result<Queue<T>> {
        Self::builder().maxsize(maxsize).build()
    }

    /// Creates an unbounded queue.
    pub fn unbounded() -> io::Result<Queue<T>> {
        Self::new(0)
    }

    fn put_inner(
        &self,
        item: T,
        lock_deadline: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Result<(), PutError<T>> {
        if self.is_closed() {
            return Err(PutError::Closed(item));
        }
        let r = with_scratch(|buf| {
            self.ring.put_with(
                lock_deadline,
                deadline,
                buf,
                |slice| codec::encode_into_slice(&item, slice),
                |vec| codec::encode_into(&item, vec),
            )
        });
        match r {
            Ok(()) => Ok(()),
            Err(PutWithError::Timeout) => Err(PutError::Full(item)),
            Err(PutWithError::Encode(e)) => Err(PutError::Encode(e, item)),
        }
    }

    /// Puts an item, waiting as long as the queue is full.
    pub fn put(&self, item: T) -> Result<(), PutError<T>> {
        self.put_inner(item, None, None)
    }

    /// Puts a value given by reference and encoded as a `U` whose encoding is that of a `T`:
    /// a borrowing mirror of `T` (say, with a [`&Bytes`](crate::Bytes) where `T` has a
    /// `ByteBuf`), so a large field is not copied into an owned `T` first. Waits as long as
    /// the queue is full. A `U` that does not encode like a `T` makes the consumer's `get`
    /// fail with [`GetError::Decode`] — nothing worse.
    ///
    /// ```
    /// use ipc_core::{ByteBuf, Queue};
    /// let q = Queue::<(u32, ByteBuf)>::new(0)?;
    /// let big = vec![7u8; 1 << 16];
    /// q.put_as(&(1u32, ipc_core::Bytes::new(&big))).unwrap(); // no copy of `big`
    /// assert_eq!(q.get().unwrap().1.len(), 1 << 16);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn put_as<U: Serialize + ?Sized>(&self, item: &U) -> Result<(), PutError<()>> {
        if self.is_closed() {
            return Err(PutError::Closed(()));
        }
        let r = with_scratch(|buf| {
            self.ring.put_with(
                None,
                None,
                buf,
                |slice| codec::encode_into_slice(item, slice),
                |vec| codec::encode_into(item, vec),
            )
        });
        match r {
            Ok(()) => Ok(()),
            Err(PutWithError::Timeout) => Err(PutError::Full(())),
            Err(PutWithError::Encode(e)) => Err(PutError::Encode(e, ())),
        }
    }

    /// Puts an item if there is room right now (Python's `put_nowait`).
    pub fn try_put(&self, item: T) -> Result<(), PutError<T>> {
        let now = Instant::now();
        self.put_inner(item, Some(now + TRY_LOCK_GRACE), Some(now))
    }

    /// Puts an item, waiting at most `timeout` for room.
    pub fn put_timeout(&self, item: T, timeout: Duration) -> Result<(), PutError<T>> {
        let d = deadline_after(timeout);
        self.put_inner(item, d, d)
    }

    /// Puts an item, waiting until `deadline` for room.
    pub fn put_deadline(&self, item: T, deadline: Instant) -> Result<(), PutError<T>> {
        self.put_inner(item, Some(deadline), Some(deadline))
    }

    /// Python's `put_nowait`: same as [`try_put`](Queue::try_put).
    pub fn put_nowait(&self, item: T) -> Result<(), PutError<T>> {
        self.try_put(item)
    }

    fn get_inner(
        &self,
        lock_deadline: Option<Instant>,
        deadline: Option<Instant>,
    ) -> Result<T, GetError> {
        if self.is_closed() {
            return Err(GetError::Closed);
        }
        with_scratch(|buf| {
            match self
                .ring
                .get_with(buf, lock_deadline, deadline, codec::decode)
            {
                Ok(item) => item.map_err(GetError::Decode),
                Err(RingError::Timeout) => Err(GetError::Empty),
            }
        })
    }

    /// Takes the next item, waiting as long as the queue is empty.
    pub fn get(&self) -> Result<T, GetError> {
        self.get_inner(None, None)
    }

    /// Takes the next item if there is one right now (Python's `get_nowait`).
    pub fn try_get(&self) -> Result<T, GetError> {
        let now = Instant::now();
        self.get_inner(Some(now + TRY_LOCK_GRACE), Some(now))
    }

    /// Takes the next item, waiting at most `timeout` for one.
    pub fn get_timeout(&self, timeout: Duration) -> Result<T, GetError> {
        let d = deadline_after(timeout);
        self.get_inner(d, d)
    }

    /// Takes the next item, waiting until `deadline` for one.
    pub fn get_deadline(&self, deadline: Instant) -> Result<T, GetError> {
        self.get_inner(Some(deadline), Some(deadline))
    }

    /// Python's `get_nowait`: same as [`try_get`](Queue::try_get).
    pub fn get_nowait(&self) -> Result<T, GetError> {
        self.try_get()
    }

    /// An iterator that blocks on [`get`](Queue::get) and ends at the first error (for
    /// instance after [`close`](Queue::close)). Decode errors end it too.
    pub fn iter(&self) -> impl Iterator<Item = T> + '_ {
        std::iter::from_fn(move || self.get().ok())
    }
}

impl<T> Clone for Queue<T> {
    /// Another handle to the same queue (not closed, whatever this one is).
    fn clone(&self) -> Self {
        Queue::from_ring(self.ring.clone())
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("qsize", &self.ring.len())
            .field("maxsize", &self.ring.maxsize())
            .field("closed", &self.is_closed())
            .finish()
    }
}

impl<T> Serialize for Queue<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.ring.serialize(s)
    }
}

impl<'de, T> Deserialize<'de> for Queue<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let ring = Ring::deserialize(d)?;
        ring.validate().map_err(serde::de::Error::custom)?;
        Ok(Queue::from_ring(ring))
    }
}
