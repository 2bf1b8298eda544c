//! Typed, copy-based access to memory that other processes map and may write at any moment.
//!
//! Another process takes no part in Rust's borrow rules, so nothing here hands out a `&T` or
//! `&mut T` to shared data — except references to atomics, whose purpose is shared mutation.
//! Values are copied in and out with atomic accesses of one *unit* each: the element's
//! alignment, at most 8 bytes. Consequences:
//!
//! - a copy racing with a writer in another thread or process is never a data race in Rust's
//!   memory model (every access is atomic); the copied value may be *torn* between units (some
//!   units old, some new), but never inside a scalar, because a scalar field of size `s` sits
//!   at a multiple of `s` inside an element whose unit is at least `s` (scalars are as large
//!   as they are aligned);
//! - for the integer types, the unit is exactly the width of the matching atomic type, so a
//!   copy and a `fetch_add` on the same element never mix access sizes (checked at compile
//!   time in [`SharedSlice::atomic`]);
//! - copies are relaxed and fenced as a whole: an acquire fence after a read, a release fence
//!   before a write, so publishing data and then a flag works as with single atomics.
//!
//! The element types are [`Pod`]: no padding, every bit pattern valid, so units written by
//! anyone always form a valid value.

use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU8, AtomicU16, AtomicU32, AtomicU64, Ordering, fence};

use crate::region::{Region, Shm, ShmSafe};
use crate::values::{HasAtomic, Pod};

/// Largest alignment an element may have: mappings are page-aligned.
const PAGE: usize = 4096;

/// An unsigned integer with an atomic twin of the same size and alignment.
trait Unit: Copy {
    type Atomic;
    fn load(a: &Self::Atomic) -> Self;
    fn store(a: &Self::Atomic, v: Self);
}

macro_rules! unit {
    ($($t:ty => $a:ty),*) => {$(
        impl Unit for $t {
            type Atomic = $a;
            #[inline]
            fn load(a: &$a) -> $t {
                a.load(Ordering::Relaxed)
            }
            #[inline]
            fn store(a: &$a, v: $t) {
                a.store(v, Ordering::Relaxed)
            }
        }
        const _: () = assert!(
            size_of::<$t>() == size_of::<$a>() && align_of::<$t>() == align_of::<$a>()
        );
    )*};
}
unit!(u8 => AtomicU8, u16 => AtomicU16, u32 => AtomicU32, u64 => AtomicU64);

/// The access unit for elements of type `T`: its alignment, at most 8 bytes.
const fn unit_of<T>() -> usize {
    let a = align_of::<T>();
    if a >= 8 { 8 } else { a }
}

/// Copies `count` units of type `U` out of shared memory.
///
/// # Safety
/// `src` must be aligned for `U::Atomic` and valid for reads of `count` units inside a live
/// shared mapping whose bytes are only ever accessed atomically; `dst` must be valid for
/// writes of `count * size_of::<U>()` bytes (any alignment) and not overlap `src`.
unsafe fn load_units<U: Unit>(src: *const u8, dst: *mut u8, count: usize) {
    let src = src.cast::<U::Atomic>();
    let dst = dst.cast::<U>();
    for i in 0..count {
        // SAFETY: (1) `src.add(i)` is in bounds and aligned (caller); (2) the memory is only
        // accessed atomically, so a shared reference to an atomic there is sound even while
        // other threads or processes write it.
        let a = unsafe { &*src.add(i) };
        let v = U::load(a);
        // SAFETY: `dst.add(i)` is in bounds of the caller's buffer; unaligned write.
        unsafe { dst.add(i).write_unaligned(v) };
    }
}

