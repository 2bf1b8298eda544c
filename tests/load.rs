//! Load: 200 processes contending for one `Lock` and one `Semaphore`; a queue with 16
//! producers and 16 consumers with an exactly-once check; a pool running many tiny tasks.
//!
//! CI moves 1,000,000 queue items and maps 1,000,000 tiny pool tasks (in chunks), and submits
//! 5,000 tasks one by one. The `#[ignore]`d `soak_*` tests (`cargo test -p integration --test
//! load -- --ignored`) push 5 x 1,000,000 items through queues as small as one item and submit
//! 1,000,000 pool tasks one by one; `PROCPOOL_SOAK=1` runs the contention test with ten times
//! the rounds and under spawn as well.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use integration::{figure, scaled, serial, watchdog};
use procpool::{
    Event, Lock, Pool, Process, Queue, Semaphore, SharedAtomics, StartMethod, TaskError,
    get_context,
};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(120);

// ============================================================================ contention

const COUNTER: usize = 0;
const INSIDE: usize = 1;
const MAX_INSIDE: usize = 2;
const DIED: usize = 3;
const PERMITS: u32 = 4;

#[derive(Serialize, Deserialize)]
struct Contender {
    go: Event,
    lock: Lock,
    sem: Semaphore,
    words: SharedAtomics,
    rounds: u64,
}

