//! Which types may live in shared values: [`Pod`], [`Shareable`] and [`HasAtomic`].

use std::sync::atomic::{
    AtomicI8, AtomicI16, AtomicI32, AtomicI64, AtomicIsize, AtomicU8, AtomicU16, AtomicU32,
    AtomicU64, AtomicUsize, Ordering,
};

/// Plain old data: types whose bytes may be shared with other processes as they are.
///
/// Implemented for every integer type, `f32`, `f64` and arrays `[T; N]` of `Pod` types. A
/// `#[repr(C)]` struct of `Pod` fields opts in with [`pod_struct!`](crate::pod_struct), which
/// checks the rules below at compile time and needs no `unsafe` in your code; or by hand with
/// `unsafe impl Pod for MyStruct {}`.
///
/// `bool` and `char` are not `Pod` (not every byte pattern is a valid `bool`), but
/// [`Value<bool>`](crate::Value) and friends still work: see [`Shareable`].
///
/// # Safety
/// An implementing type must:
/// - be a primitive, an array of `Pod`, or a `#[repr(C)]` (or `#[repr(transparent)]`) struct
///   whose fields are all `Pod`;
/// - have **no padding** bytes (its size is the sum of its fields' sizes);
/// - accept **every bit pattern** as a valid value, including all zeros (so no `bool`, `char`,
///   enums, references or `NonZero*` fields);
/// - hold no pointers, references, descriptors or handles (they mean nothing in another
///   process), and have no invariants between fields (a reader without the lock may see a
///   value torn between an old and a new one, field by field);
/// - be aligned to at most 4096 bytes (checked when used).
///
/// ```
/// use ipc_core::values::Pod;
///
/// #[repr(C)]
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// struct Point {
///     x: f64,
///     y: f64,
/// }
/// // SAFETY: repr(C), two f64 fields (every bit pattern valid), no padding, no pointers.
/// unsafe impl Pod for Point {}
/// // The compile-time check that `pod_struct!` does for you: no padding.
/// const _: () = assert!(size_of::<Point>() == 2 * size_of::<f64>());
///
/// let p = ipc_core::Value::new(Point { x: 1.0, y: 2.0 })?;
/// assert_eq!(p.get(), Point { x: 1.0, y: 2.0 });
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Types that are not `Pod` are rejected at compile time:
///
/// ```compile_fail,E0277
/// let v = ipc_core::Value::new(String::from("no heap data in shared memory"));
/// ```
pub unsafe trait Pod: Copy + Send + Sync + 'static {}

macro_rules! pod {
    ($($t:ty),*) => {$(
        // SAFETY: a primitive number: no padding, every bit pattern valid, no pointers.
        unsafe impl Pod for $t {}
    )*};
}
pod!(
    u8, u16, u32, u64, u128, usize, i8, i16, i32, i64, i128, isize, f32, f64
);

// SAFETY: an array of `Pod` has no padding between elements (size is a multiple of alignment)
// and is valid for every bit pattern if its elements are.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Types that can be stored in a [`Value`](crate::Value), [`RawValue`](crate::RawValue),
/// [`Array`](crate::Array) or [`RawArray`](crate::RawArray).
///
/// Every [`Pod`] type is `Shareable` as itself. `bool` is stored as a `u8` (any non-zero byte
/// reads as `true`) and `char` as a `u32` (an invalid code point reads as `'\u{FFFD}'`), so
/// that nothing another process writes can ever produce an invalid value.
///
/// You may implement it (safely) for your own types, storing them as a `Pod` representation:
///
/// ```
/// use ipc_core::values::Shareable;
///
/// #[derive(Clone, Copy, Debug, PartialEq)]
/// enum State { Idle, Busy }
///
/// impl Shareable for State {
///     type Repr = u8;
///     fn to_repr(self) -> u8 { self as u8 }
///     fn from_repr(r: u8) -> State { if r == 1 { State::Busy } else { State::Idle } }
/// }
///
/// let s = ipc_core::Value::new(State::Busy)?;
/// assert_eq!(s.get(), State::Busy);
/// # Ok::<(), std::io::Error>(())
/// ```
pub trait Shareable: Copy + Send + Sync + 'static {
    /// How the value is stored in shared memory.
    type Repr: Pod;
    /// Converts to the stored form.
    fn to_repr(self) -> Self::Repr;
    /// Converts from the stored form. Must accept any `Repr` (another process may have written
    /// it), so it cannot fail: map unexpected representations to some value.
    fn from_repr(repr: Self::Repr) -> Self;
}

impl<T: Pod> Shareable for T {
    type Repr = T;
    #[inline]
    fn to_repr(self) -> T {
        self
    }
    #[inline]
    fn from_repr(repr: T) -> T {
        repr
    }
}

impl Shareable for bool {
    type Repr = u8;
    #[inline]
    fn to_repr(self) -> u8 {
        u8::from(self)
    }
    #[inline]
    fn from_repr(repr: u8) -> bool {
        repr != 0
    }
}

impl Shareable for char {
    type Repr = u32;
    #[inline]
    fn to_repr(self) -> u32 {
        u32::from(self)
    }
    #[inline]
    fn from_repr(repr: u32) -> char {
        char::from_u32(repr).unwrap_or(char::REPLACEMENT_CHARACTER)
    }
}