/// Copies `count` units of type `U` into shared memory.
///
/// # Safety
/// As [`load_units`], with `src` the private buffer (valid for reads) and `dst` the shared
/// memory (aligned, valid, only accessed atomically).
unsafe fn store_units<U: Unit>(src: *const u8, dst: *mut u8, count: usize) {
    let src = src.cast::<U>();
    let dst = dst.cast::<U::Atomic>();
    for i in 0..count {
        // SAFETY: `src.add(i)` is in bounds of the caller's buffer; unaligned read of plain
        // bytes (every bit pattern is a valid unsigned integer).
        let v = unsafe { src.add(i).read_unaligned() };
        // SAFETY: as in `load_units`.
        let a = unsafe { &*dst.add(i) };
        U::store(a, v);
    }
}

/// Copies `bytes` bytes out of shared memory in units of `unit` bytes.
///
/// # Safety
/// `src` must be aligned to `unit` and valid for `bytes` bytes of a live shared mapping only
/// accessed atomically; `bytes` a multiple of `unit`; `dst` valid for writes of `bytes` bytes.
unsafe fn load_bytes(unit: usize, src: *const u8, dst: *mut u8, bytes: usize) {
    // SAFETY: (all arms) forwarded from the caller; `bytes / unit` units cover the range.
    unsafe {
        match unit {
            8 => load_units::<u64>(src, dst, bytes / 8),
            4 => load_units::<u32>(src, dst, bytes / 4),
            2 => load_units::<u16>(src, dst, bytes / 2),
            _ => load_units::<u8>(src, dst, bytes),
        }
    }
}

/// Copies `bytes` bytes into shared memory in units of `unit` bytes.
///
/// # Safety
/// As [`load_bytes`], directions swapped.
unsafe fn store_bytes(unit: usize, src: *const u8, dst: *mut u8, bytes: usize) {
    // SAFETY: (all arms) forwarded from the caller.
    unsafe {
        match unit {
            8 => store_units::<u64>(src, dst, bytes / 8),
            4 => store_units::<u32>(src, dst, bytes / 4),
            2 => store_units::<u16>(src, dst, bytes / 2),
            _ => store_units::<u8>(src, dst, bytes),
        }
    }
}

/// The all-zero value of a [`Pod`] type.
pub(crate) fn zeroed<T: Pod>() -> T {
    // SAFETY: `T: Pod` promises that every bit pattern, the all-zero one included, is a
    // valid `T`.
    unsafe { std::mem::zeroed() }
}

/// `len` elements of type `T` at byte `offset` of a shared region (after a header `H`).
///
/// Holds a handle to the region, so the memory stays mapped as long as the slice lives.
/// All access is by copy (see the module docs); only atomics are borrowed.
pub(crate) struct SharedSlice<H: ShmSafe, T: Pod> {
    shm: Shm<H>,
    offset: usize,
    len: usize,
    _t: PhantomData<fn() -> T>,
}

impl<H: ShmSafe, T: Pod> Clone for SharedSlice<H, T> {
    fn clone(&self) -> Self {
        SharedSlice {
            shm: self.shm.clone(),
            offset: self.offset,
            len: self.len,
            _t: PhantomData,
        }
    }
}

impl<H: ShmSafe, T: Pod> std::fmt::Debug for SharedSlice<H, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SharedSlice")
            .field("offset", &self.offset)
            .field("len", &self.len)
            .finish()
    }
}

/// Whether `start..start + count` lies inside `0..len` (overflow counts as outside).
fn in_range(start: usize, count: usize, len: usize) -> bool {
    start.checked_add(count).is_some_and(|end| end <= len)
}

impl<H: ShmSafe, T: Pod> SharedSlice<H, T> {
    const CHECK: () = assert!(
        align_of::<T>() <= PAGE,
        "shared element types may not be aligned to more than a page"
    );

    /// A view of `len` elements at byte `offset` of `shm`'s region. `None` if the elements do
    /// not fit in the region or their start is not aligned for `T`.
    pub(crate) fn new(shm: Shm<H>, offset: usize, len: usize) -> Option<Self> {
        let () = Self::CHECK;
        let bytes = len.checked_mul(size_of::<T>())?;
        let region = shm.region();
        if !in_range(offset, bytes, region.len()) {
            return None;
        }
        let addr = (region.ptr() as usize).checked_add(offset)?;
        if addr % align_of::<T>() != 0 {
            return None;
        }
        Some(SharedSlice {
            shm,
            offset,
            len,
            _t: PhantomData,
        })
    }

