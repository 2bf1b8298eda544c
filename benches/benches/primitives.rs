//! Micro-benchmarks of procpool's primitives, one process (or one parent and its children):
//!
//! ```text
//! cargo bench -p benches --bench primitives [-- --quick] [FILTER]
//! ```
//!
//! - `lock/uncontended`: [`Lock`] acquire + release, nobody else using it;
//! - `semaphore/acquire_release`: [`Semaphore`] acquire + release of one permit;
//! - `event/set_clear`, `event/is_set`: [`Event`] set + clear, and the flag's read alone;
//! - `queue/put_get_u64`, `queue/put_get_64k`: [`Queue`] put then get in the same process,
//!   of a `u64` and of a 64 KiB [`ByteBuf`] (the type for binary payloads: a `Vec<u8>` is
//!   encoded byte by byte through serde);
//! - `process/start_join_fork`: [`Process`] start + join of an empty target (fork);
//! - `pool/apply_round_trip`, `pool/map_1000`: on a `Pool(2)` (fork), one `apply_async` +
//!   `get` of a trivial task, and a `map` of it over 1,000 items.
//!
//! The cross-process comparison with Python and the raw limits is `src/bin/compare.rs`; this
//! is the quick regression check of the per-operation costs. Every wait on a child or a
//! worker has a deadline ([`TIMEOUT`]): a stuck peer fails the benchmark instead of hanging it.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_main};
use procpool::*;

/// Bound on every wait on a child, a worker or a queue.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The 64 KiB item of `queue/put_get_64k`.
const ITEM_64K: usize = 64 * 1024;

/// The empty process target.
fn empty(_: ()) {}

/// The trivial task.
fn noop(x: u64) -> u64 {
    x
}

fn sync_primitives(c: &mut Criterion) {
    let lock = Lock::new().expect("create a lock");
    c.bench_function("lock/uncontended", |b| b.iter(|| drop(lock.acquire())));

    let sem = Semaphore::new(1).expect("create a semaphore");
    c.bench_function("semaphore/acquire_release", |b| {
        b.iter(|| drop(sem.acquire()))
    });

    let ev = Event::new().expect("create an event");
    c.bench_function("event/set_clear", |b| {
        b.iter(|| {
            ev.set();
            black_box(ev.is_set());
            ev.clear();
        })
    });
    ev.set();
    c.bench_function("event/is_set", |b| b.iter(|| black_box(ev.is_set())));
}

fn queues(c: &mut Criterion) {
    let q = Queue::<u64>::new(0).expect("create a queue");
    let deadline = Instant::now() + TIMEOUT * 10;
    c.bench_function("queue/put_get_u64", |b| {
        b.iter(|| {
            q.put(black_box(42)).expect("put");
            q.get_deadline(deadline).expect("get")
        })
    });

    let q = Queue::<ByteBuf>::new(0).expect("create a queue");
    let payload = ByteBuf::from(vec![7u8; ITEM_64K]);
    let mut group = c.benchmark_group("queue");
    group.throughput(Throughput::Bytes(ITEM_64K as u64));
    group.bench_function("put_get_64k", |b| {
        b.iter(|| {
            // `put` takes the item by value: the clone is part of the cost, as in a producer
            // that keeps its buffer.
            q.put(payload.clone()).expect("put");
            q.get_deadline(deadline).expect("get")
        })
    });
    group.finish();
}

fn processes(c: &mut Criterion) {
    let mut group = c.benchmark_group("process");
    group.sample_size(20);
    group.bench_function("start_join_fork", |b| {
        b.iter(|| {
            let mut p = Process::new(empty, ()).with_start_method(StartMethod::Fork);
            p.start().expect("start");
            assert_eq!(p.join_timeout(TIMEOUT).expect("join in time"), 0);
        })
    });
    group.finish();
}

fn pools(c: &mut Criterion) {
    let pool = Pool::builder()
        .processes(2)
        .context(get_context(StartMethod::Fork))
        .build()
        .expect("start a pool");
    let deadline = Instant::now() + TIMEOUT * 10;
    let mut group = c.benchmark_group("pool");
    group.bench_function("apply_round_trip", |b| {
        b.iter(|| {
            pool.apply_async(noop, black_box(7))
                .expect("submit")
                .get_deadline(deadline)
                .expect("result in time")
        })
    });
    group.sample_size(20);
    group.throughput(Throughput::Elements(1_000));
    group.bench_function("map_1000", |b| {
        b.iter(|| {
            pool.map_async(noop, 0..1_000, None)
                .expect("submit")
                .get_deadline(deadline)
                .expect("results in time")
        })
    });
    group.finish();
    pool.terminate();
    pool.join().expect("join the pool");
}

/// criterion's macro defines an undocumented `pub fn`: keep it in a module of its own.
mod group {
    #![allow(missing_docs, unreachable_pub)]
    use super::{pools, processes, queues, sync_primitives};
    criterion::criterion_group!(benches, sync_primitives, queues, processes, pools);
}
criterion_main!(group::benches);