mod sealed {
    pub trait Sealed {}
}

/// Integer types with a matching `std::sync::atomic` type, so that shared integer values
/// support lock-free operations (`fetch_add`, `compare_exchange`, ...).
///
/// Implemented for `i8`–`i64`, `u8`–`u64`, `isize` and `usize` (sealed: the atomic view of
/// shared memory relies on the exact layout of these pairs).
pub trait HasAtomic: Pod + sealed::Sealed {
    /// The atomic type with the same size and alignment, e.g. `AtomicI32` for `i32`.
    type Atomic: Send + Sync + std::fmt::Debug + 'static;
    /// `Atomic::load`.
    fn load(a: &Self::Atomic, order: Ordering) -> Self;
    /// `Atomic::store`.
    fn store(a: &Self::Atomic, v: Self, order: Ordering);
    /// `Atomic::swap`.
    fn swap(a: &Self::Atomic, v: Self, order: Ordering) -> Self;
    /// `Atomic::fetch_add` (wrapping).
    fn fetch_add(a: &Self::Atomic, v: Self, order: Ordering) -> Self;
    /// `Atomic::fetch_sub` (wrapping).
    fn fetch_sub(a: &Self::Atomic, v: Self, order: Ordering) -> Self;
    /// `Atomic::compare_exchange`.
    fn compare_exchange(
        a: &Self::Atomic,
        current: Self,
        new: Self,
        success: Ordering,
        failure: Ordering,
    ) -> Result<Self, Self>;
}

macro_rules! has_atomic {
    ($($t:ty => $a:ty),*) => {$(
        impl sealed::Sealed for $t {}
        impl HasAtomic for $t {
            type Atomic = $a;
            #[inline]
            fn load(a: &$a, order: Ordering) -> $t {
                a.load(order)
            }
            #[inline]
            fn store(a: &$a, v: $t, order: Ordering) {
                a.store(v, order)
            }
            #[inline]
            fn swap(a: &$a, v: $t, order: Ordering) -> $t {
                a.swap(v, order)
            }
            #[inline]
            fn fetch_add(a: &$a, v: $t, order: Ordering) -> $t {
                a.fetch_add(v, order)
            }
            #[inline]
            fn fetch_sub(a: &$a, v: $t, order: Ordering) -> $t {
                a.fetch_sub(v, order)
            }
            #[inline]
            fn compare_exchange(
                a: &$a,
                current: $t,
                new: $t,
                success: Ordering,
                failure: Ordering,
            ) -> Result<$t, $t> {
                a.compare_exchange(current, new, success, failure)
            }
        }
    )*};
}
has_atomic!(
    i8 => AtomicI8, i16 => AtomicI16, i32 => AtomicI32, i64 => AtomicI64, isize => AtomicIsize,
    u8 => AtomicU8, u16 => AtomicU16, u32 => AtomicU32, u64 => AtomicU64, usize => AtomicUsize
);

/// Declares a `#[repr(C)]` struct of [`Pod`] fields and implements [`Pod`] for it, checking at
/// compile time that every field is `Pod` and that the struct has no padding. No `unsafe` is
/// needed in your code.
///
/// The macro adds `#[repr(C)]` and `#[derive(Clone, Copy)]`; add other derives and docs as
/// usual. Generic structs are not supported (write the `unsafe impl` by hand).
///
/// ```
/// #![forbid(unsafe_code)]
/// ipc_core::pod_struct! {
///     /// A particle shared between processes.
///     #[derive(Debug, Default, PartialEq)]
///     pub struct Particle {
///         pub pos: [f32; 3],
///         pub mass: f32,
///         pub id: u64,
///     }
/// }
///
/// let a = ipc_core::Array::from_slice(&[Particle::default(); 4])?;
/// assert_eq!(a.get(3), Some(Particle::default()));
/// # Ok::<(), std::io::Error>(())
/// ```
///
/// Padding is a compile error (here 4 bytes after `a`, to align `b`):
///
/// ```compile_fail,E0080
/// ipc_core::pod_struct! {
///     struct Padded { a: u32, b: u64 }
/// }
/// ```
///
/// So is a field that is not `Pod`:
///
/// ```compile_fail,E0277
/// ipc_core::pod_struct! {
///     struct Flag { on: bool }
/// }
/// ```
#[macro_export]
macro_rules! pod_struct {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $( $(#[$fmeta:meta])* $fvis:vis $field:ident : $ty:ty ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[repr(C)]
        #[derive(Clone, Copy)]
        $vis struct $name {
            $( $(#[$fmeta])* $fvis $field : $ty ),*
        }

        const _: () = {
            const fn field_is_pod<T: $crate::values::Pod>() {}
            $( field_is_pod::<$ty>(); )*
            assert!(
                ::core::mem::size_of::<$name>() == 0 $( + ::core::mem::size_of::<$ty>() )*,
                "pod_struct!: the struct has padding; reorder the fields (largest alignment \
                 first) or add explicit padding fields",
            );
        };

        // SAFETY: `#[repr(C)]`, every field is `Pod` (checked above, so no pointers and every
        // bit pattern valid), and the size is the sum of the field sizes (no padding).
        unsafe impl $crate::values::Pod for $name {}
    };
}