    /// The region handle (its header is the shared state `H`).
    pub(crate) fn shm(&self) -> &Shm<H> {
        &self.shm
    }

    /// Number of elements.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Address of element `i` (no bounds check; callers check `i < len` or `i == len`).
    fn elem(&self, i: usize) -> *mut u8 {
        self.shm
            .region()
            .ptr()
            .wrapping_add(self.offset)
            .wrapping_add(i.wrapping_mul(size_of::<T>()))
    }

    /// Copies elements `start..start + dst.len()` into `dst`; `false` (and `dst` untouched)
    /// if the range is out of bounds.
    pub(crate) fn read(&self, start: usize, dst: &mut [T]) -> bool {
        if !in_range(start, dst.len(), self.len) {
            return false;
        }
        let bytes = std::mem::size_of_val(dst);
        // SAFETY: (1) the source range is inside the mapping (`new` checked that all `len`
        // elements fit, and the range is within `len`), which `self.shm` keeps alive;
        // (2) it is aligned to `align_of::<T>()` (checked in `new`; element sizes are
        // multiples of it), hence to the unit; (3) values/ accesses element memory only
        // through this type, atomically; (4) `dst` is a private buffer of `bytes` bytes, and
        // `T: Pod` has no padding and accepts every bit pattern, so filling it with units
        // leaves valid values.
        unsafe {
            load_bytes(
                unit_of::<T>(),
                self.elem(start),
                dst.as_mut_ptr().cast(),
                bytes,
            )
        };
        fence(Ordering::Acquire);
        true
    }

    /// Copies `src` into elements `start..start + src.len()`; `false` (nothing written) if the
    /// range is out of bounds.
    pub(crate) fn write(&self, start: usize, src: &[T]) -> bool {
        if !in_range(start, src.len(), self.len) {
            return false;
        }
        let bytes = std::mem::size_of_val(src);
        fence(Ordering::Release);
        // SAFETY: as in `read`, directions swapped; `T: Pod` has no padding, so every byte of
        // `src` is initialised.
        unsafe { store_bytes(unit_of::<T>(), src.as_ptr().cast(), self.elem(start), bytes) };
        true
    }

    /// Element `i`, copied out.
    pub(crate) fn get(&self, i: usize) -> Option<T> {
        let mut v = zeroed::<T>();
        self.read(i, std::slice::from_mut(&mut v)).then_some(v)
    }

    /// Sets element `i`; `false` if out of bounds.
    pub(crate) fn set(&self, i: usize, v: T) -> bool {
        self.write(i, std::slice::from_ref(&v))
    }

    /// Elements `start..start + count`, copied out.
    pub(crate) fn to_vec(&self, start: usize, count: usize) -> Option<Vec<T>> {
        if !in_range(start, count, self.len) {
            return None;
        }
        let mut v = vec![zeroed::<T>(); count];
        self.read(start, &mut v).then_some(v)
    }

    /// Element `i` as its atomic type, for lock-free operations.
    pub(crate) fn atomic(&self, i: usize) -> Option<&T::Atomic>
    where
        T: HasAtomic,
    {
        const {
            assert!(size_of::<T>() == size_of::<T::Atomic>());
            assert!(align_of::<T::Atomic>() <= align_of::<T>());
            // Copies of T use units of exactly the atomic's width: no mixed-size accesses.
            assert!(unit_of::<T>() == size_of::<T::Atomic>());
        }
        if i >= self.len {
            return None;
        }
        let p = self.elem(i).cast::<T::Atomic>();
        // SAFETY: (1) element `i` is inside the mapping (i < len, checked in `new`), which
        // lives as long as `&self`; (2) its address is aligned to `align_of::<T>()` (see
        // `new`; sizes are multiples of alignment) and so to the atomic's alignment (const
        // check above); (3) `T::Atomic` is a std atomic of the same size (sealed
        // `HasAtomic`), every bit pattern is valid for it, and all other accesses to this
        // memory are atomic too, so a shared reference is sound while others write.
        Some(unsafe { &*p })
    }
}

