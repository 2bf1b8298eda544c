//! The raw limits: every workload that has one, done with bare syscalls or a minimal
//! hand-rolled equivalent, as the floor that procpool is measured against.
//!
//! | workload | limit | unit |
//! |---|---|---|
//! | `start_join_fork` | [`fork_start_join`]: `fork` + `_exit` + wait | µs/process |
//! | `start_join_spawn` | [`spawn_start_join`]: `posix_spawn` of this binary, which exits at once | µs/process |
//! | `start_join_forkserver` | [`forkserver_start_join`]: a small forked server forks on request | µs/process |
//! | `pipe_rtt`, `apply_async_serial` | [`socketpair_rtt`]: 16-byte ping-pong over a socketpair | µs/round trip |
//! | `queue_small` | [`ring_items_per_s`]: SPSC ring of 8-byte items in shared memory | items/s |
//! | `queue_64k` | [`ring_mb_per_s`]: SPSC ring of 64 KiB slots, memcpy in and out | MB/s |
//! | `lock_uncontended` | [`lock_uncontended`]: a CAS lock on an `AtomicU32`, futex slow path | ns/op |
//! | `lock_contended` | [`lock_contended`]: that lock hammered by 2 forked processes | ns/op |
//! | `event_wake` | [`futex_wake_latency`]: `FUTEX_WAKE` to a process in `FUTEX_WAIT` | µs |
//! | `memcpy_64k` (reference) | [`memcpy_mb_per_s`]: `memcpy` of a 64 KiB block, in cache | MB/s |
//!
//! Each function measures ONE repetition and returns its value in the workload's unit; the
//! harness repeats and alternates. [`limit`] maps a [`Case`] to the right function and size.
//! MB is 10^6 bytes.
//!
//! # Processes and deadlines
//!
//! A measurement that needs a peer forks it from the harness, which must be single-threaded at
//! that moment so that the child may run ordinary Rust code: every function that forks checks
//! this ([`ensure_single_threaded`]) and fails otherwise. A child asks the kernel to SIGKILL it if its
//! parent dies, and every wait on a peer (the parent on its child with a pidfd and `poll`, either
//! side on a futex word, a spinning ring index or a socket) is bounded by [`RUN_TIMEOUT`]. When
//! a wait times out, the children are killed and reaped (see `sys::Child`) and the
//! measurement returns an error instead of hanging.
//!
//! # Shared memory and futexes
//!
//! Shared state is a `#[repr(C)]` struct of atomics at the start of a `memfd_create` file mapped
//! `MAP_SHARED` before the fork, so parent and child see the same bytes. Futex calls leave out
//! `FUTEX_PRIVATE_FLAG`: the word is shared between processes, and a private futex would never
//! wake the other one.
//!
//! # Pinning
//!
//! For the latency workloads the measuring process pins itself for the duration of the
//! measurement ([`AffinityGuard`], restored afterwards, so later measurements and the Python
//! subprocesses see the original CPU set) and its peer pins itself in the child: both on CPU 0
//! ([`Pinning::SameCore`]) or on CPUs 0 and 1 ([`Pinning::TwoCores`]).

// This module IS the raw baseline: it calls fork, mmap and futex directly on purpose, which the
// workspace otherwise confines to ipc-core/src/sys and procpool's sys module (clippy.toml).
#![allow(clippy::disallowed_methods)]

mod sys;

use std::ffi::CString;
use std::hint::{black_box, spin_loop};
use std::io::{self, Read, Write};
use std::net::Shutdown;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::ptr;
use std::sync::atomic::AtomicU32;
use std::sync::atomic::AtomicU64;
use std::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use std::time::{Duration, Instant};

pub use self::sys::{AffinityGuard, can_pin, ensure_single_threaded, mono_ns, pin_to_cpu};
use self::sys::{
    Backoff, CacheLine, Child, Shared, ShmSafe, cstring, cvt, futex_wait, futex_wake, per_item,
    wait_until,
};
use crate::error::BenchError;
use crate::workloads::{Case, Pinning};

