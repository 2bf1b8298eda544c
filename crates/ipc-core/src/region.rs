//! Shared regions: memory that every process holding the region maps at once.
//!
//! A [`Region`] is a memfd mapped `MAP_SHARED`. Process-shared state is a `#[repr(C)]` struct
//! of atomics placed at the start of a region ([`Shm<T>`]), optionally followed by a data area
//! (a ring buffer, array elements). A region travels to a child as its descriptor (see
//! [`transfer`](crate::transfer)); the child maps the same pages.

use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use memmap2::MmapRaw;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sys::shm;

/// Types that may be placed in memory shared between processes and accessed through `&T`.
///
/// # Safety
/// Implementors must be `#[repr(C)]`; hold no pointers, references, descriptors or heap data
/// (addresses and descriptors mean nothing in another process); accept the all-zero bit pattern
/// as a valid value (a fresh region is zero-filled); and be mutated only through atomics or
/// other interior mutability that is sound across processes. Their alignment must not exceed
/// the page size.
pub(crate) unsafe trait ShmSafe: Sync + Send + Sized + 'static {}

/// A memfd mapped shared and read-write. Dropping the last handle unmaps it and closes the
/// descriptor; the kernel frees the memory when no process maps it any more.
#[derive(Debug)]
pub(crate) struct Region {
    fd: OwnedFd,
    map: MmapRaw,
}

impl Region {
    /// Creates a zero-filled region of `len` bytes. `name` shows in `/proc/<pid>/maps` and
    /// `/proc/<pid>/fd` for debugging; it does not name anything in a file system.
    pub(crate) fn create(name: &str, len: usize) -> io::Result<Region> {
        let fd = shm::memfd(name, len.max(1))?;
        let map = shm::map_shared(fd.as_fd(), len.max(1))?;
        Ok(Region { fd, map })
    }

    /// Maps the whole file behind `fd`.
    pub(crate) fn attach(fd: OwnedFd) -> io::Result<Region> {
        let len = shm::file_len(fd.as_fd())?;
        let len = usize::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidData))?;
        if len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "empty shared region",
            ));
        }
        let map = shm::map_shared(fd.as_fd(), len)?;
        Ok(Region { fd, map })
    }

    /// Length of the mapping in bytes.
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    /// Start of the mapping.
    pub(crate) fn ptr(&self) -> *mut u8 {
        self.map.as_mut_ptr()
    }

    /// The memfd behind the region.
    #[cfg(test)]
    pub(crate) fn fd(&self) -> std::os::fd::BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Copies `src` into the region at `offset`.
    ///
    /// # Panics
    /// If the range lies outside the region (an internal invariant of the callers).
    pub(crate) fn write_at(&self, offset: usize, src: &[u8]) {
        assert!(
            offset
                .checked_add(src.len())
                .is_some_and(|end| end <= self.len())
        );
        // SAFETY: the destination range is inside the mapping (asserted above), the mapping
        // is live for the duration of `&self`, and `src` is a separate allocation of this
        // process, so the ranges do not overlap. Concurrent access to the same bytes by
        // other processes is excluded by the callers' protocols (ring positions published
        // with release/acquire atomics).
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.ptr().add(offset), src.len()) }
    }

    /// Copies bytes from the region at `offset` into `dst`.
    ///
    /// # Panics
    /// If the range lies outside the region (an internal invariant of the callers).
    pub(crate) fn read_at(&self, offset: usize, dst: &mut [u8]) {
        assert!(
            offset
                .checked_add(dst.len())
                .is_some_and(|end| end <= self.len())
        );
        // SAFETY: as in `write_at`, with source and destination swapped.
        unsafe {
            std::ptr::copy_nonoverlapping(self.ptr().add(offset), dst.as_mut_ptr(), dst.len())
        }
    }

    /// Lends `len` bytes of the region at `offset` to `f` as a shared slice.
    ///
    /// Callers guarantee, by their protocol, that no process writes these bytes while `f`
    /// runs (a queue reader holds the reader lock and the bytes lie before the published
    /// head).
    ///
    /// # Panics
    /// If the range lies outside the region (an internal invariant of the callers).
    pub(crate) fn with_slice<R>(&self, offset: usize, len: usize, f: impl FnOnce(&[u8]) -> R) -> R {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len()));
        // SAFETY: the range is inside the live mapping (asserted) for the duration of `&self`;
        // by the caller's protocol no process writes it while the slice is borrowed, so a
        // shared slice over it is sound; the slice does not escape `f`.
        let s = unsafe { std::slice::from_raw_parts(self.ptr().add(offset), len) };
        f(s)
    }

    /// Lends `len` bytes of the region at `offset` to `f` as a mutable slice.
    ///
    /// Callers guarantee, by their protocol, that no other process reads or writes these
    /// bytes while `f` runs (a queue writer holds the writer lock and the bytes lie in free
    /// space beyond the published head).
    ///
    /// # Panics
    /// If the range lies outside the region (an internal invariant of the callers).
    pub(crate) fn with_slice_mut<R>(
        &self,
        offset: usize,
        len: usize,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> R {
        assert!(offset.checked_add(len).is_some_and(|end| end <= self.len()));
        // SAFETY: the range is inside the live mapping (asserted); by the caller's protocol
        // nobody else accesses it while `f` runs and no other reference into it exists in
        // this process, so a unique slice is sound; the slice does not escape `f`.
        let s = unsafe { std::slice::from_raw_parts_mut(self.ptr().add(offset), len) };
        f(s)
    }

    /// Releases the physical pages of `[offset, offset + len)`; they read as zeros afterwards.
    pub(crate) fn punch_hole(&self, offset: usize, len: usize) -> io::Result<()> {
        shm::punch_hole(self.fd.as_fd(), offset as u64, len as u64)
    }
}

