//! The procpool column of the comparison: each workload done with procpool's API.
//!
//! Every workload of the issue is implemented (see [`procpool_impl`]); the table below is the
//! contract each implementation follows, side by side with `benches/python/mp_bench.py`.
//!
//! # Contract for the implementation
//!
//! [`procpool_impl`] runs ONE repetition of a [`Case`] and returns its value in the workload's
//! unit ([`Workload::unit`](crate::workloads::Workload::unit)), or `None` if procpool has no
//! equivalent. It must measure the same thing, in the same way, as `benches/python/mp_bench.py`
//! (read it side by side), with the same sizes (`quick` shrinks them as the script does):
//!
//! | workload | timed region | full / quick size |
//! |---|---|---|
//! | `start_join_{fork,spawn,forkserver}` | n × (start + join) of an empty target, after one unmeasured start (which starts the fork server) | fork 300 / 60, spawn 20 / 5, forkserver 100 / 20 |
//! | `pool_map_default`, `pool_map_chunk1` | `map` of a trivial function on `Pool(2)`, after a warm-up map; default chunk size, or 1 | 100,000 / 10,000 tasks |
//! | `apply_async_pipelined` | submit all, then get all, on `Pool(2)` | 10,000 / 2,000 tasks |
//! | `apply_async_serial` | `apply_async(f, i).get()` one at a time, after 50 unmeasured | 3,000 / 500 round trips |
//! | `queue_small` | from the "go" signal to the consumer (the measuring process) having got every integer; the producer is a child that put a "ready" item first | 200,000 / 20,000 items |
//! | `queue_64k` | the same with `Vec<u8>`/bytes items of 64 KiB; MB = 10^6 bytes | 10,000 / 1,000 items |
//! | `pipe_rtt` | send + recv of a 16-byte message to an echo child, after 200 unmeasured | 20,000 / 4,000 round trips |
//! | `lock_uncontended` | acquire + release in a loop | 1,000,000 / 200,000 |
//! | `lock_contended` | 2 children each acquire + release n times, from the first one's start to the last one's end, ÷ 2n | 500,000 / 100,000 per process |
//! | `event_wake` | the measuring process sleeps 2 ms, reads CLOCK_MONOTONIC and sets the event; the child reads the clock when its wait returns; median of the samples | 300 / 60 samples |
//! | `cpu_speedup` | sequential time ÷ time of `Pool(10)` creation + `map` + close, task n counting from n down to -n | TOTAL 20,000 / 4,000 |
//!
//! For the pinned cases ([`Pinning::SameCore`],
//! [`Pinning::TwoCores`]) pin the measuring process with
//! [`crate::raw::AffinityGuard`] (it restores the CPU set afterwards) and the peer process (the
//! producer, the echo child, the waiter, the pool's workers, the second lock hammer) with
//! [`crate::raw::pin_to_cpu`] in the child; [`Pinning::cpus`]
//! gives the two CPUs.
//!
//! The harness is single-threaded between measurements, and the raw measurements fork: a
//! procpool measurement must not leave threads behind (drop its pools before returning). The
//! spawn start method re-executes the harness binary: if procpool needs a hook at the start of
//! `main` for that, call it in `src/bin/compare.rs` next to
//! [`crate::raw::exit_if_spawn_probe`].

//!
//! # How the implementations keep to the contract
//!
//! - Every process and pool uses the fork start method (as the Python side does with
//!   `get_context("fork")`), except `start_join_spawn` and `start_join_forkserver`.
//! - Peers are daemon processes (Python's `daemon=True`), so they die with the harness even if
//!   it is killed; they get their objects as arguments and pin themselves (see
//!   [`crate::raw::pin_to_cpu`]) first thing in their target.
//! - No wait is unbounded: children are joined with a deadline ([`PEER_TIMEOUT`] after the
//!   measurement started; killed and reaped if they miss it), results are taken with
//!   `get_deadline`, queues read with `get_deadline`. Inside the timed loops these cost the same
//!   as their unbounded forms as long as nothing has to wait (the deadline is computed once).
//!   For the same reason `map` is `map_async(..).get_deadline(..)`, which is what `map` does.
//! - Pools are terminated and joined before returning (Python's `with Pool(..)` block), and the
//!   function checks that the harness is single-threaded again
//!   ([`crate::raw::ensure_single_threaded`]) so that the raw measurements, which fork, can run
//!   next.
//! - Spawn needs no hook in `main`: procpool recognises a spawned child in an ELF constructor,
//!   before `main` (and before [`crate::raw::exit_if_spawn_probe`], which only reacts to its own
//!   environment variable).