type Result<T> = std::result::Result<T, BenchError>;

/// The longest one raw measurement may take; past it, its children are killed and it fails.
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// The environment variable that makes this binary exit as soon as it starts
/// ([`exit_if_spawn_probe`]); [`spawn_start_join`] sets it for the processes it spawns.
pub const SPAWN_PROBE_ENV: &str = "PROCPOOL_BENCH_SPAWN_PROBE";

/// The size of the ping-pong message of [`socketpair_rtt`], in bytes.
pub const SMALL_MSG: usize = 16;

/// The item size of [`ring_mb_per_s`] and [`memcpy_mb_per_s`], in bytes.
pub const ITEM_64K: usize = 64 * 1024;

/// The longest single sleep of a wait: every wait re-checks its deadline at least this often.
const WAIT_SLICE: Duration = Duration::from_millis(20);

/// How long dropping a child may wait for it to die after SIGKILL.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Spins of a busy wait before it starts yielding the CPU (see [`Backoff`]).
const SPIN_LIMIT: u32 = 64;

/// Runs one repetition of the raw limit of `case`, sized for a quick or a full run.
///
/// Returns `None` when the workload has no raw equivalent (the pool workloads and
/// `cpu_speedup`).
pub fn limit(case: &Case, quick: bool) -> Option<Result<f64>> {
    let size = |full: usize, quick_size: usize| if quick { quick_size } else { full };
    let pin = case.pinning;
    Some(match case.workload.name {
        "start_join_fork" => fork_start_join(size(2_000, 300)),
        "start_join_spawn" => spawn_start_join(size(300, 60)),
        "start_join_forkserver" => forkserver_start_join(size(1_000, 200)),
        "pipe_rtt" | "apply_async_serial" => socketpair_rtt(size(20_000, 5_000), pin),
        "queue_small" => ring_items_per_s(size(20_000_000, 4_000_000), pin),
        "queue_64k" => ring_mb_per_s(size(100_000, 20_000), pin),
        "lock_uncontended" => lock_uncontended(size(20_000_000, 5_000_000)),
        "lock_contended" => lock_contended(size(2_000_000, 400_000), pin),
        "event_wake" => futex_wake_latency(size(300, 60), pin),
        "memcpy_64k" => memcpy_mb_per_s(size(200_000, 50_000)),
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------
// Process start-up
// ---------------------------------------------------------------------------------------------

/// Exits the process at once if it was started by [`spawn_start_join`].
///
/// Call it first thing in `main` of the binary that runs the raw measurements, so that the
/// spawned process costs no more than exec, the dynamic loader and Rust's runtime start-up.
pub fn exit_if_spawn_probe() {
    if std::env::var_os(SPAWN_PROBE_ENV).is_some() {
        std::process::exit(0);
    }
}

/// `fork` + `_exit(0)` in the child + wait in the parent, `n` times: µs per process.
pub fn fork_start_join(n: usize) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    for _ in 0..n.min(20) {
        fork_exit_wait(deadline)?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        fork_exit_wait(deadline)?;
    }
    Ok(per_item(t0.elapsed(), n) * 1e6)
}

/// Forks a child that only calls `_exit(0)`, and reaps it.
fn fork_exit_wait(deadline: Instant) -> Result<()> {
    // SAFETY: the child calls only `_exit`, which is async-signal-safe, so forking is sound even
    // if other threads held locks.
    let pid = cvt(unsafe { libc::fork() }).map_err(|e| BenchError::io("fork", e))?;
    if pid == 0 {
        // SAFETY: ends the child at once; nothing of the parent's state is touched.
        unsafe { libc::_exit(0) }
    }
    Child::adopt(pid).wait(deadline)
}

/// `posix_spawn` of this very binary with [`SPAWN_PROBE_ENV`] set (so it exits as soon as
/// `main` starts, see [`exit_if_spawn_probe`]) + wait, `n` times: µs per process.
///
/// This is what a spawn start method cannot avoid: exec of the current binary, the dynamic
/// loader and the language runtime's start-up.
pub fn spawn_start_join(n: usize) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let exe = std::env::current_exe().map_err(|e| BenchError::io("current_exe", e))?;
    let path = cstring(exe.as_os_str().as_bytes())?;
    let mut env: Vec<CString> = Vec::new();
    for (key, value) in std::env::vars_os() {
        if key != SPAWN_PROBE_ENV {
            env.push(cstring(&[key.as_bytes(), b"=", value.as_bytes()].concat())?);
        }
    }
    env.push(cstring(format!("{SPAWN_PROBE_ENV}=1").as_bytes())?);
    let argv: [*mut libc::c_char; 2] = [path.as_ptr().cast_mut(), ptr::null_mut()];
    let envp: Vec<*mut libc::c_char> = env
        .iter()
        .map(|s| s.as_ptr().cast_mut())
        .chain([ptr::null_mut()])
        .collect();

    let spawn_wait = || -> Result<()> {
        let mut pid: libc::pid_t = 0;
        // SAFETY: `path` is a valid C string; `argv` and `envp` are null-terminated arrays of
        // valid C strings, all alive for the call; null file actions and attributes ask for the
        // defaults; `pid` is a valid out-pointer.
        let rc = unsafe {
            libc::posix_spawn(
                &mut pid,
                path.as_ptr(),
                ptr::null(),
                ptr::null(),
                argv.as_ptr(),
                envp.as_ptr(),
            )
        };
        if rc != 0 {
            return Err(BenchError::io(
                "posix_spawn",
                io::Error::from_raw_os_error(rc),
            ));
        }
        Child::adopt(pid).wait(deadline)
    };
    for _ in 0..n.min(5) {
        spawn_wait()?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        spawn_wait()?;
    }
    Ok(per_item(t0.elapsed(), n) * 1e6)
}

/// A hand-rolled fork server: the harness forks a small server once; then, `n` times, it sends
/// a one-byte request over a socketpair, the server forks a child that `_exit`s, reaps it and
/// answers one byte: µs per process.
pub fn forkserver_start_join(n: usize) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (client, server_end) = socketpair()?;
    let mut server = Child::fork(None, || {
        let mut sock = &server_end;
        let mut byte = [0u8; 1];
        loop {
            match sock.read(&mut byte) {
                Ok(0) => return Ok(()), // the client is done
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BenchError::io("fork server: read request", e)),
            }
            fork_exit_wait(deadline)?;
            sock.write_all(&[0])
                .map_err(|e| BenchError::io("fork server: reply", e))?;
        }
    })?;
    drop(server_end);

    let mut sock = &client;
    let mut request = || -> Result<()> {
        sock.write_all(&[1])
            .map_err(|e| BenchError::io("fork server: request", e))?;
        let mut reply = [0u8; 1];
        sock.read_exact(&mut reply)
            .map_err(|e| BenchError::io("fork server: read reply", e))
    };
    for _ in 0..n.min(20) {
        request()?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        request()?;
    }
    let elapsed = t0.elapsed();
    // End of requests. `shutdown` acts on the socket, not on this descriptor, so the server
    // reads end-of-file even though it inherited a copy of `client`.
    client
        .shutdown(Shutdown::Write)
        .map_err(|e| BenchError::io("shutdown", e))?;
    server.wait(deadline)?;
    Ok(per_item(elapsed, n) * 1e6)
}

