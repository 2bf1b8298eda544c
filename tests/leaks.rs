//! Leaks: create and drop each primitive, queue, shared value, process and pool 1,000 times.
//! The counts of open descriptors, mappings (`/proc/self/maps`) and child processes return to
//! where they started, nothing appears in `/dev/shm` (named `SharedMemory` is unlinked by its
//! owner), and no child is left a zombie.
//!
//! The tests of this binary take a common lock, so that one test's objects never show up in
//! another's counts.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use integration::{
    child_pids, dev_shm_names, eventually, figure, mappings, open_fds, serial, watchdog,
    zombie_children,
};
use procpool::{
    Array, Barrier, BoundedSemaphore, ByteBuf, Condition, Connection, Event, JoinableQueue, Lock,
    Pipe, Pool, Process, Queue, RLock, RawArray, RawValue, Semaphore, SendOnly, SharedAtomics,
    SharedMemory, SimpleQueue, StartMethod, Value, get_context,
};

const ITERS: usize = 1000;

/// Mappings that may appear without a leak: glibc gives a thread that meets contention its own
/// malloc arena (a mapping or two that stays). A leak of one mapping in a hundred cycles
/// would still show (1,000 cycles per check).
const MAPS_SLACK: usize = 6;

static CHECKS: AtomicU64 = AtomicU64::new(0);
static CYCLES: AtomicU64 = AtomicU64::new(0);

/// What a process looks like from the outside, for the leak checks.
#[derive(Debug, PartialEq, Eq)]
struct Snapshot {
    fds: usize,
    maps: usize,
    shm: BTreeSet<String>,
    children: BTreeSet<u32>,
}

/// Whether a `/dev/shm` entry certainly belongs to another program running on the machine at
/// the same time (this machine is shared: other test suites and the Python comparison
/// benchmarks may be running): a POSIX named semaphore (`sem.*`, which procpool never
/// creates), a Python segment (`psm_` and 8 hex digits), or a procpool segment or owner record
/// whose name carries another process's pid (`psm_<pid>_<n>_<t>`).
fn foreign(name: &str) -> bool {
    if name.starts_with("sem.") {
        return true;
    }
    let name = name.strip_prefix("procpool-owner.").unwrap_or(name);
    let Some(rest) = name.strip_prefix("psm_") else {
        return false;
    };
    let fields: Vec<&str> = rest.split('_').collect();
    match fields.as_slice() {
        [python] => python.len() == 8 && python.chars().all(|c| c.is_ascii_hexdigit()),
        [pid, _, _] => u32::from_str_radix(pid, 16).is_ok_and(|p| p != std::process::id()),
        _ => false,
    }
}

fn snapshot() -> Snapshot {
    Snapshot {
        fds: open_fds(),
        maps: mappings(),
        shm: dev_shm_names()
            .into_iter()
            .filter(|n| !foreign(n))
            .collect(),
        children: child_pids(),
    }
}

/// A snapshot once children from earlier work have been reaped: the same twice in a row,
/// 20 ms apart, with no zombie child (at most 10 s).
fn settled_snapshot() -> Snapshot {
    let mut last = snapshot();
    let _ = eventually(Duration::from_secs(10), || {
        std::thread::sleep(Duration::from_millis(20));
        let now = snapshot();
        let stable = now == last && zombie_children().is_empty();
        last = now;
        stable
    });
    last
}

/// Runs `make_and_drop` `iters` times after a warm-up and checks that nothing was left
/// behind. Children are reaped by procpool's reaper thread, so their count is given a moment
/// to settle.
fn check_no_leak(name: &str, iters: usize, mut make_and_drop: impl FnMut()) {
    // Warm up lazily initialised state (thread-local buffers, the reaper and launcher
    // threads, the fork server).
    make_and_drop();
    make_and_drop();
    let before = settled_snapshot();
    for _ in 0..iters {
        make_and_drop();
    }
    let settled = eventually(Duration::from_secs(10), || {
        let now = snapshot();
        now.fds == before.fds
            && now.maps <= before.maps + MAPS_SLACK
            && now.shm == before.shm
            && now.children == before.children
    });
    let after = snapshot();
    assert!(
        settled,
        "{name}: resources leaked after {iters} cycles:\n before {before:?}\n after  {after:?}"
    );
    assert_eq!(zombie_children(), Vec::<u32>::new(), "{name}: zombies left");
    CHECKS.fetch_add(1, Ordering::Relaxed);
    CYCLES.fetch_add(iters as u64, Ordering::Relaxed);
    figure(
        &format!("leaks.{name}"),
        format!(
            "{iters} cycles: {} fds, {} mappings, {} /dev/shm entries, {} children before and after",
            after.fds,
            after.maps,
            after.shm.len(),
            after.children.len()
        ),
    );
}