use std::fmt::Display;
use std::hint::black_box;
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use procpool::*;

use crate::error::BenchError;
use crate::raw::{AffinityGuard, ITEM_64K, SMALL_MSG, ensure_single_threaded, mono_ns, pin_to_cpu};
use crate::workloads::{Case, Pinning};

type Result<T> = std::result::Result<T, BenchError>;

/// Bound on one procpool measurement (Python's `PEER_TIMEOUT_S`): every wait on a peer ends by
/// this long after the measurement started.
pub const PEER_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a child that missed its deadline and was killed may take to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// The "ready" item the queue producer puts before its `n` integers.
const READY: u64 = u64::MAX;

/// Runs one repetition of `case` with procpool, sized for a quick or a full run.
///
/// Returns `None` where procpool has no equivalent (only the raw-only reference row).
pub fn procpool_impl(case: &Case, quick: bool) -> Option<Result<f64>> {
    let size = |full: usize, quick_size: usize| if quick { quick_size } else { full };
    let pin = case.pinning;
    let result = match case.workload.name {
        "start_join_fork" => start_join(StartMethod::Fork, size(300, 60)),
        "start_join_spawn" => start_join(StartMethod::Spawn, size(20, 5)),
        "start_join_forkserver" => start_join(StartMethod::ForkServer, size(100, 20)),
        "pool_map_default" => pool_map(None, size(100_000, 10_000)),
        "pool_map_chunk1" => pool_map(Some(1), size(100_000, 10_000)),
        "apply_async_pipelined" => apply_async_pipelined(size(10_000, 2_000)),
        "apply_async_serial" => apply_async_serial(size(3_000, 500), pin),
        "queue_small" => queue_small(size(200_000, 20_000), pin),
        "queue_64k" => queue_64k(size(10_000, 1_000), pin),
        "pipe_rtt" => pipe_rtt(size(20_000, 4_000), pin),
        "lock_uncontended" => lock_uncontended(size(1_000_000, 200_000)),
        "lock_contended" => lock_contended(size(500_000, 100_000), pin),
        "event_wake" => event_wake(size(300, 60), pin),
        "cpu_speedup" => cpu_speedup(size(20_000, 4_000)),
        _ => return None,
    };
    // Pools and children are gone: the raw measurements that run next fork, and need a
    // single-threaded harness. A leftover thread is procpool's bug, reported here.
    Some(result.and_then(|v| ensure_single_threaded().map(|()| v)))
}

/// An error-mapping closure: `what` failed with `e`.
fn failed<E: Display>(what: &'static str) -> impl FnOnce(E) -> BenchError {
    move |e| BenchError::new(format!("procpool: {what}: {e}"))
}

fn deadline() -> Instant {
    Instant::now() + PEER_TIMEOUT
}

fn per_item_secs(elapsed: Duration, n: usize) -> f64 {
    elapsed.as_secs_f64() / n.max(1) as f64
}

// ---------------------------------------------------------------------------------------------
// Targets (function items, as procpool needs; they run in the children)
// ---------------------------------------------------------------------------------------------

/// The empty process target.
fn empty(_: ()) {}

/// The trivial task.
fn noop(x: u64) -> u64 {
    x
}

/// The tutorial's CPU-bound task: count from `n` down to `-n` in steps of 1. `black_box`
/// keeps the compiler from replacing the loop by its result, as Python cannot either.
fn count(n: i64) -> i64 {
    let mut i = black_box(n);
    while i > -n {
        i = black_box(i - 1);
    }
    i
}

/// A child's first step: pin itself to `cpu` (`None`: leave it alone).
fn pin_self(cpu: Option<usize>) -> std::result::Result<(), String> {
    match cpu {
        Some(cpu) => pin_to_cpu(cpu).map_err(|e| format!("pin to CPU {cpu}: {e}")),
        None => Ok(()),
    }
}

/// The pool initializer of the pinned pool workloads (Python's `_pool_init`).
fn pin_worker(cpu: Option<usize>) {
    if let Err(e) = pin_self(cpu) {
        eprintln!("procpool bench worker: {e}");
    }
}