// ---------------------------------------------------------------------------------------------
// Message round trip
// ---------------------------------------------------------------------------------------------

/// Ping-pong of a [`SMALL_MSG`]-byte message over an `AF_UNIX` stream socketpair with a forked
/// echo child, `n` round trips: µs per round trip.
pub fn socketpair_rtt(n: usize, pinning: Pinning) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me)?;
    let (ours, theirs) = socketpair()?;
    let warmup = 200;
    let mut child = Child::fork(peer, || {
        let mut sock = &theirs;
        let mut buf = [0u8; SMALL_MSG];
        for _ in 0..n + warmup {
            sock.read_exact(&mut buf)
                .map_err(|e| BenchError::io("echo: read", e))?;
            sock.write_all(&buf)
                .map_err(|e| BenchError::io("echo: write", e))?;
        }
        Ok(())
    })?;
    drop(theirs);

    let mut sock = &ours;
    let msg = [7u8; SMALL_MSG];
    let mut buf = [0u8; SMALL_MSG];
    let mut round_trip = || -> Result<()> {
        sock.write_all(&msg)
            .map_err(|e| BenchError::io("ping: write", e))?;
        sock.read_exact(&mut buf)
            .map_err(|e| BenchError::io("ping: read", e))
    };
    for _ in 0..warmup {
        round_trip()?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        round_trip()?;
    }
    let elapsed = t0.elapsed();
    child.wait(deadline)?;
    Ok(per_item(elapsed, n) * 1e6)
}

