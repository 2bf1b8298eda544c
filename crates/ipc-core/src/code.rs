//! Functions that travel to other processes of the same program.
//!
//! A child started by fork, by re-executing the current binary (spawn), or by a fork server
//! runs the same executable image, possibly loaded at another address. A function pointer
//! therefore travels as a [`CodeRef`]: its offset from an anchor in the image, rebuilt by the
//! receiver. This is how a [`Barrier`](crate::Barrier)'s action reaches every party, and how
//! procpool sends process targets and pool tasks.
//!
//! The receiver trusts that the offset came from the same binary; ipc-core and procpool only
//! ever receive `CodeRef`s from their own parent process over private descriptors.

use std::fmt;
use std::marker::PhantomData;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::sys::code as sys;

mod sealed {
    pub trait Sealed {}
}

/// Function pointer types that can travel as a [`CodeRef`]: `fn() -> R`, `fn(A) -> R` and
/// `fn(A, B) -> R` and `fn(A, B, C) -> R`. Function items and non-capturing closures coerce to them.
pub trait FnPtr: sealed::Sealed + Copy + Send + Sync + 'static {
    /// The address of the function.
    fn addr(self) -> usize;
}

impl<R: 'static> sealed::Sealed for fn() -> R {}
impl<R: 'static> FnPtr for fn() -> R {
    fn addr(self) -> usize {
        self as usize
    }
}
impl<A: 'static, R: 'static> sealed::Sealed for fn(A) -> R {}
impl<A: 'static, R: 'static> FnPtr for fn(A) -> R {
    fn addr(self) -> usize {
        self as usize
    }
}
impl<A: 'static, B: 'static, R: 'static> sealed::Sealed for fn(A, B) -> R {}
impl<A: 'static, B: 'static, R: 'static> FnPtr for fn(A, B) -> R {
    fn addr(self) -> usize {
        self as usize
    }
}

impl<A: 'static, B: 'static, C: 'static, R: 'static> sealed::Sealed for fn(A, B, C) -> R {}
impl<A: 'static, B: 'static, C: 'static, R: 'static> FnPtr for fn(A, B, C) -> R {
    fn addr(self) -> usize {
        self as usize
    }
}

/// A function pointer of type `F`, encoded as an offset that survives address-space
/// randomisation and re-execution of the same binary.
///
/// ```
/// use ipc_core::code::CodeRef;
/// fn double(x: u32) -> u32 { x * 2 }
/// let r = CodeRef::new(double as fn(u32) -> u32);
/// assert_eq!(r.get()(21), 42);
/// // A code reference is a capability: it is not plain data for a queue or a pipe.
/// assert!(ipc_core::codec::encode(&r).is_err());
/// ```
pub struct CodeRef<F: FnPtr> {
    offset: i64,
    _f: PhantomData<F>,
}

impl<F: FnPtr> CodeRef<F> {
    /// Records `f`.
    pub fn new(f: F) -> Self {
        let offset = (f.addr() as i64).wrapping_sub(sys::anchor() as i64);
        CodeRef {
            offset,
            _f: PhantomData,
        }
    }

    /// The function, rebuilt in this process.
    ///
    /// A `CodeRef` can only be built from a real function of type `F` ([`CodeRef::new`]) or
    /// decoded by [`decode_with_fds`](crate::transfer::decode_with_fds), whose caller vouches
    /// that the bytes come from the same program; it refuses to (de)serialise anywhere else.
    /// So the rebuilt pointer is a function of type `F`.
    pub fn get(self) -> F {
        let addr = (sys::anchor() as i64).wrapping_add(self.offset) as usize;
        // SAFETY: the offset was computed by `CodeRef::new` from a function of type `F` in
        // this binary (directly, or in a process running the same binary that sent it to us
        // over a private channel), so anchor + offset is that function's address here.
        unsafe { sys::fn_from_addr::<F>(addr) }
    }

    /// The raw offset, for a launcher that carries code references in its own private
    /// messages (for instance a pool's task queue) and rebuilds them with
    /// [`from_raw`](CodeRef::from_raw).
    pub fn to_raw(self) -> i64 {
        self.offset
    }

    /// Rebuilds a code reference from [`to_raw`](CodeRef::to_raw).
    ///
    /// # Safety
    /// `raw` must come from `to_raw` on a `CodeRef<F>` of exactly this `F`, in a process
    /// running this same binary.
    pub unsafe fn from_raw(raw: i64) -> Self {
        CodeRef {
            offset: raw,
            _f: PhantomData,
        }
    }
}

impl<F: FnPtr> Clone for CodeRef<F> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<F: FnPtr> Copy for CodeRef<F> {}

impl<F: FnPtr> PartialEq for CodeRef<F> {
    fn eq(&self, other: &Self) -> bool {
        self.offset == other.offset
    }
}
impl<F: FnPtr> Eq for CodeRef<F> {}

impl<F: FnPtr> fmt::Debug for CodeRef<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CodeRef({:+#x})", self.offset)
    }
}

/// Serialises only inside [`encode_with_fds`](crate::transfer::encode_with_fds): a code
/// reference is a capability, not data.
impl<F: FnPtr> Serialize for CodeRef<F> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if !crate::transfer::outgoing_active() {
            return Err(crate::transfer::refuse());
        }
        self.offset.serialize(s)
    }
}

/// Deserialises only inside [`decode_with_fds`](crate::transfer::decode_with_fds), whose
/// caller vouches for the bytes.
impl<'de, F: FnPtr> Deserialize<'de> for CodeRef<F> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if !crate::transfer::incoming_active() {
            return Err(serde::de::Error::custom(
                "a code reference can only be decoded from a trusted parent's message",
            ));
        }
        Ok(CodeRef {
            offset: i64::deserialize(d)?,
            _f: PhantomData,
        })
    }
}
