//! The storage shared by all four value types: a region holding a small header and `len`
//! elements, accessed by copy through [`SharedSlice`].

use std::any::type_name;
use std::io;
use std::marker::PhantomData;
use std::mem::{align_of, size_of};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::{HasAtomic, OutOfBounds, Shareable};
use crate::region::{Shm, ShmSafe};
use crate::sys::view::SharedSlice;

/// What a region holds, so that a handle decoded in a child checks it got what was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Value,
    Array,
}

#[repr(C)]
#[derive(Debug)]
struct Header {
    /// Hash of the element type, its layout and the [`Kind`]; checked on attach.
    fingerprint: AtomicU64,
    /// Number of elements.
    len: AtomicU64,
}

// SAFETY: `#[repr(C)]`, two atomics, no pointers or descriptors; all zeros is valid (and is
// overwritten before the region is shared).
unsafe impl ShmSafe for Header {}

/// FNV-1a over the type's name, size, alignment and the kind.
fn fingerprint<T: Shareable>(kind: Kind) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    };
    eat(type_name::<T>().as_bytes());
    eat(&(size_of::<T::Repr>() as u64).to_le_bytes());
    eat(&(align_of::<T::Repr>() as u64).to_le_bytes());
    eat(&[kind as u8]);
    h
}

/// `len` shared elements of type `T` (stored as `T::Repr`). Clones share the memory.
pub(super) struct Cells<T: Shareable> {
    slice: SharedSlice<Header, T::Repr>,
    _t: PhantomData<fn() -> T>,
}

impl<T: Shareable> Clone for Cells<T> {
    fn clone(&self) -> Self {
        Cells {
            slice: self.slice.clone(),
            _t: PhantomData,
        }
    }
}

fn invalid(msg: &'static str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl<T: Shareable> Cells<T> {
    /// Byte offset of the first element: after the header, aligned for the element type.
    fn data_offset() -> usize {
        size_of::<Header>().next_multiple_of(align_of::<T::Repr>())
    }

    /// A new region with `len` elements, all zero bits (`T::from_repr` of zeros: `0`,
    /// `false`, ...).
    pub(super) fn zeroed(kind: Kind, len: usize) -> io::Result<Cells<T>> {
        let too_big = || io::Error::new(io::ErrorKind::InvalidInput, "shared array too large");
        let data = len.checked_mul(size_of::<T::Repr>()).ok_or_else(too_big)?;
        let extra = (Self::data_offset() - size_of::<Header>())
            .checked_add(data)
            .ok_or_else(too_big)?;
        let name = match kind {
            Kind::Value => "procpool-value",
            Kind::Array => "procpool-array",
        };
        let shm = Shm::<Header>::create(name, extra)?;
        shm.fingerprint
            .store(fingerprint::<T>(kind), Ordering::Relaxed);
        shm.len.store(len as u64, Ordering::Relaxed);
        let slice = SharedSlice::new(shm, Self::data_offset(), len)
            .ok_or_else(|| invalid("shared region layout"))?;
        Ok(Cells {
            slice,
            _t: PhantomData,
        })
    }

    /// A new region holding a copy of `init`.
    pub(super) fn from_slice(kind: Kind, init: &[T]) -> io::Result<Cells<T>> {
        let cells = Self::zeroed(kind, init.len())?;
        cells
            .write(0, init)
            .map_err(|_| invalid("shared region layout"))?;
        Ok(cells)
    }

    /// Re-attaches to a region received from another process, checking it holds `kind` of
    /// `T`.
    fn attach(shm: Shm<Header>, kind: Kind) -> io::Result<Cells<T>> {
        if shm.fingerprint.load(Ordering::Relaxed) != fingerprint::<T>(kind) {
            return Err(invalid(
                "shared value or array received as a different type or kind than it was sent",
            ));
        }
        let len = usize::try_from(shm.len.load(Ordering::Relaxed))
            .map_err(|_| invalid("shared array length"))?;
        if kind == Kind::Value && len != 1 {
            return Err(invalid("shared value with a length other than one"));
        }
        let slice = SharedSlice::new(shm, Self::data_offset(), len)
            .ok_or_else(|| invalid("shared array larger than its region"))?;
        Ok(Cells {
            slice,
            _t: PhantomData,
        })
    }

    /// Deserialises a handle written by [`Cells::serialize`] (inside a transfer).
    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
        kind: Kind,
    ) -> Result<Self, D::Error> {
        let shm = Shm::<Header>::deserialize(d)?;
        Self::attach(shm, kind).map_err(serde::de::Error::custom)
    }

    /// Serialises the handle (only inside a transfer: it is a descriptor).
    pub(super) fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.slice.shm().serialize(s)
    }

    pub(super) fn len(&self) -> usize {
        self.slice.len()
    }

    fn oob(&self, start: usize, count: usize) -> OutOfBounds {
        OutOfBounds {
            start,
            end: start.saturating_add(count),
            len: self.len(),
        }
    }

    pub(super) fn get(&self, i: usize) -> Option<T> {
        self.slice.get(i).map(T::from_repr)
    }

    pub(super) fn set(&self, i: usize, v: T) -> Result<(), OutOfBounds> {
        if self.slice.set(i, v.to_repr()) {
            Ok(())
        } else {
            Err(self.oob(i, 1))
        }
    }

    /// Copies elements `start..start + dst.len()` into `dst`.
    pub(super) fn read(&self, start: usize, dst: &mut [T]) -> Result<(), OutOfBounds> {
        let stored = self
            .slice
            .to_vec(start, dst.len())
            .ok_or_else(|| self.oob(start, dst.len()))?;
        for (d, r) in dst.iter_mut().zip(stored) {
            *d = T::from_repr(r);
        }
        Ok(())
    }

    /// Elements `start..start + count`.
    pub(super) fn to_vec(&self, start: usize, count: usize) -> Result<Vec<T>, OutOfBounds> {
        let stored = self
            .slice
            .to_vec(start, count)
            .ok_or_else(|| self.oob(start, count))?;
        Ok(stored.into_iter().map(T::from_repr).collect())
    }

    /// Copies `src` into elements `start..start + src.len()`.
    pub(super) fn write(&self, start: usize, src: &[T]) -> Result<(), OutOfBounds> {
        if start
            .checked_add(src.len())
            .is_none_or(|end| end > self.len())
        {
            return Err(self.oob(start, src.len()));
        }
        let stored: Vec<T::Repr> = src.iter().map(|v| v.to_repr()).collect();
        if self.slice.write(start, &stored) {
            Ok(())
        } else {
            Err(self.oob(start, src.len()))
        }
    }

    pub(super) fn same(&self, other: &Cells<T>) -> bool {
        self.slice.shm().same(other.slice.shm())
    }
}

impl<T: HasAtomic + Shareable<Repr = T>> Cells<T> {
    pub(super) fn atomic(&self, i: usize) -> Option<&T::Atomic> {
        self.slice.atomic(i)
    }
}