/// A connected `AF_UNIX` stream socketpair (close-on-exec) whose reads and writes time out
/// after [`RUN_TIMEOUT`].
fn socketpair() -> Result<(UnixStream, UnixStream)> {
    let (a, b) = UnixStream::pair().map_err(|e| BenchError::io("socketpair", e))?;
    for s in [&a, &b] {
        s.set_read_timeout(Some(RUN_TIMEOUT))?;
        s.set_write_timeout(Some(RUN_TIMEOUT))?;
    }
    Ok((a, b))
}

// ---------------------------------------------------------------------------------------------
// SPSC ring in shared memory
// ---------------------------------------------------------------------------------------------

/// `n` 8-byte items through a shared-memory SPSC ring (8192 slots) from a forked producer to
/// the measuring process: items per second.
pub fn ring_items_per_s(n: usize, pinning: Pinning) -> Result<f64> {
    let elapsed = ring_transfer::<8>(8192, n as u64, pinning)?;
    Ok(1.0 / per_item(elapsed, n))
}

/// `n` items of [`ITEM_64K`] bytes through a shared-memory SPSC ring (16 slots, 1 MiB): MB/s.
/// The producer copies each item into a slot and the consumer copies it out, as a queue does.
pub fn ring_mb_per_s(n: usize, pinning: Pinning) -> Result<f64> {
    let elapsed = ring_transfer::<ITEM_64K>(16, n as u64, pinning)?;
    Ok((n * ITEM_64K) as f64 / 1e6 / elapsed.as_secs_f64())
}

/// The control block of the ring: the producer's and the consumer's counters on separate cache
/// lines, and the start handshake.
#[repr(C)]
#[derive(Debug)]
struct RingCtl {
    /// Items published by the producer.
    tail: CacheLine<AtomicU64>,
    /// Items consumed.
    head: CacheLine<AtomicU64>,
    /// Set by the producer once it is running.
    ready: AtomicU32,
    /// Set by the consumer to start the transfer.
    go: AtomicU32,
}

// SAFETY: `#[repr(C)]`, atomics only (all-zero is "empty ring, not started"), used through
// shared references.
unsafe impl ShmSafe for RingCtl {}

