//! Code addresses as offsets from an anchor in the same binary.
//!
//! A child started by fork, by re-executing the current binary, or by a fork server runs the
//! same executable image, possibly loaded at another base address (ASLR). The distance
//! between two addresses inside the image does not change, so a function pointer travels as
//! its offset from [`anchor`] and is rebuilt by adding the receiver's anchor address.

/// A byte in the executable image whose address serves as the origin for offsets.
static ANCHOR: u8 = 0;

/// The runtime address of the anchor in this process.
#[inline]
pub(crate) fn anchor() -> usize {
    std::ptr::addr_of!(ANCHOR) as usize
}

/// Rebuilds a code pointer from an address computed from an offset.
///
/// # Safety
/// `addr` must be the address of a function of exactly the type `F` in this binary, computed
/// from an offset produced by the same binary. `F` must be a function pointer type.
pub(crate) unsafe fn fn_from_addr<F: Copy>(addr: usize) -> F {
    assert_eq!(std::mem::size_of::<F>(), std::mem::size_of::<usize>());
    let p = addr as *const ();
    // SAFETY: the caller guarantees that `p` is the address of a function of type `F` and
    // that `F` is a function pointer type, which has the size (checked above) and
    // representation of a data pointer on the platforms ipc-core supports.
    unsafe { std::mem::transmute_copy::<*const (), F>(&p) }
}
