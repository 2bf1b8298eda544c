//! Process-shared building blocks for [procpool]: locks, queues, pipes and shared values that
//! work between processes, and everything they need to travel to a child — but nothing that
//! creates a process.
//!
//! [procpool]: https://docs.rs/procpool
//!
//! ```
//! use ipc_core::{Lock, Queue, Value};
//!
//! let jobs = Queue::<Option<String>>::new(10)?; // Python: Queue(10); None ends the work
//! let done = Value::new(0u32)?; // Python: Value('I', 0)
//! let lock = Lock::new()?; // Python: Lock()
//!
//! // A clone is another handle to the same queue, value or lock. With procpool the clones are
//! // the arguments of child processes; here they go to a thread.
//! let (q, d, l) = (jobs.clone(), done.clone(), lock.clone());
//! let worker = std::thread::spawn(move || {
//!     while let Ok(Some(job)) = q.get() {
//!         let _held = l.acquire(); // released when `_held` drops
//!         println!("worker: {job}");
//!         d.fetch_add(1); // atomic: no lock needed for a counter
//!     }
//! });
//! for i in 0..3 {
//!     jobs.put(Some(format!("job {i}")))?;
//! }
//! jobs.put(None)?;
//! worker.join().unwrap();
//! assert_eq!(done.get(), 3);
//! assert_eq!(jobs.qsize(), 0); // exact, at any moment
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every object here lives in memory shared between processes (a memfd mapped `MAP_SHARED`,
//! waited on with futexes that work across processes) or in a kernel object (a socket or a
//! pipe). The same code works between threads, between a parent and the children it
//! forks, and between processes started by procpool under any start method, where the
//! objects are passed **as arguments**:
//!
//! ```text
//! // with procpool (crate `procpool` re-exports all of ipc-core):
//! let mut p = procpool::Process::new(worker, (jobs.clone(), done.clone(), lock.clone()));
//! p.start()?;
//! ```
//!
//! # What is inside
//!
//! | Python `multiprocessing`                   | here |
//! |--------------------------------------------|------|
//! | `Lock`, `RLock`                            | [`Lock`], [`RLock`] (robust: a dead holder is taken over) |
//! | `Semaphore`, `BoundedSemaphore`            | [`Semaphore`], [`BoundedSemaphore`] |
//! | `Event`, `Condition`, `Barrier`            | [`Event`], [`Condition`], [`Barrier`] |
//! | `Queue`, `JoinableQueue`, `SimpleQueue`    | [`Queue`], [`JoinableQueue`], [`SimpleQueue`] (module [`queue`]) |
//! | `Pipe`, `Connection`, `connection.wait`    | [`Pipe`], [`Connection`], [`pipe::wait`] (module [`pipe`]) |
//! | `Value`, `Array`, `RawValue`, `RawArray`   | [`Value`], [`Array`], [`RawValue`], [`RawArray`] (module [`values`]) |
//! | `shared_memory.SharedMemory`               | [`SharedMemory`] ([`values::shared_memory`]) |
//! | *(none)*                                   | [`SharedAtomics`]: lock-free shared counters |
//! | pickle                                     | [`codec`] (serde + bincode), [`transfer`] (descriptors), [`code`] (functions) |
//!
//! Modules: [`sync`] (the locks and their relatives), [`queue`], [`pipe`], [`values`], [`codec`] (the
//! one place that serialises), [`transfer`] (how objects backed by descriptors reach a
//! child), [`code`] (how a function travels as an offset in the binary). The types users
//! need are re-exported at the crate root.
//!
//! # Which crate to depend on
//!
//! Depend on **procpool** to start processes (`Process`, start methods, `Pool`): it
//! re-exports all of ipc-core. Depend on **ipc-core** alone when something else starts the
//! processes and you want shared-memory queues and robust locks between them:
//!
//! * children you `fork` yourself inherit every object as it is (shared memory stays shared
//!   across `fork`; a clone made before the fork is the child's handle);
//! * for any other launcher, [`transfer::encode_with_fds`] turns a value containing objects
//!   into bytes plus the descriptors to deliver, and [`transfer::decode_with_fds`] rebuilds
//!   it in the child (that is what procpool does for spawn and the fork server).
//!
//! # Conventions
//!
//! **Blocking calls come in four forms** (as in crossbeam-channel): `op()` blocks as long
//! as it takes, `try_op()` does not wait, `op_timeout(Duration)` waits at most that long,
//! `op_deadline(Instant)` waits until then. A timeout too large to represent means "for
//! ever". Python's `block=False` is `try_*` (also spelled `put_nowait`/`get_nowait`), and
//! `timeout=t` is `*_timeout`. Queries such as [`Queue::qsize`] or [`Lock::is_locked`] are
//! snapshots: another process may change the answer at once.
//!
//! **Handles.** Every object is a handle: `clone()` gives another handle to the same object
//! (`same_as` tells whether two handles meet), and a handle serialised as a child's argument
//! reaches the same object in the child. Guards ([`LockGuard`], [`SemaphoreGuard`], ...)
//! release on drop; Python's explicit `release()` exists too, for code that hands a release
//! to another thread or process.
//!
//! **Items are serde values.** Queue items and pipe messages are any
//! `T: Serialize + DeserializeOwned`, encoded by [`codec`] (use [`ByteBuf`] for raw bytes).
//! Shared values hold plain `#[repr(C)]` data ([`values::Shareable`]).
//!
//! # Errors
//!
//! Every failure is a value of a small type made for the operation — never a panic on bad
//! input or a misbehaving peer, never a string:
//!
//! | operation | error | Python |
//! |---|---|---|
//! | `try_acquire` | [`WouldBlock`] | `acquire(False)` returns `False` |
//! | `acquire_timeout`, `join_timeout` | [`Timeout`] | `acquire(timeout=t)` returns `False` |
//! | `Lock::release`, `RLock::release` | [`ReleaseError`] (`NotHeld`, `NotOwner`) | `ValueError`, `RuntimeError` |
//! | `Semaphore::release` | [`SemaphoreReleaseError`] | `ValueError` (bounded) |
//! | `Queue::put*` | [`PutError`] (`Full(item)`, `Closed(item)`, `Encode`): the item comes back | `queue.Full` |
//! | `Queue::get*` | [`GetError`] (`Empty`, `Closed`, `Decode`) | `queue.Empty` |
//! | `JoinableQueue::task_done` | [`TaskDoneError`] | `ValueError` |
//! | `Connection::send*` | [`SendError`] (`Disconnected`, `Encode`, `TooLong`, ...) | `BrokenPipeError`, ... |
//! | `Connection::recv*` | [`RecvError`] (`Eof`, `Decode`, ...), [`TryRecvError`], [`RecvTimeoutError`] | `EOFError` |
//! | `Condition::wait*`, `notify*` | [`ConditionWaitError`], [`ConditionNotifyError`] | `RuntimeError` |
//! | `Barrier::wait*` | [`BarrierWaitError`] (`Broken`, `Timeout`) | `BrokenBarrierError` |
//! | `Array::set`, `SharedMemory::write_at` | [`values::OutOfBounds`] | `IndexError` |
//! | `SharedMemory::create`/`open` | [`values::ShmError`] | `FileExistsError`, ... |
//!
//! Creating an object returns [`std::io::Result`]: it fails only when the system refuses
//! memory or descriptors.
//!
//! # What is better than Python
//!
//! * A [`Lock`] or [`RLock`] whose holder died (even by `SIGKILL`) is taken over within
//!   about a quarter of a second, and the new holder is told
//!   ([`LockGuard::previous_owner_died`]); a [`Barrier`] with a dead party breaks instead of
//!   hanging the others.
//! * A process killed in the middle of a queue `put` or `get` does not wedge the queue
//!   (cpython gh-96062); `put` returns once the item is in shared memory (no feeder thread:
//!   nothing is lost when the producer exits); `qsize` is exact everywhere.
//! * Anonymous shared memory is freed by the kernel when the last process lets go: no
//!   resource tracker, nothing left in `/dev/shm` after a crash. Only named
//!   [`SharedMemory`] has a name to clean up, and only its creator removes it.
//!
//! # Safety
//!
//! ipc-core is safe to use: all `unsafe` code is in a private `sys` module (system calls,
//! mappings) and in [`transfer::decode_with_fds`], whose contract is that the bytes come from
//! the same binary. Memory that another process can write is never exposed as a Rust
//! reference except to atomics: values are copied in and out, so a misbehaving peer can give
//! you a wrong value, never undefined behaviour.
//!
//! Objects survive `fork` and behave well across it: locks record their owner's process id
//! (or thread id), so a lock that a parent thread holds while another thread forks stays the
//! parent's and is released by it — unlike a `std::sync::Mutex`, which the child would find
//! locked for ever. Whether *your* code is fork-safe in a multi-threaded program is another
//! matter: see procpool's crate docs on start methods.
//!
//! Linux only (futexes, memfd, `SCM_RIGHTS`).
#![deny(unsafe_op_in_unsafe_fn)]
#![deny(rustdoc::broken_intra_doc_links)]
#![doc(test(attr(deny(warnings))))]

pub mod code;
pub mod codec;
pub mod pipe;
pub mod queue;
mod region;
pub mod sync;
mod sys;
pub mod transfer;
pub mod values;

pub use pipe::{
    Connection, Duplex, Pipe, RecvBytesIntoError, RecvError, RecvOnly, RecvTimeoutError, SendError,
    SendOnly, TryRecvError,
};
pub use queue::{
    GetError, JoinableQueue, PutError, Queue, QueueBuilder, SimpleQueue, TaskDoneError,
};
pub use sync::*;
pub use transfer::FdArg;
pub use values::{Array, RawArray, RawValue, SharedMemory, Value};

/// An owned byte buffer that encodes as one block of bytes (a `Vec<u8>` encodes byte by
/// byte through serde): use it for binary payloads in queues, pipes and pool tasks.
pub use serde_bytes::ByteBuf;

/// A borrowed byte slice that encodes like a [`ByteBuf`]: use it in borrowing mirrors of
/// message types (see [`Queue::put_as`]).
pub use serde_bytes::Bytes;