/// Moves `n` items of `ITEM` bytes (each carrying its sequence number in its first 8 bytes)
/// through a ring of `slots` slots, from a forked producer to the calling process, which checks
/// the order. Returns the time from the start signal to the last item received.
///
/// Both sides keep a cached copy of the other's counter and re-read it only when the ring looks
/// full (empty), so the counters' cache lines move in batches. A side that must wait spins
/// [`SPIN_LIMIT`] times, then yields the CPU, so that it also works with both pinned to one core.
fn ring_transfer<const ITEM: usize>(slots: usize, n: u64, pinning: Pinning) -> Result<Duration> {
    const { assert!(ITEM >= 8) };
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me)?;
    let shm = Shared::<RingCtl>::new(ITEM * slots)?;
    let data = shm.data();
    let cap = slots as u64;
    let slot_ptr = |i: u64| data.wrapping_add((i % cap) as usize * ITEM);

    let mut producer = Child::fork(peer, || {
        let mut src = vec![0u8; ITEM].into_boxed_slice();
        shm.ready.store(1, Release);
        futex_wake(&shm.ready, 1);
        wait_until(&shm.go, deadline, "the ring's start signal", |v| v != 0)?;
        let mut head = 0u64;
        let mut backoff = Backoff::new(deadline, "space in the ring");
        for i in 0..n {
            while i - head >= cap {
                head = shm.head.0.load(Acquire);
                if i - head >= cap {
                    backoff.snooze()?;
                }
            }
            backoff.reset();
            src[..8].copy_from_slice(&i.to_ne_bytes());
            // SAFETY: slot `i % cap` is `ITEM` bytes inside the data area of the mapping. The
            // consumer has finished with its previous content (`head > i - cap`) and will not
            // read it before `tail > i`, published below; `src` is a separate heap buffer.
            unsafe { ptr::copy_nonoverlapping(src.as_ptr(), slot_ptr(i), ITEM) };
            shm.tail.0.store(i + 1, Release);
        }
        Ok(())
    })?;

    wait_until(&shm.ready, deadline, "the ring's producer", |v| v != 0)?;
    let mut dst = vec![0u8; ITEM].into_boxed_slice();
    let mut tail = 0u64;
    let mut out_of_order = 0u64;
    let mut backoff = Backoff::new(deadline, "items in the ring");
    let t0 = Instant::now();
    shm.go.store(1, Release);
    futex_wake(&shm.go, 1);
    for i in 0..n {
        while tail <= i {
            tail = shm.tail.0.load(Acquire);
            if tail <= i {
                backoff.snooze()?;
            }
        }
        backoff.reset();
        // SAFETY: the producer published slot `i % cap` (`tail > i`, acquired above) and will
        // not overwrite it before `head > i`, stored below; `dst` is a separate heap buffer.
        unsafe { ptr::copy_nonoverlapping(slot_ptr(i), dst.as_mut_ptr(), ITEM) };
        if dst[..8] != i.to_ne_bytes() {
            out_of_order += 1;
        }
        shm.head.0.store(i + 1, Release);
    }
    let elapsed = t0.elapsed();
    black_box(&dst);
    producer.wait(deadline)?;
    if out_of_order != 0 {
        return Err(BenchError::new(format!(
            "ring: {out_of_order} items out of order"
        )));
    }
    Ok(elapsed)
}

/// `memcpy` of one [`ITEM_64K`]-byte block to another, `n` times (in cache): MB/s.
pub fn memcpy_mb_per_s(n: usize) -> Result<f64> {
    let src = vec![1u8; ITEM_64K];
    let mut dst = vec![0u8; ITEM_64K];
    for _ in 0..n.min(1_000) {
        dst.copy_from_slice(black_box(&src));
    }
    let t0 = Instant::now();
    for _ in 0..n {
        dst.copy_from_slice(black_box(&src));
        black_box(&mut dst);
    }
    Ok((n * ITEM_64K) as f64 / 1e6 / t0.elapsed().as_secs_f64())
}

// ---------------------------------------------------------------------------------------------
// Futex lock and wake-up
// ---------------------------------------------------------------------------------------------

/// A minimal futex lock, the algorithm of `std::sync::Mutex` on Linux (a CAS fast path; when
/// contended, a short spin, then "locked, with sleepers" and `FUTEX_WAIT`), but shared between
/// processes: it lives in shared memory and its futex calls are not private.
#[repr(C)]
#[derive(Debug)]
struct FutexLock {
    state: AtomicU32,
}