/// The producer of `queue_small`: "ready", then, once `go` is set, the integers `0..n`.
fn small_producer(
    (q, go, n, cpu): (Queue<u64>, Event, u64, Option<usize>),
) -> std::result::Result<(), String> {
    pin_self(cpu)?;
    q.put(READY).map_err(|e| e.to_string())?;
    if !go.wait_timeout(PEER_TIMEOUT) {
        return Err("no go signal".into());
    }
    for i in 0..n {
        q.put(i).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The producer of `queue_64k`: an empty "ready" item, then, once `go` is set, `n` items of
/// [`ITEM_64K`] bytes.
///
/// The items are [`ByteBuf`]s: a `Vec<u8>` would be encoded byte by byte through serde, while
/// a `ByteBuf` is one block of bytes, the right type for binary payloads (Python's `bytes`).
/// Each item is put with `put_as` from a borrowed `Bytes` view of the same buffer, so the
/// only copy is the encoding into the queue (Python's `put` likewise puts the same `bytes`
/// object each time and copies it once, as it pickles it).
fn bytes_producer(
    (q, go, n, cpu): (Queue<ByteBuf>, Event, u64, Option<usize>),
) -> std::result::Result<(), String> {
    pin_self(cpu)?;
    q.put(ByteBuf::new()).map_err(|e| e.to_string())?;
    if !go.wait_timeout(PEER_TIMEOUT) {
        return Err("no go signal".into());
    }
    let payload = vec![0u8; ITEM_64K];
    for _ in 0..n {
        q.put_as(procpool::Bytes::new(&payload))
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The echo child of `pipe_rtt`: receives `n` messages and sends each one back, as Python's
/// `send(recv())` (decoded and encoded again, not forwarded as raw bytes).
fn pipe_echo((conn, n, cpu): (Connection, u64, Option<usize>)) -> std::result::Result<(), String> {
    pin_self(cpu)?;
    for _ in 0..n {
        let msg: ByteBuf = conn.recv().map_err(|e| e.to_string())?;
        conn.send(&msg).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// The arguments of [`lock_hammer`].
type HammerArgs = (
    Lock,
    u64,
    Semaphore,
    Event,
    RawArray<u64>,
    usize,
    Option<usize>,
);

/// One of the two processes of `lock_contended`: acquire + release `n` times after `go`, and
/// record its start and end (CLOCK_MONOTONIC ns) in `stamps[2 * slot]`, `stamps[2 * slot + 1]`.
fn lock_hammer(
    (lock, n, ready, go, stamps, slot, cpu): HammerArgs,
) -> std::result::Result<(), String> {
    pin_self(cpu)?;
    ready.release().map_err(|e| e.to_string())?;
    if !go.wait_timeout(PEER_TIMEOUT) {
        return Err("no go signal".into());
    }
    let t0 = mono_ns();
    for _ in 0..n {
        drop(lock.acquire());
    }
    let t1 = mono_ns();
    stamps.set(2 * slot, t0).map_err(|e| e.to_string())?;
    stamps.set(2 * slot + 1, t1).map_err(|e| e.to_string())?;
    Ok(())
}

/// The waiter of `event_wake`: `n` times, wait for the event, read the clock, clear the event
/// and send the reading back over its pipe end (as Python's `_event_waiter`).
fn event_waiter(
    (ev, conn, n, cpu): (Event, Connection, u32, Option<usize>),
) -> std::result::Result<(), String> {
    pin_self(cpu)?;
    for _ in 0..n {
        if !ev.wait_timeout(PEER_TIMEOUT) {
            return Err("the event was not set".into());
        }
        let t1 = mono_ns();
        ev.clear();
        conn.send(&t1).map_err(|e| e.to_string())?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Parent-side helpers
// ---------------------------------------------------------------------------------------------

/// A started child that is killed and reaped if the measurement ends early (an error), so that
/// no process outlives its measurement and no reaper thread is left in the harness.
struct Peer(Process);

impl Peer {
    /// Starts `p` as a daemon.
    fn start(p: Process) -> Result<Peer> {
        let mut p = p.with_daemon(true);
        p.start().map_err(failed("start a child"))?;
        Ok(Peer(p))
    }

    /// Waits until `deadline` for the child to exit with code 0.
    fn join(self, deadline: Instant) -> Result<()> {
        join(&self.0, deadline)
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if self.0.is_alive() {
            let _ = self.0.kill();
            let _ = self.0.join_timeout(REAP_TIMEOUT);
        }
    }
}

/// Waits until `deadline` for `p` to exit with code 0; kills it if it does not.
fn join(p: &Process, deadline: Instant) -> Result<()> {
    match p.join_deadline(deadline) {
        Ok(0) => Ok(()),
        Ok(code) => Err(BenchError::new(format!(
            "procpool: child {} exited with {code}",
            p.name()
        ))),
        Err(e) => {
            let _ = p.kill();
            let _ = p.join_timeout(REAP_TIMEOUT);
            Err(BenchError::new(format!(
                "procpool: child {} did not finish in time: {e}",
                p.name()
            )))
        }
    }
}

/// A `Pool(processes)` with the fork start method (Python's `get_context("fork").Pool`), its
/// workers pinned to `cpu` if given.
fn fork_pool(processes: usize, cpu: Option<Option<usize>>) -> Result<Pool> {
    let mut b = Pool::builder()
        .processes(processes)
        .context(get_context(StartMethod::Fork));
    if let Some(cpu) = cpu {
        b = b.initializer(pin_worker, cpu);
    }
    b.build().map_err(failed("start a pool"))
}

/// Leaves the pool as Python's `with Pool(..)` block does: terminate, and wait for the workers
/// and the pool's thread to end.
fn finish(pool: Pool) -> Result<()> {
    pool.terminate();
    pool.join().map_err(failed("join the pool"))
}

/// `map` of [`noop`] over `0..n`, bounded by `deadline`; `None` is the default chunk size.
fn map_noop(pool: &Pool, n: u64, chunksize: Option<usize>, deadline: Instant) -> Result<Vec<u64>> {
    pool.map_async(noop, 0..n, chunksize)
        .map_err(failed("map"))?
        .get_deadline(deadline)
        .map_err(failed("map"))
}

// ---------------------------------------------------------------------------------------------
// Workloads
// ---------------------------------------------------------------------------------------------

/// `n` × (start + join) of an empty target with `method`, after one unmeasured start (which
/// starts the fork server): µs per process.
fn start_join(method: StartMethod, n: usize) -> Result<f64> {
    let deadline = deadline();
    let ctx = get_context(method);
    let once = || -> Result<()> {
        let mut p = ctx.process(empty, ());
        p.start().map_err(failed("start"))?;
        join(&p, deadline)
    };
    once()?;
    let t0 = Instant::now();
    for _ in 0..n {
        once()?;
    }
    Ok(per_item_secs(t0.elapsed(), n) * 1e6)
}

/// `map` of [`noop`] over `0..n` on `Pool(2)`, after a warm-up map: tasks per second.
fn pool_map(chunksize: Option<usize>, n: usize) -> Result<f64> {
    let deadline = deadline();
    let pool = fork_pool(2, None)?;
    map_noop(&pool, 64, Some(1), deadline)?; // warm-up: the workers are up and running
    let t0 = Instant::now();
    let out = map_noop(&pool, n as u64, chunksize, deadline)?;
    let elapsed = t0.elapsed();
    finish(pool)?;
    if out.len() != n || out.last() != Some(&(n as u64 - 1)) {
        return Err(BenchError::new("procpool: map returned wrong results"));
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// `n` `apply_async` of [`noop`] submitted, then every result got, on `Pool(2)`: tasks/s.
fn apply_async_pipelined(n: usize) -> Result<f64> {
    let deadline = deadline();
    let pool = fork_pool(2, None)?;
    map_noop(&pool, 64, Some(1), deadline)?;
    let t0 = Instant::now();
    let results = (0..n as u64)
        .map(|i| pool.apply_async(noop, i))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(failed("apply_async"))?;
    for r in results {
        r.get_deadline(deadline).map_err(failed("get"))?;
    }
    let elapsed = t0.elapsed();
    finish(pool)?;
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// `apply_async(noop, i).get()` one at a time, `n` times after 50 unmeasured, on `Pool(2)`
/// whose workers are pinned to the peer CPU: µs per round trip.
fn apply_async_serial(n: usize, pinning: Pinning) -> Result<f64> {
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let pool = fork_pool(2, Some(peer))?;
    let round_trip = |i: u64| -> Result<u64> {
        pool.apply_async(noop, i)
            .map_err(failed("apply_async"))?
            .get_deadline(deadline)
            .map_err(failed("get"))
    };
    for i in 0..50 {
        round_trip(i)?;
    }
    let t0 = Instant::now();
    for i in 0..n as u64 {
        round_trip(i)?;
    }
    let elapsed = t0.elapsed();
    finish(pool)?;
    Ok(per_item_secs(elapsed, n) * 1e6)
}

/// `n` integers from a child producer through `Queue::<u64>::new(0)`, from the "go" signal to
/// the last one got: items per second.
fn queue_small(n: usize, pinning: Pinning) -> Result<f64> {
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let q = Queue::<u64>::new(0).map_err(failed("create a queue"))?;
    let go = Event::new().map_err(failed("create an event"))?;
    let producer = Peer::start(Process::new(
        small_producer,
        (q.clone(), go.clone(), n as u64, peer),
    ))?;
    if q.get_deadline(deadline).map_err(failed("get ready"))? != READY {
        return Err(BenchError::new("procpool: producer handshake failed"));
    }
    let t0 = Instant::now();
    go.set();
    let mut x = 0;
    for _ in 0..n {
        x = q.get_deadline(deadline).map_err(failed("get"))?;
    }
    let elapsed = t0.elapsed();
    producer.join(deadline)?;
    if x != n as u64 - 1 {
        return Err(BenchError::new("procpool: queue delivered wrong items"));
    }
    Ok(n as f64 / elapsed.as_secs_f64())
}

/// `n` items of [`ITEM_64K`] bytes ([`ByteBuf`], see [`bytes_producer`]) from a child producer
/// through `Queue::<ByteBuf>::new(0)`, timed as [`queue_small`]: MB/s (10^6 bytes).
fn queue_64k(n: usize, pinning: Pinning) -> Result<f64> {
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let q = Queue::<ByteBuf>::new(0).map_err(failed("create a queue"))?;
    let go = Event::new().map_err(failed("create an event"))?;
    let producer = Peer::start(Process::new(
        bytes_producer,
        (q.clone(), go.clone(), n as u64, peer),
    ))?;
    if !q
        .get_deadline(deadline)
        .map_err(failed("get ready"))?
        .is_empty()
    {
        return Err(BenchError::new("procpool: producer handshake failed"));
    }
    let t0 = Instant::now();
    go.set();
    let mut x = ByteBuf::new();
    for _ in 0..n {
        x = q.get_deadline(deadline).map_err(failed("get"))?;
    }
    let elapsed = t0.elapsed();
    producer.join(deadline)?;
    if x.len() != ITEM_64K {
        return Err(BenchError::new("procpool: queue delivered wrong items"));
    }
    Ok((n * ITEM_64K) as f64 / 1e6 / elapsed.as_secs_f64())
}

/// Makes every `recv` on `conn` (a socketpair end) fail instead of blocking past [`PEER_TIMEOUT`]
/// (`SO_RCVTIMEO`, set through a duplicate of its descriptor): the timed loop of [`pipe_rtt`] can
/// then use the plain blocking `recv`, as Python's does, and still cannot hang.
fn bound_recv(conn: &Connection) -> Result<()> {
    let dup = conn.as_fd().try_clone_to_owned().map_err(failed("dup"))?;
    UnixStream::from(dup)
        .set_read_timeout(Some(PEER_TIMEOUT))
        .map_err(failed("SO_RCVTIMEO"))
}

/// `send` + `recv` of a 16-byte message ([`ByteBuf`], Python's `bytes`) to an echo child over
/// `Pipe::new()` (a socketpair), `n` times after 200 unmeasured: µs per round trip.
fn pipe_rtt(n: usize, pinning: Pinning) -> Result<f64> {
    let warmup = 200;
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let (ours, theirs) = Pipe::new().map_err(failed("create a pipe"))?;
    bound_recv(&ours)?;
    // The child's end moves into the process, which closes the parent's copy once started.
    let echo = Peer::start(Process::new(pipe_echo, (theirs, (n + warmup) as u64, peer)))?;
    let msg = ByteBuf::from(b"0123456789abcdef".to_vec());
    debug_assert_eq!(msg.len(), SMALL_MSG);
    for _ in 0..warmup {
        ours.send(&msg).map_err(failed("send"))?;
        let _: ByteBuf = ours.recv_deadline(deadline).map_err(failed("recv"))?;
    }
    let t0 = Instant::now();
    for _ in 0..n {
        ours.send(&msg).map_err(failed("send"))?;
        let _: ByteBuf = ours.recv().map_err(failed("recv"))?;
    }
    let elapsed = t0.elapsed();
    echo.join(deadline)?;
    Ok(per_item_secs(elapsed, n) * 1e6)
}

/// Acquire + release of an uncontended [`Lock`], `n` times after 1,000 unmeasured: ns per pair.
fn lock_uncontended(n: usize) -> Result<f64> {
    let lock = Lock::new().map_err(failed("create a lock"))?;
    let lock = black_box(&lock);
    for _ in 0..1000 {
        drop(lock.acquire());
    }
    let t0 = Instant::now();
    for _ in 0..n {
        drop(lock.acquire());
    }
    Ok(per_item_secs(t0.elapsed(), n) * 1e9)
}

/// Two children each acquire + release one [`Lock`] `n` times: ns per pair, from the first
/// one's start to the last one's end, over the `2n` pairs.
fn lock_contended(n: usize, pinning: Pinning) -> Result<f64> {
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let lock = Lock::new().map_err(failed("create a lock"))?;
    let ready = Semaphore::new(0).map_err(failed("create a semaphore"))?;
    let go = Event::new().map_err(failed("create an event"))?;
    let stamps = RawArray::<u64>::zeroed(4).map_err(failed("create an array"))?;
    let hammer = |slot: usize, cpu: Option<usize>| {
        let args = (
            lock.clone(),
            n as u64,
            ready.clone(),
            go.clone(),
            stamps.clone(),
            slot,
            cpu,
        );
        Peer::start(Process::new(lock_hammer, args))
    };
    let first = hammer(0, me)?;
    let second = hammer(1, peer)?;
    for _ in 0..2 {
        ready
            .acquire_deadline(deadline)
            .map_err(failed("wait for the hammers"))?
            .forget();
    }
    go.set();
    first.join(deadline)?;
    second.join(deadline)?;
    let s = stamps.to_vec();
    let elapsed = s[1].max(s[3]).saturating_sub(s[0].min(s[2]));
    Ok(elapsed as f64 / (2 * n) as f64)
}

/// Wake-up latency of an [`Event`]: the child waits; this process sleeps 2 ms, reads the clock
/// and sets the event; the child reads the clock when its wait returns and sends it back
/// through a pipe (which this process waits on asleep, as Python's `poll` + `recv`, so that its
/// wait for the answer does not compete with the woken child for a shared core). Median of `n`
/// samples, in µs.
fn event_wake(n: usize, pinning: Pinning) -> Result<f64> {
    let deadline = deadline();
    let (me, peer) = pinning.cpus();
    let _pinned = AffinityGuard::pin(me).map_err(failed("pin"))?;
    let rounds = u32::try_from(n).map_err(failed("sample count"))?;
    let ev = Event::new().map_err(failed("create an event"))?;
    let (ours, theirs) = Pipe::new().map_err(failed("create a pipe"))?;
    let waiter = Peer::start(Process::new(
        event_waiter,
        (ev.clone(), theirs, rounds, peer),
    ))?;
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        std::thread::sleep(Duration::from_millis(2)); // the waiter falls asleep in wait()
        let t0 = mono_ns();
        ev.set();
        let t1: u64 = ours.recv_deadline(deadline).map_err(failed("recv"))?;
        samples.push(t1.saturating_sub(t0) as f64);
    }
    waiter.join(deadline)?;
    samples.sort_by(f64::total_cmp);
    let mid = samples.len() / 2;
    let median = if samples.len() % 2 == 1 {
        samples[mid]
    } else {
        (samples[mid - 1] + samples[mid]) / 2.0
    };
    Ok(median / 1e3)
}

/// The tutorial's speed-up: [`count`] of `0..total` sequentially, divided by the time of
/// `Pool(10)` creation + `map` + leaving the pool (terminate + join, as Python's `with` block).
fn cpu_speedup(total: usize) -> Result<f64> {
    let deadline = deadline();
    let total = total as i64;
    let t0 = Instant::now();
    for n in 0..total {
        black_box(count(black_box(n)));
    }
    let t1 = Instant::now();
    let pool = fork_pool(10, None)?;
    let out = pool
        .map_async(count, 0..total, None)
        .map_err(failed("map"))?
        .get_deadline(deadline)
        .map_err(failed("map"))?;
    finish(pool)?;
    let t2 = Instant::now();
    black_box(out);
    Ok((t1 - t0).as_secs_f64() / (t2 - t1).as_secs_f64())
}