impl Serialize for Region {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        crate::transfer::serialize_fd(self.fd.as_fd(), s)
    }
}

impl<'de> Deserialize<'de> for Region {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let fd = crate::transfer::deserialize_fd(d)?;
        Region::attach(fd).map_err(serde::de::Error::custom)
    }
}

/// A shared `#[repr(C)]` state of type `T` at the start of a region, possibly followed by a
/// data area. Cloning shares the same mapping.
pub(crate) struct Shm<T: ShmSafe> {
    region: Arc<Region>,
    _t: PhantomData<T>,
}

impl<T: ShmSafe> Clone for Shm<T> {
    fn clone(&self) -> Self {
        Shm {
            region: self.region.clone(),
            _t: PhantomData,
        }
    }
}

impl<T: ShmSafe> std::fmt::Debug for Shm<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shm")
            .field("len", &self.region.len())
            .finish()
    }
}

const PAGE: usize = 4096;

impl<T: ShmSafe> Shm<T> {
    const CHECK: () = assert!(
        std::mem::align_of::<T>() <= PAGE,
        "over-aligned shared state"
    );

    /// Creates a region holding a zeroed `T` followed by `extra` bytes of data area.
    pub(crate) fn create(name: &str, extra: usize) -> io::Result<Shm<T>> {
        let () = Self::CHECK;
        let len = std::mem::size_of::<T>()
            .checked_add(extra)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Self::from_region(Region::create(name, len)?)
    }

    /// Wraps an attached region, checking that it is large enough for `T`.
    pub(crate) fn from_region(region: Region) -> io::Result<Shm<T>> {
        let () = Self::CHECK;
        if region.len() < std::mem::size_of::<T>() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "shared region too small",
            ));
        }
        Ok(Shm {
            region: Arc::new(region),
            _t: PhantomData,
        })
    }

    /// The region behind the state.
    pub(crate) fn region(&self) -> &Region {
        &self.region
    }

    /// Start of the data area after `T`, and its length.
    pub(crate) fn data(&self) -> (*mut u8, usize) {
        let off = std::mem::size_of::<T>();
        // `from_region` checked len >= size_of::<T>(), so the offset stays in the mapping.
        (self.region.ptr().wrapping_add(off), self.region.len() - off)
    }

    /// The data area viewed as `len` 64-bit atomics (the data area must hold them, and start
    /// 8-aligned: `T`'s size is a multiple of 8).
    ///
    /// # Panics
    /// If the data area is too small or misaligned (an internal invariant of the callers).
    pub(crate) fn data_atomics(&self, len: usize) -> &[std::sync::atomic::AtomicU64] {
        let (p, avail) = self.data();
        assert!(len.checked_mul(8).is_some_and(|b| b <= avail));
        assert_eq!(p as usize % 8, 0);
        // SAFETY: (1) `p .. p + 8 * len` lies in the mapping (asserted) and is 8-aligned
        // (asserted), as AtomicU64 requires; (2) the mapping lives as long as `self`, which
        // outlives the slice; (3) AtomicU64 accepts any bit pattern (zero-filled pages
        // included) and all access goes through atomic operations, which is sound while
        // other processes access the same words atomically.
        unsafe { std::slice::from_raw_parts(p as *const std::sync::atomic::AtomicU64, len) }
    }

    /// Offset of the data area within the region.
    pub(crate) fn data_offset(&self) -> usize {
        std::mem::size_of::<T>()
    }

    /// Whether two handles share one mapping (the same object in this process).
    pub(crate) fn same(&self, other: &Shm<T>) -> bool {
        Arc::ptr_eq(&self.region, &other.region)
    }
}

impl<T: ShmSafe> Deref for Shm<T> {
    type Target = T;

    fn deref(&self) -> &T {
        let p = self.region.ptr() as *const T;
        // SAFETY: (1) the mapping is at least size_of::<T>() bytes (checked in `from_region`)
        // and page-aligned, and align_of::<T>() <= PAGE (CHECK), so `p` is valid and aligned;
        // (2) the mapping lives as long as `self.region`, which outlives the returned
        // reference; (3) `T: ShmSafe` is valid when zeroed and mutated only through atomics, so
        // handing out `&T` while other processes write through their own mappings is sound.
        unsafe { &*p }
    }
}

impl<T: ShmSafe> Serialize for Shm<T> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.region.serialize(s)
    }
}

impl<'de, T: ShmSafe> Deserialize<'de> for Shm<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let region = Region::deserialize(d)?;
        Shm::from_region(region).map_err(serde::de::Error::custom)
    }
}