impl FutexLock {
    const UNLOCKED: u32 = 0;
    const LOCKED: u32 = 1;
    const CONTENDED: u32 = 2;

    /// Takes the lock, failing if it cannot before `deadline` (e.g. its holder died).
    #[inline]
    fn lock(&self, deadline: Instant) -> Result<()> {
        match self
            .state
            .compare_exchange(Self::UNLOCKED, Self::LOCKED, Acquire, Relaxed)
        {
            Ok(_) => Ok(()),
            Err(_) => self.lock_contended(deadline),
        }
    }

    #[cold]
    fn lock_contended(&self, deadline: Instant) -> Result<()> {
        let mut state = self.spin();
        if state == Self::UNLOCKED {
            match self
                .state
                .compare_exchange(Self::UNLOCKED, Self::LOCKED, Acquire, Relaxed)
            {
                Ok(_) => return Ok(()),
                Err(s) => state = s,
            }
        }
        loop {
            // Announce a sleeper; if the lock was free meanwhile, it is ours.
            if state != Self::CONTENDED && self.state.swap(Self::CONTENDED, Acquire) == 0 {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(BenchError::new(
                    "futex lock: timed out (holder dead or stuck?)",
                ));
            }
            futex_wait(
                &self.state,
                Self::CONTENDED,
                (deadline - now).min(WAIT_SLICE),
            );
            state = self.spin();
        }
    }

    /// Spins (at most 100 times) while the lock is held without sleepers; returns the state.
    fn spin(&self) -> u32 {
        let mut spins = 100;
        loop {
            let state = self.state.load(Relaxed);
            if state != Self::LOCKED || spins == 0 {
                return state;
            }
            spin_loop();
            spins -= 1;
        }
    }

    /// Releases the lock, waking one sleeper if there may be one.
    #[inline]
    fn unlock(&self) {
        if self.state.swap(Self::UNLOCKED, Release) == Self::CONTENDED {
            futex_wake(&self.state, 1);
        }
    }
}

/// The shared state of the lock workloads.
#[repr(C)]
#[derive(Debug)]
struct LockShm {
    lock: FutexLock,
    /// Hammers that are running.
    ready: AtomicU32,
    /// Set to start hammering.
    go: AtomicU32,
    /// Incremented (non-atomically, under the lock) by every acquire: checks mutual exclusion.
    counter: AtomicU64,
    /// Start and end of each hammer (CLOCK_MONOTONIC ns).
    stamps: [AtomicU64; 4],
}

// SAFETY: `#[repr(C)]`, atomics only (all-zero is "unlocked, not started"), used through shared
// references.
unsafe impl ShmSafe for LockShm {}

/// Lock + unlock of an uncontended futex lock (std's algorithm, in shared memory), `n` times:
/// ns per pair.
pub fn lock_uncontended(n: usize) -> Result<f64> {
    let deadline = Instant::now() + RUN_TIMEOUT;
    let shm = Shared::<LockShm>::new(0)?;
    let lock = black_box(&shm.lock);
    for _ in 0..n.min(10_000) {
        lock.lock(deadline)?;
        lock.unlock();
    }
    let t0 = Instant::now();
    for _ in 0..n {
        lock.lock(deadline)?;
        lock.unlock();
    }
    Ok(per_item(t0.elapsed(), n) * 1e9)
}