fn contend(job: Contender) {
    let w = job.words.as_slice();
    // Everyone starts together, so that all 200 really contend.
    assert!(job.go.wait_timeout(LONG));
    for _ in 0..job.rounds {
        {
            // A plain read-modify-write: only mutual exclusion keeps it exact.
            let g = job.lock.acquire();
            if g.previous_owner_died() {
                w[DIED].fetch_add(1, Ordering::SeqCst);
            }
            let v = w[COUNTER].load(Ordering::Relaxed);
            std::hint::spin_loop();
            w[COUNTER].store(v + 1, Ordering::Relaxed);
        }
        {
            let _permit = job.sem.acquire();
            let inside = w[INSIDE].fetch_add(1, Ordering::SeqCst) + 1;
            w[MAX_INSIDE].fetch_max(inside, Ordering::SeqCst);
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            w[INSIDE].fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn two_hundred_contenders(method: StartMethod) {
    let n = 200;
    let rounds = scaled(200, 2_000);
    let lock = Lock::new().unwrap();
    let sem = Semaphore::new(PERMITS).unwrap();
    let words = SharedAtomics::new(4).unwrap();
    let w = words.as_slice();
    let go = Event::new().unwrap();
    let procs: Vec<Process> = (0..n)
        .map(|_| {
            let job = Contender {
                go: go.clone(),
                lock: lock.clone(),
                sem: sem.clone(),
                words: words.clone(),
                rounds,
            };
            let mut p = get_context(method).process(contend, job);
            p.start().expect("start a contender");
            p
        })
        .collect();
    let start = Instant::now();
    go.set();
    for p in &procs {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    let elapsed = start.elapsed();
    assert_eq!(
        w[COUNTER].load(Ordering::SeqCst),
        n * rounds,
        "lost updates"
    );
    let max_inside = w[MAX_INSIDE].load(Ordering::SeqCst);
    assert!(
        max_inside <= u64::from(PERMITS),
        "{max_inside} holders of {PERMITS} permits"
    );
    assert_eq!(w[DIED].load(Ordering::SeqCst), 0);
    assert!(!lock.is_locked());
    assert_eq!(sem.value(), PERMITS);
    figure(
        &format!("load.contention.{method}"),
        format!(
            "{n} processes x {rounds} rounds: {} lock acquisitions with no lost update, {} semaphore acquisitions with at most {max_inside} of {PERMITS} holders at once, in {elapsed:?} from a common start (debug build)",
            n * rounds,
            n * rounds
        ),
    );
}

#[test]
fn two_hundred_processes_contend_for_a_lock_and_a_semaphore() {
    let _serial = serial();
    watchdog(Duration::from_secs(300), || {
        two_hundred_contenders(StartMethod::Fork);
        if integration::soak() {
            two_hundred_contenders(StartMethod::Spawn);
        }
    });
}

// ============================================================================ queue 16 x 16

const PRODUCERS: u64 = 16;
const CONSUMERS: u64 = 16;
const DUPLICATES: usize = 0;
const RECEIVED: usize = 1;
const OUT_OF_ORDER: usize = 2;
const BITMAP: usize = 3;

#[derive(Serialize, Deserialize)]
struct QueueJob {
    q: Queue<Option<u64>>,
    words: SharedAtomics,
    who: u64,
    per_producer: u64,
}

fn queue_producer(job: QueueJob) {
    for i in 0..job.per_producer {
        job.q
            .put(Some(job.who * job.per_producer + i))
            .expect("put");
    }
}

fn queue_consumer(job: QueueJob) {
    let w = job.words.as_slice();
    // FIFO per producer, as seen by each consumer.
    let mut last: BTreeMap<u64, u64> = BTreeMap::new();
    while let Some(item) = job.q.get().expect("get") {
        let (producer, i) = (item / job.per_producer, item % job.per_producer);
        if last.insert(producer, i).is_some_and(|prev| prev >= i) {
            w[OUT_OF_ORDER].fetch_add(1, Ordering::Relaxed);
        }
        let (word, bit) = (BITMAP + (item / 64) as usize, item % 64);
        if w[word].fetch_or(1 << bit, Ordering::Relaxed) & (1 << bit) != 0 {
            w[DUPLICATES].fetch_add(1, Ordering::Relaxed);
        }
        w[RECEIVED].fetch_add(1, Ordering::Relaxed);
    }
}

fn queue_sixteen_by_sixteen(total: u64, maxsize: usize) {
    let per_producer = total / PRODUCERS;
    let total = per_producer * PRODUCERS;
    let q = Queue::<Option<u64>>::new(maxsize).unwrap();
    let words = SharedAtomics::new(BITMAP + total.div_ceil(64) as usize).unwrap();
    let w = words.as_slice();
    let job = |who| QueueJob {
        q: q.clone(),
        words: words.clone(),
        who,
        per_producer,
    };
    let start = Instant::now();
    let consumers: Vec<Process> = (0..CONSUMERS)
        .map(|who| {
            let mut p = Process::new(queue_consumer, job(who));
            p.start().unwrap();
            p
        })
        .collect();
    let producers: Vec<Process> = (0..PRODUCERS)
        .map(|who| {
            let mut p = Process::new(queue_producer, job(who));
            p.start().unwrap();
            p
        })
        .collect();
    for p in &producers {
        assert_eq!(p.join_timeout(LONG * 5).unwrap(), 0);
    }
    for _ in 0..CONSUMERS {
        q.put(None).unwrap();
    }
    for p in &consumers {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    let elapsed = start.elapsed();
    assert_eq!(
        w[DUPLICATES].load(Ordering::SeqCst),
        0,
        "items delivered twice"
    );
    assert_eq!(
        w[OUT_OF_ORDER].load(Ordering::SeqCst),
        0,
        "per-producer order broken"
    );
    assert_eq!(w[RECEIVED].load(Ordering::SeqCst), total);
    let seen: u64 = (0..total.div_ceil(64))
        .map(|i| u64::from(w[BITMAP + i as usize].load(Ordering::SeqCst).count_ones()))
        .sum();
    assert_eq!(seen, total, "items lost");
    assert!(q.empty());
    figure(
        "load.queue_16x16",
        format!(
            "{total} items from {PRODUCERS} producers to {CONSUMERS} consumers through a queue of maxsize {maxsize}, each exactly once, per-producer order kept, in {elapsed:?} ({:.0} items/s, debug build)",
            total as f64 / elapsed.as_secs_f64()
        ),
    );
}

#[test]
fn queue_sixteen_producers_sixteen_consumers() {
    let _serial = serial();
    watchdog(Duration::from_secs(300), || {
        queue_sixteen_by_sixteen(1_000_000, 10_000)
    });
}

#[test]
#[ignore = "soak: 5 x 1,000,000 items through a tiny queue (run with --ignored)"]
fn soak_queue_one_million_items() {
    let _serial = serial();
    watchdog(Duration::from_secs(1800), || {
        for maxsize in [1, 16, 256, 4096, 0] {
            queue_sixteen_by_sixteen(1_000_000, maxsize);
        }
    });
}

// ============================================================================ pool

fn tiny(x: u64) -> u64 {
    x.wrapping_mul(2_654_435_761) ^ 0x5555
}

fn pool_tiny_tasks(mapped: u64, applied: u64, method: StartMethod) {
    let pool = Pool::builder()
        .processes(2)
        .context(get_context(method))
        .build()
        .unwrap();
    let start = Instant::now();
    let out = pool.map(tiny, 0..mapped).unwrap();
    let map_time = start.elapsed();
    assert_eq!(out.len() as u64, mapped);
    assert!(out.iter().enumerate().all(|(x, &y)| y == tiny(x as u64)));
    drop(out);
    // One task per submission: the per-task path (no chunking).
    let start = Instant::now();
    let results: Vec<_> = (0..applied)
        .map(|x| pool.apply_async(tiny, x).unwrap())
        .collect();
    for (x, r) in results.into_iter().enumerate() {
        assert_eq!(
            r.get_timeout(LONG).map_err(|e| format!("{e:?}")),
            Ok(tiny(x as u64))
        );
    }
    let apply_time = start.elapsed();
    let unordered: u64 = pool
        .imap_unordered(tiny, 0..applied, 64)
        .unwrap()
        .map(|r: Result<u64, TaskError>| r.unwrap() ^ 0x5555)
        .fold(0, u64::wrapping_add);
    assert_eq!(
        unordered,
        (0..applied)
            .map(|x| tiny(x) ^ 0x5555)
            .fold(0, u64::wrapping_add)
    );
    pool.close();
    pool.join().unwrap();
    figure(
        &format!("load.pool.{method}"),
        format!(
            "map of {mapped} tiny tasks in {map_time:?}; {applied} apply_async tasks in {apply_time:?} ({:.0} tasks/s, debug build); imap_unordered of {applied}; every result checked",
            applied as f64 / apply_time.as_secs_f64()
        ),
    );
}

#[test]
fn pool_many_tiny_tasks() {
    let _serial = serial();
    watchdog(Duration::from_secs(300), || {
        pool_tiny_tasks(1_000_000, scaled(5_000, 100_000), StartMethod::Fork);
        pool_tiny_tasks(
            scaled(100_000, 1_000_000),
            scaled(1_000, 100_000),
            StartMethod::Spawn,
        );
    });
}

#[test]
#[ignore = "soak: 1,000,000 pool tasks submitted one by one (run with --ignored)"]
fn soak_pool_one_million_tasks() {
    let _serial = serial();
    watchdog(Duration::from_secs(1800), || {
        pool_tiny_tasks(1_000_000, 1_000_000, StartMethod::Fork)
    });
}