fn run(f: impl FnOnce() + Send + 'static) {
    let _serial = serial();
    watchdog(Duration::from_secs(300), f);
}

#[test]
fn sync_primitives_do_not_leak() {
    run(|| {
        check_no_leak("Lock", ITERS, || {
            let l = Lock::new().unwrap();
            drop(l.acquire());
        });
        check_no_leak("RLock", ITERS, || {
            let l = RLock::new().unwrap();
            let g = l.acquire();
            drop(l.acquire());
            drop(g);
        });
        check_no_leak("Semaphore", ITERS, || {
            let s = Semaphore::new(2).unwrap();
            drop(s.acquire());
        });
        check_no_leak("BoundedSemaphore", ITERS, || {
            let s = BoundedSemaphore::new(2).unwrap();
            drop(s.acquire());
        });
        check_no_leak("Event", ITERS, || {
            let e = Event::new().unwrap();
            e.set();
            assert!(e.wait());
        });
        check_no_leak("Condition", ITERS, || {
            let c = Condition::new(Lock::new().unwrap()).unwrap();
            let _g = c.acquire();
            c.notify_all().unwrap();
            assert_eq!(c.wait_timeout(Duration::ZERO), Ok(false));
        });
        check_no_leak("Barrier", ITERS, || {
            let b = Barrier::new(1, None).unwrap();
            assert_eq!(b.wait(), Ok(0));
        });
        check_no_leak("SharedAtomics", ITERS, || {
            let a = SharedAtomics::new(16).unwrap();
            a[3].fetch_add(1, Ordering::Relaxed);
        });
    })
}

#[test]
fn queues_do_not_leak() {
    run(|| {
        check_no_leak("Queue", ITERS, || {
            let q = Queue::<u64>::new(0).unwrap();
            q.put(1).unwrap();
            assert_eq!(q.get().unwrap(), 1);
        });
        check_no_leak("Queue(streamed message)", ITERS / 4, || {
            // A message four times the ring: it streams through, on two threads.
            let q = Queue::<ByteBuf>::builder().capacity(4096).build().unwrap();
            let q2 = q.clone();
            let t = std::thread::spawn(move || q2.get().unwrap().len());
            q.put(ByteBuf::from(vec![7u8; 16 * 1024])).unwrap();
            assert_eq!(t.join().unwrap(), 16 * 1024);
        });
        check_no_leak("JoinableQueue", ITERS, || {
            let q = JoinableQueue::<u8>::new(4).unwrap();
            q.put(1).unwrap();
            q.get().unwrap();
            q.task_done().unwrap();
            q.join();
        });
        check_no_leak("SimpleQueue", ITERS, || {
            let q = SimpleQueue::<String>::new().unwrap();
            q.put("x".into()).unwrap();
            assert_eq!(q.get().unwrap(), "x");
        });
    })
}

#[test]
fn shared_values_do_not_leak() {
    run(|| {
        check_no_leak("Value", ITERS, || {
            let v = Value::new(1u64).unwrap();
            *v.lock() += 1;
            assert_eq!(v.get(), 2);
        });
        check_no_leak("RawValue", ITERS, || {
            let v = RawValue::new(1.5f64).unwrap();
            v.set(2.5);
            assert_eq!(v.get(), 2.5);
        });
        check_no_leak("Array", ITERS, || {
            let a = Array::from_slice(&[1i32, 2, 3]).unwrap();
            a.set(1, 5).unwrap();
            assert_eq!(a.to_vec(), vec![1, 5, 3]);
        });
        check_no_leak("RawArray", ITERS, || {
            let a = RawArray::<u8>::zeroed(4096).unwrap();
            a.set(4095, 1).unwrap();
        });
        check_no_leak("SharedMemory(named)", ITERS, || {
            let shm = SharedMemory::create_unique(4096).unwrap();
            shm.write_at(0, b"hello").unwrap();
            let other = SharedMemory::open(shm.name()).unwrap();
            let mut buf = [0u8; 5];
            other.read_at(0, &mut buf).unwrap();
            assert_eq!(&buf, b"hello");
            drop(other);
            drop(shm); // the creator unlinks the name
        });
    })
}