/// Two forked processes each lock + unlock one shared futex lock `n` times: ns per pair, from the
/// first process's start to the last one's end, over the `2n` pairs.
///
/// Under [`Pinning::SameCore`] both hammers run on CPU 0 (and take turns by time slice, so the
/// lock is rarely contended); under [`Pinning::TwoCores`] on CPUs 0 and 1.
pub fn lock_contended(n: usize, pinning: Pinning) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me)?;
    let shm = Shared::<LockShm>::new(0)?;
    let hammer = |slot: usize| {
        let shm = &shm;
        move || -> Result<()> {
            shm.ready.fetch_add(1, Release);
            futex_wake(&shm.ready, 1);
            wait_until(&shm.go, deadline, "the lock's start signal", |v| v != 0)?;
            let t0 = mono_ns();
            for _ in 0..n {
                shm.lock.lock(deadline)?;
                shm.counter.store(shm.counter.load(Relaxed) + 1, Relaxed);
                shm.lock.unlock();
            }
            let t1 = mono_ns();
            shm.stamps[2 * slot].store(t0, Relaxed);
            shm.stamps[2 * slot + 1].store(t1, Relaxed);
            Ok(())
        }
    };
    let mut first = Child::fork(me, hammer(0))?;
    let mut second = Child::fork(peer, hammer(1))?;
    wait_until(&shm.ready, deadline, "the lock hammers", |v| v == 2)?;
    shm.go.store(1, Release);
    futex_wake(&shm.go, i32::MAX);
    first.wait(deadline)?;
    second.wait(deadline)?;

    let count = shm.counter.load(Acquire);
    if count != 2 * n as u64 {
        return Err(BenchError::new(format!(
            "lock: {count} increments instead of {}",
            2 * n
        )));
    }
    let stamp = |i: usize| shm.stamps[i].load(Relaxed);
    let elapsed = stamp(1)
        .max(stamp(3))
        .saturating_sub(stamp(0).min(stamp(2)));
    Ok(elapsed as f64 / (2 * n) as f64)
}

/// The shared state of [`futex_wake_latency`].
#[repr(C)]
#[derive(Debug)]
struct WakeShm {
    /// Bumped by the parent to wake the child (the futex the child sleeps on).
    seq: AtomicU32,
    /// The last `seq` the child has seen (the futex the parent sleeps on).
    ack: AtomicU32,
    /// When the child ran after its last wake-up (CLOCK_MONOTONIC ns).
    woke_at: AtomicU64,
}

// SAFETY: `#[repr(C)]`, atomics only, used through shared references.
unsafe impl ShmSafe for WakeShm {}

/// Wake-up latency to another process: a forked child sleeps in `FUTEX_WAIT` (no spinning); the
/// parent, 2 ms later, reads CLOCK_MONOTONIC and calls `FUTEX_WAKE`; the child reads the clock
/// as soon as it runs. `n` samples; returns their median, in µs.
pub fn futex_wake_latency(n: usize, pinning: Pinning) -> Result<f64> {
    ensure_single_threaded()?;
    let deadline = Instant::now() + RUN_TIMEOUT;
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me)?;
    let shm = Shared::<WakeShm>::new(0)?;
    let rounds = u32::try_from(n).map_err(|_| BenchError::new("too many samples"))?;
    let mut child = Child::fork(peer, || {
        for i in 1..=rounds {
            wait_until(&shm.seq, deadline, "the wake-up", |v| v >= i)?;
            shm.woke_at.store(mono_ns(), Relaxed);
            shm.ack.store(i, Release);
            futex_wake(&shm.ack, 1);
        }
        Ok(())
    })?;
    let mut samples = Vec::with_capacity(n);
    for i in 1..=rounds {
        std::thread::sleep(Duration::from_millis(2)); // the child falls asleep meanwhile
        let t0 = mono_ns();
        shm.seq.store(i, Release);
        futex_wake(&shm.seq, 1);
        wait_until(&shm.ack, deadline, "the woken child", |v| v >= i)?;
        samples.push(shm.woke_at.load(Relaxed).saturating_sub(t0) as f64);
    }
    child.wait(deadline)?;
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    };
    Ok(median / 1e3)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uncontended_lock_is_fast_and_works() {
        let ns = lock_uncontended(100_000).unwrap();
        assert!(ns > 0.0);
    }

    #[test]
    fn memcpy_runs() {
        assert!(memcpy_mb_per_s(100).unwrap() > 0.0);
    }

    // The measurements that fork need a single-threaded process, which libtest is not: they
    // are exercised by tests/raw_smoke.rs (harness = false).
}
