//! [`SharedAtomics`]: a fixed array of 64-bit atomic words shared between processes.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::region::{Shm, ShmSafe};

#[repr(C)]
#[derive(Debug)]
struct Header {
    len: AtomicU64,
}

// SAFETY: `#[repr(C)]`, one atomic; all-zero is an empty array.
unsafe impl ShmSafe for Header {}

/// A fixed-length array of [`AtomicU64`] in memory shared between processes: counters,
/// flags and progress words that need no lock. A clone or a copy passed to a child process
/// refers to the same words.
///
/// ```
/// use std::sync::atomic::Ordering;
/// let words = ipc_core::SharedAtomics::new(4)?;
/// words[2].fetch_add(5, Ordering::Relaxed);
/// assert_eq!(words.get(2).unwrap().load(Ordering::Relaxed), 5);
/// assert!(words.get(4).is_none());
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct SharedAtomics {
    shm: Shm<Header>,
    len: usize,
}

impl SharedAtomics {
    /// Creates `len` words, all zero.
    pub fn new(len: usize) -> io::Result<SharedAtomics> {
        let bytes = len
            .checked_mul(8)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        let shm = Shm::<Header>::create("procpool-atomics", bytes)?;
        shm.len.store(len as u64, Ordering::Relaxed);
        Ok(SharedAtomics { shm, len })
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether there are no words.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Word `i`, or `None` out of range.
    pub fn get(&self, i: usize) -> Option<&AtomicU64> {
        self.as_slice().get(i)
    }

    /// All the words.
    pub fn as_slice(&self) -> &[AtomicU64] {
        self.shm.data_atomics(self.len)
    }
}

impl std::ops::Index<usize> for SharedAtomics {
    type Output = AtomicU64;

    /// Word `i`. Panics if out of range, like slice indexing; use
    /// [`get`](SharedAtomics::get) for a checked access.
    fn index(&self, i: usize) -> &AtomicU64 {
        &self.as_slice()[i]
    }
}

impl fmt::Debug for SharedAtomics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.as_slice().iter().map(|w| w.load(Ordering::Relaxed)))
            .finish()
    }
}

impl Serialize for SharedAtomics {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.shm.serialize(s)
    }
}

impl<'de> Deserialize<'de> for SharedAtomics {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let shm = Shm::<Header>::deserialize(d)?;
        let len = shm.len.load(Ordering::Relaxed) as usize;
        if len.checked_mul(8).is_none_or(|b| b > shm.data().1) {
            return Err(serde::de::Error::custom("corrupt shared atomics header"));
        }
        Ok(SharedAtomics { shm, len })
    }
}