/// Copies bytes out of a region shared with processes that may write it concurrently (and
/// may not be Rust programs): atomic byte accesses at the unaligned edges, 8-byte accesses in
/// between. `false` (nothing copied) if the range is outside the region.
pub(crate) fn read_bytes(region: &Region, offset: usize, dst: &mut [u8]) -> bool {
    if !in_range(offset, dst.len(), region.len()) {
        return false;
    }
    let src = region.ptr().wrapping_add(offset);
    let (head, mid, tail) = split_for_words(src as usize, dst.len());
    let d = dst.as_mut_ptr();
    // SAFETY: (1) `src..src + dst.len()` is inside the mapping, which `region` keeps alive;
    // (2) the middle part starts 8-aligned (`split_for_words`), the edges use 1-byte units;
    // (3) this module only accesses the bytes atomically; (4) `dst` is a private buffer of
    // the same length.
    unsafe {
        load_units::<u8>(src, d, head);
        load_units::<u64>(src.add(head), d.add(head), mid / 8);
        load_units::<u8>(src.add(head + mid), d.add(head + mid), tail);
    }
    fence(Ordering::Acquire);
    true
}

/// Copies bytes into a region shared with other processes (see [`read_bytes`]).
pub(crate) fn write_bytes(region: &Region, offset: usize, src: &[u8]) -> bool {
    if !in_range(offset, src.len(), region.len()) {
        return false;
    }
    let dst = region.ptr().wrapping_add(offset);
    let (head, mid, tail) = split_for_words(dst as usize, src.len());
    let s = src.as_ptr();
    fence(Ordering::Release);
    // SAFETY: as in `read_bytes`, directions swapped.
    unsafe {
        store_units::<u8>(s, dst, head);
        store_units::<u64>(s.add(head), dst.add(head), mid / 8);
        store_units::<u8>(s.add(head + mid), dst.add(head + mid), tail);
    }
    true
}

/// Splits `len` bytes at address `addr` into an unaligned head, an 8-aligned middle of whole
/// words, and a tail.
fn split_for_words(addr: usize, len: usize) -> (usize, usize, usize) {
    let head = (addr.wrapping_neg() % 8).min(len);
    let mid = (len - head) / 8 * 8;
    (head, mid, len - head - mid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split() {
        assert_eq!(split_for_words(0, 0), (0, 0, 0));
        assert_eq!(split_for_words(0, 17), (0, 16, 1));
        assert_eq!(split_for_words(3, 2), (2, 0, 0));
        assert_eq!(split_for_words(3, 30), (5, 24, 1));
        assert_eq!(split_for_words(8, 7), (0, 0, 7));
    }

    #[test]
    fn byte_copies_at_every_alignment() {
        let r = Region::create("test-bytes", 64).unwrap();
        let data: Vec<u8> = (1..=40).collect();
        for off in 0..16 {
            for len in [0, 1, 7, 8, 9, 23, 40] {
                assert!(write_bytes(&r, off, &data[..len]));
                let mut back = vec![0u8; len];
                assert!(read_bytes(&r, off, &mut back));
                assert_eq!(back, &data[..len]);
            }
        }
        let mut b = [0u8; 2];
        assert!(!read_bytes(&r, 63, &mut b));
        assert!(!read_bytes(&r, usize::MAX, &mut b));
        assert!(!write_bytes(&r, usize::MAX - 1, &b));
        assert!(read_bytes(&r, 64, &mut []));
    }
}