#[test]
fn pipes_do_not_leak() {
    run(|| {
        check_no_leak("Pipe(duplex)", ITERS, || {
            let (a, b) = Pipe::duplex().unwrap();
            a.send(&"ping").unwrap();
            assert_eq!(b.recv::<String>().unwrap(), "ping");
            b.send_bytes(b"pong").unwrap();
            assert_eq!(a.recv_bytes().unwrap(), b"pong");
        });
        check_no_leak("Pipe(one-way)", ITERS, || {
            let (rx, tx) = Pipe::one_way().unwrap();
            tx.send(&7u32).unwrap();
            let tx2 = tx.try_clone().unwrap();
            tx2.shutdown_send().unwrap();
            assert_eq!(rx.recv::<u32>().unwrap(), 7);
            assert!(rx.recv::<u32>().unwrap_err().is_eof());
        });
        check_no_leak("Pipe(streamed message)", ITERS / 4, || {
            let (rx, tx) = Pipe::one_way().unwrap();
            let t = std::thread::spawn(move || tx.send_bytes(&vec![1u8; 3 << 20]).unwrap());
            assert_eq!(rx.recv_bytes().unwrap().len(), 3 << 20);
            t.join().unwrap();
        });
        check_no_leak("Process(fork, pipe end argument)", ITERS, || {
            let (rx, tx) = Pipe::one_way().unwrap();
            let mut p = Process::new(send_hello, tx);
            p.start().unwrap();
            assert_eq!(rx.recv::<String>().unwrap(), "hello");
            assert!(rx.recv::<String>().unwrap_err().is_eof());
            assert_eq!(p.join().unwrap(), 0);
        });
        check_no_leak("Process(spawn, pipe end argument)", ITERS / 4, || {
            let (rx, tx) = Pipe::one_way().unwrap();
            let mut p = get_context(StartMethod::Spawn).process(send_hello, tx);
            p.start().unwrap();
            assert_eq!(rx.recv::<String>().unwrap(), "hello");
            assert!(rx.recv::<String>().unwrap_err().is_eof());
            assert_eq!(p.join().unwrap(), 0);
        });
    })
}

fn send_hello(tx: Connection<SendOnly>) {
    tx.send("hello").unwrap();
}

fn child_uses((q, lock, v): (Queue<u64>, Lock, Value<u64>)) {
    let _g = lock.acquire();
    *v.lock() += 1;
    q.put(1).unwrap();
}

fn nap(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

#[test]
fn processes_do_not_leak() {
    run(|| {
        let (q, lock, v) = (
            Queue::<u64>::new(0).unwrap(),
            Lock::new().unwrap(),
            Value::new(0u64).unwrap(),
        );
        // Started and joined, with shared objects as arguments.
        check_no_leak("Process(fork, start+join)", ITERS, || {
            let mut p = Process::new(child_uses, (q.clone(), lock.clone(), v.clone()));
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 0);
            assert_eq!(q.get().unwrap(), 1);
        });
        // Dropped while running: the reaper collects it.
        check_no_leak("Process(fork, dropped unjoined)", ITERS, || {
            let mut p = Process::new(nap, 0);
            p.start().unwrap();
        });
        // Killed.
        check_no_leak("Process(fork, killed)", ITERS / 4, || {
            let mut p = Process::new(nap, 10_000);
            p.start().unwrap();
            p.kill().unwrap();
            assert_eq!(p.join().unwrap(), -9);
        });
        check_no_leak("Process(forkserver, start+join)", ITERS, || {
            let mut p = get_context(StartMethod::ForkServer)
                .process(child_uses, (q.clone(), lock.clone(), v.clone()));
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 0);
            assert_eq!(q.get().unwrap(), 1);
        });
        check_no_leak("Process(spawn, start+join)", ITERS, || {
            let mut p = get_context(StartMethod::Spawn)
                .process(child_uses, (q.clone(), lock.clone(), v.clone()));
            p.start().unwrap();
            assert_eq!(p.join().unwrap(), 0);
            assert_eq!(q.get().unwrap(), 1);
        });
        assert!(q.empty());
    })
}

fn double(x: u64) -> u64 {
    2 * x
}

#[test]
fn pools_do_not_leak() {
    run(|| {
        check_no_leak("Pool(close+join)", ITERS, || {
            let pool = Pool::new(2).unwrap();
            assert_eq!(pool.map(double, 0..4u64).unwrap(), vec![0, 2, 4, 6]);
            pool.close();
            pool.join().unwrap();
        });
        check_no_leak("Pool(dropped)", ITERS, || {
            let pool = Pool::new(1).unwrap();
            assert_eq!(pool.apply(double, 21).unwrap(), 42);
        });
    })
}

/// Prints the totals (run with `--test-threads=1 --nocapture`; the name sorts last).
#[test]
fn zz_report_leak_figures() {
    let _serial = serial();
    figure(
        "leaks.total",
        format!(
            "{} kinds of object checked, {} create/drop cycles, no descriptor, mapping, /dev/shm entry, child or zombie left",
            CHECKS.load(Ordering::Relaxed),
            CYCLES.load(Ordering::Relaxed)
        ),
    );
}
