//! Crashes: `SIGKILL` at random moments of a lock holder, a queue producer mid-`put` and a
//! consumer mid-`get` (small and streamed large messages), a pool worker mid-task, a barrier
//! party mid-wait and a process mid-`send` on a pipe. After each kill the survivors go on,
//! with correct data and typed errors where something was really lost, and nothing hangs.
//!
//! Every scenario runs under the fork start method and under spawn. Moments are drawn from a
//! seeded generator (the seed is printed; `PROCPOOL_SEED=<n>` repeats a run). `PROCPOOL_SOAK=1`
//! multiplies the number of kills.
//!
//! The tests take turns (a common lock): a child forked for one test would otherwise inherit
//! another test's pipe ends and hold off its end of file.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use integration::{Rng, eventually, figure, payload, scaled, serial, watchdog};
use std::os::fd::AsFd;

use procpool::pipe::{CanRecv, CanSend};
use procpool::{
    Barrier, BarrierWaitError, ByteBuf, Connection, Duplex, Lock, Pipe, Pool, Process, Queue,
    RecvError, RecvOnly, SendOnly, SharedAtomics, StartMethod, TaskError, get_context,
};
use serde::{Deserialize, Serialize};

const LONG: Duration = Duration::from_secs(30);

fn start<A>(method: StartMethod, f: fn(A), args: A) -> Process
where
    A: Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let mut p = get_context(method).process(f, args);
    p.start().expect("start a child");
    p
}

/// Kills `p` with SIGKILL and reaps it; checks that it died by that signal (or had exited).
fn kill_and_reap(p: &Process) {
    let _ = p.kill();
    let code = p.join_timeout(LONG).expect("a killed child is reaped");
    assert!(code == -9 || code == 0, "victim ended with {code}");
}

fn spin(iters: u64) {
    for _ in 0..iters {
        std::hint::spin_loop();
    }
}

/// Totals over the whole binary, for the figures.
static KILLS: AtomicU64 = AtomicU64::new(0);

// ============================================================================ lock holder

const A: usize = 0;
const B: usize = 1;
const STOP: usize = 2;
const TAKEOVERS: usize = 3;
const REPAIRS: usize = 4;
const VIOLATIONS: usize = 5;
const DONE: usize = 8;

#[derive(Serialize, Deserialize)]
struct LockJob {
    lock: Lock,
    words: SharedAtomics,
    id: usize,
    seed: u64,
}

/// Increments a two-word record (`A`, then `B`) under the lock; a holder killed in between
/// leaves `A != B`, which the next holder must be told about (and repairs).
fn lock_worker(job: LockJob) {
    let w = job.words.as_slice();
    let mut rng = Rng::new(job.seed);
    while w[STOP].load(Ordering::SeqCst) == 0 {
        {
            let g = job.lock.acquire();
            let (a, b) = (w[A].load(Ordering::SeqCst), w[B].load(Ordering::SeqCst));
            if g.previous_owner_died() {
                w[TAKEOVERS].fetch_add(1, Ordering::SeqCst);
                if a != b {
                    w[REPAIRS].fetch_add(1, Ordering::SeqCst);
                    w[B].store(a, Ordering::SeqCst);
                }
            } else if a != b {
                w[VIOLATIONS].fetch_add(1, Ordering::SeqCst);
            }
            w[A].store(a + 1, Ordering::SeqCst);
            spin(rng.range(0, 3_000));
            w[B].store(a + 1, Ordering::SeqCst);
        }
        w[DONE + job.id].fetch_add(1, Ordering::SeqCst);
        spin(rng.range(0, 500));
    }
}

fn lock_holder_killed(method: StartMethod) {
    let mut rng = Rng::for_test(&format!("lock_holder_killed/{method}"));
    let kills = scaled(5, 100);
    let n = 4;
    let lock = Lock::new().unwrap();
    let words = SharedAtomics::new(DONE + n + kills).unwrap();
    let w = words.as_slice();
    let mut next_id = 0;
    let mut spawn_worker = |rng: &mut Rng| {
        let job = LockJob {
            lock: lock.clone(),
            words: words.clone(),
            id: next_id,
            seed: rng.next_u64(),
        };
        next_id += 1;
        (job.id, start(method, lock_worker, job))
    };
    let mut workers: Vec<(usize, Process)> = (0..n).map(|_| spawn_worker(&mut rng)).collect();
    let mut held_at_kill = 0;
    for _ in 0..kills {
        std::thread::sleep(rng.duration(Duration::from_millis(2), Duration::from_millis(30)));
        // Mostly the current holder, in the middle of its critical section; sometimes anyone.
        let owner = lock.owner_pid();
        let victim = workers
            .iter()
            .position(|(_, p)| p.pid() == owner && !rng.one_in(5))
            .unwrap_or_else(|| rng.range(0, workers.len() as u64) as usize);
        let (_, p) = workers.swap_remove(victim);
        let pid = p.pid();
        let _ = p.kill();
        if lock.owner_pid() == pid {
            held_at_kill += 1;
        }
        kill_and_reap(&p);
        KILLS.fetch_add(1, Ordering::Relaxed);
        workers.push(spawn_worker(&mut rng));
        // The survivors go on: every worker still running makes progress.
        let before: Vec<u64> = workers
            .iter()
            .map(|(id, _)| w[DONE + id].load(Ordering::SeqCst))
            .collect();
        assert!(
            eventually(LONG, || workers
                .iter()
                .zip(&before)
                .all(|((id, _), b)| w[DONE + id].load(Ordering::SeqCst) > *b)),
            "workers stopped making progress after a kill"
        );
    }
    w[STOP].store(1, Ordering::SeqCst);
    for (_, p) in &workers {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    let done: u64 = (0..next_id)
        .map(|i| w[DONE + i].load(Ordering::SeqCst))
        .sum();
    let (a, b) = (w[A].load(Ordering::SeqCst), w[B].load(Ordering::SeqCst));
    let takeovers = w[TAKEOVERS].load(Ordering::SeqCst);
    assert_eq!(
        w[VIOLATIONS].load(Ordering::SeqCst),
        0,
        "a holder saw a half-done record without being told"
    );
    assert_eq!(a, b, "the record was left half done");
    assert!(
        a >= done && a - done <= kills as u64,
        "increments: {a}, recorded {done}"
    );
    assert!(
        takeovers >= held_at_kill,
        "{held_at_kill} holders killed, {takeovers} takeovers"
    );
    assert!(takeovers <= kills as u64);
    assert!(!lock.is_locked());
    figure(
        &format!("crash.lock_holder.{method}"),
        format!(
            "{kills} kills ({held_at_kill} while holding the lock), {takeovers} takeovers reported, {} repairs, {done} clean increments, 0 violations",
            w[REPAIRS].load(Ordering::SeqCst)
        ),
    );
}

/// A crash test: takes the crash tests' turn (they fork and must not inherit each other's
/// descriptors) and runs under a two-minute watchdog.
macro_rules! crash_test {
    ($name:ident, $body:block) => {
        #[test]
        fn $name() {
            let _serial = serial();
            watchdog(Duration::from_secs(120), || $body);
        }
    };
}

crash_test!(lock_holder_killed_fork, {
    lock_holder_killed(StartMethod::Fork)
});

crash_test!(lock_holder_killed_spawn, {
    lock_holder_killed(StartMethod::Spawn)
});

// ============================================================================ queues

#[derive(Debug, Serialize, Deserialize)]
struct Item {
    who: u64,
    seq: u64,
    data: ByteBuf,
}

/// Message sizes: small ones fit the ring many times; large ones are bigger than the ring
/// and stream through it in pieces.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
enum Size {
    Small,
    Large,
    /// Larger than a one-way pipe's 1 MiB buffer, so that a sender is often killed mid-send.
    Huge,
}

const RING: usize = 64 * 1024;

impl Size {
    fn len(self, who: u64, seq: u64) -> usize {
        let r = Rng::new(who ^ (seq << 20)).next_u64() as usize;
        match self {
            Size::Small => r % 200,
            Size::Large => RING + r % (4 * RING),
            Size::Huge => (1 << 20) + r % (1 << 20),
        }
    }

    fn queue(self) -> Queue<Item> {
        match self {
            Size::Small => Queue::builder()
                .maxsize(256)
                .capacity(RING)
                .build()
                .unwrap(),
            Size::Large | Size::Huge => Queue::builder().capacity(RING).build().unwrap(),
        }
    }
}

fn item(who: u64, seq: u64, size: Size) -> Item {
    Item {
        who,
        seq,
        data: ByteBuf::from(payload(who, seq, size.len(who, seq))),
    }
}

fn check_item(it: &Item, size: Size) -> bool {
    it.data.len() == size.len(it.who, it.seq) && *it.data == payload(it.who, it.seq, it.data.len())
}

// Words of the queue tests: STOP, then per party `DONE + 2*who` (operations completed) and
// `DONE + 2*who + 1` (1 while inside an operation).
const DRAIN: usize = 1;
const BAD: usize = 3;
const DUPLICATES: usize = 4;

#[derive(Serialize, Deserialize)]
struct ProducerJob {
    q: Queue<Item>,
    words: SharedAtomics,
    who: u64,
    size: Size,
}

fn producer(job: ProducerJob) {
    let w = job.words.as_slice();
    let (done, busy) = (DONE + 2 * job.who as usize, DONE + 2 * job.who as usize + 1);
    let mut seq = 0;
    while w[STOP].load(Ordering::SeqCst) == 0 {
        let it = item(job.who, seq, job.size);
        w[busy].store(1, Ordering::SeqCst);
        job.q.put(it).expect("put");
        w[done].store(seq + 1, Ordering::SeqCst);
        w[busy].store(0, Ordering::SeqCst);
        seq += 1;
    }
}

fn producer_killed_mid_put(method: StartMethod, size: Size) {
    let mut rng = Rng::for_test(&format!("producer_killed/{method}/{size:?}"));
    let kills = scaled(4, 60);
    let n = 3;
    let q = size.queue();
    let words = SharedAtomics::new(DONE + 2 * (n + kills)).unwrap();
    let w = words.as_slice();

    // The consumer: this process, on a thread; checks order, gaps and every byte.
    let stop_consumer = Arc::new(AtomicBool::new(false));
    let consumer = {
        let (q, stop) = (q.clone(), stop_consumer.clone());
        std::thread::spawn(move || {
            let mut next = vec![0u64; n + kills];
            loop {
                match q.get_timeout(Duration::from_millis(50)) {
                    Ok(it) => {
                        assert!(check_item(&it, size), "corrupt item {}/{}", it.who, it.seq);
                        let want = &mut next[it.who as usize];
                        assert_eq!(it.seq, *want, "producer {}: gap or duplicate", it.who);
                        *want += 1;
                    }
                    Err(e) if e.is_empty() => {
                        if stop.load(Ordering::SeqCst) {
                            return next;
                        }
                    }
                    Err(e) => panic!("get failed: {e}"),
                }
            }
        })
    };

    let mut next_who = 0u64;
    let mut spawn_producer = || {
        let job = ProducerJob {
            q: q.clone(),
            words: words.clone(),
            who: next_who,
            size,
        };
        next_who += 1;
        (job.who, start(method, producer, job))
    };
    let mut producers: Vec<(u64, Process)> = (0..n).map(|_| spawn_producer()).collect();
    let mut mid_put = 0;
    let mut victims = Vec::new();
    for _ in 0..kills {
        std::thread::sleep(rng.duration(Duration::from_millis(1), Duration::from_millis(40)));
        let (who, p) = producers.swap_remove(rng.range(0, producers.len() as u64) as usize);
        let _ = p.kill();
        kill_and_reap(&p);
        KILLS.fetch_add(1, Ordering::Relaxed);
        if w[DONE + 2 * who as usize + 1].load(Ordering::SeqCst) == 1 {
            mid_put += 1;
        }
        victims.push(who);
        producers.push(spawn_producer());
        let before: Vec<u64> = producers
            .iter()
            .map(|(who, _)| w[DONE + 2 * *who as usize].load(Ordering::SeqCst))
            .collect();
        assert!(
            eventually(LONG, || producers.iter().zip(&before).all(
                |((who, _), b)| w[DONE + 2 * *who as usize].load(Ordering::SeqCst) > *b
            )),
            "producers stopped making progress after a kill"
        );
    }
    w[STOP].store(1, Ordering::SeqCst);
    for (_, p) in &producers {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    stop_consumer.store(true, Ordering::SeqCst);
    let received = consumer.join().expect("consumer checks");
    let mut lost = 0;
    for who in 0..next_who {
        let done = w[DONE + 2 * who as usize].load(Ordering::SeqCst);
        let got = received[who as usize];
        if victims.contains(&who) {
            // The message in flight is delivered whole or not at all; nothing before it is lost.
            assert!(
                got == done || got == done + 1,
                "victim {who}: put {done}, received {got}"
            );
            lost += u64::from(
                got == done && w[DONE + 2 * who as usize + 1].load(Ordering::SeqCst) == 1,
            );
        } else {
            assert_eq!(got, done, "producer {who}: put {done}, received {got}");
        }
    }
    assert!(q.empty());
    let total: u64 = received.iter().sum();
    figure(
        &format!("crash.queue_producer.{size:?}.{method}"),
        format!(
            "{kills} kills ({mid_put} inside put, {lost} messages aborted whole), {total} messages checked byte for byte, no gap, duplicate or corruption"
        ),
    );
}

#[derive(Serialize, Deserialize)]
struct ConsumerJob {
    q: Queue<Item>,
    words: SharedAtomics,
    /// Bitmap of sequence numbers received, after the per-consumer words.
    seen_at: usize,
    who: u64,
    size: Size,
}

fn consumer(job: ConsumerJob) {
    let w = job.words.as_slice();
    let (done, busy) = (DONE + 2 * job.who as usize, DONE + 2 * job.who as usize + 1);
    loop {
        w[busy].store(1, Ordering::SeqCst);
        match job.q.get_timeout(Duration::from_millis(20)) {
            Ok(it) => {
                if !check_item(&it, job.size) {
                    w[BAD].fetch_add(1, Ordering::SeqCst);
                }
                let (word, bit) = (job.seen_at + (it.seq / 64) as usize, it.seq % 64);
                if w[word].fetch_or(1 << bit, Ordering::SeqCst) & (1 << bit) != 0 {
                    w[DUPLICATES].fetch_add(1, Ordering::SeqCst);
                }
                w[done].fetch_add(1, Ordering::SeqCst);
            }
            Err(e) if e.is_empty() => {
                if w[DRAIN].load(Ordering::SeqCst) != 0 {
                    w[busy].store(0, Ordering::SeqCst);
                    return;
                }
            }
            Err(_) => {
                w[BAD].fetch_add(1, Ordering::SeqCst);
            }
        }
        w[busy].store(0, Ordering::SeqCst);
    }
}

fn consumer_killed_mid_get(method: StartMethod, size: Size) {
    let mut rng = Rng::for_test(&format!("consumer_killed/{method}/{size:?}"));
    let kills = scaled(4, 60);
    let n = 3;
    let max_items: u64 = match size {
        Size::Small => 1 << 20,
        Size::Large | Size::Huge => 1 << 14,
    };
    let q = size.queue();
    let seen_at = DONE + 2 * (n + kills);
    let words = SharedAtomics::new(seen_at + (max_items / 64) as usize).unwrap();
    let w = words.as_slice();

    // The producer: this process, on a thread.
    let produced = Arc::new(AtomicU64::new(0));
    let producer = {
        let (q, produced, words) = (q.clone(), produced.clone(), words.clone());
        std::thread::spawn(move || {
            let w = words.as_slice();
            for seq in 0..max_items {
                if w[STOP].load(Ordering::SeqCst) != 0 {
                    break;
                }
                let mut it = item(0, seq, size);
                loop {
                    match q.put_timeout(it, Duration::from_millis(20)) {
                        Ok(()) => break,
                        Err(e) if e.is_full() && w[STOP].load(Ordering::SeqCst) == 0 => {
                            it = e.into_inner();
                        }
                        Err(_) => return,
                    }
                }
                produced.store(seq + 1, Ordering::SeqCst);
            }
        })
    };

    let mut next_who = 0u64;
    let mut spawn_consumer = || {
        let job = ConsumerJob {
            q: q.clone(),
            words: words.clone(),
            seen_at,
            who: next_who,
            size,
        };
        next_who += 1;
        (job.who, start(method, consumer, job))
    };
    let mut consumers: Vec<(u64, Process)> = (0..n).map(|_| spawn_consumer()).collect();
    let mut mid_get = 0u64;
    for _ in 0..kills {
        std::thread::sleep(rng.duration(Duration::from_millis(1), Duration::from_millis(40)));
        let (who, p) = consumers.swap_remove(rng.range(0, consumers.len() as u64) as usize);
        let _ = p.kill();
        kill_and_reap(&p);
        KILLS.fetch_add(1, Ordering::Relaxed);
        mid_get += w[DONE + 2 * who as usize + 1].load(Ordering::SeqCst);
        consumers.push(spawn_consumer());
        let before: Vec<u64> = consumers
            .iter()
            .map(|(who, _)| w[DONE + 2 * *who as usize].load(Ordering::SeqCst))
            .collect();
        assert!(
            eventually(LONG, || consumers.iter().zip(&before).all(
                |((who, _), b)| w[DONE + 2 * *who as usize].load(Ordering::SeqCst) > *b
            ) || produced.load(Ordering::SeqCst) == max_items),
            "consumers stopped making progress after a kill"
        );
    }
    w[STOP].store(1, Ordering::SeqCst);
    producer.join().expect("producer");
    w[DRAIN].store(1, Ordering::SeqCst);
    for (_, p) in &consumers {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    assert!(q.empty(), "items left behind");
    let produced = produced.load(Ordering::SeqCst);
    let seen: u64 = (0..produced.div_ceil(64))
        .map(|i| u64::from(w[seen_at + i as usize].load(Ordering::SeqCst).count_ones()))
        .sum();
    assert_eq!(
        w[BAD].load(Ordering::SeqCst),
        0,
        "a consumer got a corrupt item or an error"
    );
    assert_eq!(
        w[DUPLICATES].load(Ordering::SeqCst),
        0,
        "an item was delivered twice"
    );
    let lost = produced - seen;
    // Only a victim that was inside `get` (or between `get` and recording) can lose an item.
    assert!(
        lost <= mid_get,
        "{lost} items lost, but only {mid_get} victims were inside get"
    );
    figure(
        &format!("crash.queue_consumer.{size:?}.{method}"),
        format!(
            "{kills} kills ({mid_get} inside get), {produced} items, {seen} delivered exactly once, {lost} lost with their consumer, 0 corrupt"
        ),
    );
}

crash_test!(queue_producer_killed_small_fork, {
    producer_killed_mid_put(StartMethod::Fork, Size::Small)
});

crash_test!(queue_producer_killed_large_fork, {
    producer_killed_mid_put(StartMethod::Fork, Size::Large)
});

crash_test!(queue_producer_killed_spawn, {
    producer_killed_mid_put(StartMethod::Spawn, Size::Small);
    producer_killed_mid_put(StartMethod::Spawn, Size::Large);
});

crash_test!(queue_consumer_killed_small_fork, {
    consumer_killed_mid_get(StartMethod::Fork, Size::Small)
});

crash_test!(queue_consumer_killed_large_fork, {
    consumer_killed_mid_get(StartMethod::Fork, Size::Large)
});

crash_test!(queue_consumer_killed_spawn, {
    consumer_killed_mid_get(StartMethod::Spawn, Size::Small);
    consumer_killed_mid_get(StartMethod::Spawn, Size::Large);
});

// ============================================================================ pool worker

fn task(x: u64) -> u64 {
    std::thread::sleep(Duration::from_millis(1 + x % 9));
    x * 3 + 1
}

fn pool_worker_killed(method: StartMethod) {
    let mut rng = Rng::for_test(&format!("pool_worker_killed/{method}"));
    let kills = scaled(5, 100);
    let tasks = scaled(300u64, 6_000);
    let pool = Pool::builder()
        .processes(3)
        .context(get_context(method))
        .build()
        .unwrap();
    let results: Vec<_> = (0..tasks)
        .map(|x| pool.apply_async(task, x).unwrap())
        .collect();
    let mut killed = Vec::new();
    for _ in 0..kills {
        std::thread::sleep(rng.duration(Duration::from_millis(5), Duration::from_millis(60)));
        let pids = pool.worker_pids();
        let victim = pids[rng.range(0, pids.len() as u64) as usize];
        integration::kill9(victim);
        KILLS.fetch_add(1, Ordering::Relaxed);
        killed.push(victim);
        // Replaced before the next kill (so a kill never hits an already dead worker).
        assert!(
            eventually(LONG, || !pool.worker_pids().contains(&victim)),
            "dead worker {victim} was not replaced"
        );
    }
    let (mut ok, mut lost) = (0, 0);
    for (x, r) in results.into_iter().enumerate() {
        match r.get_timeout(LONG) {
            Ok(v) => {
                assert_eq!(v, x as u64 * 3 + 1);
                ok += 1;
            }
            Err(procpool::GetTimeoutError::Failed(TaskError::WorkerLost {
                pid, signal, ..
            })) => {
                assert!(
                    killed.contains(&pid),
                    "task {x} lost on worker {pid}, never killed"
                );
                assert_eq!(signal, Some(9));
                lost += 1;
            }
            Err(e) => panic!("task {x}: {e:?}"),
        }
    }
    assert!(lost <= kills, "{lost} tasks lost for {kills} kills");
    assert!(pool.replacements() >= kills as u64);
    // The pool goes on.
    assert_eq!(
        pool.map(task, 0..40u64).unwrap(),
        (0..40u64).map(|x| x * 3 + 1).collect::<Vec<_>>()
    );
    pool.close();
    pool.join().unwrap();
    figure(
        &format!("crash.pool_worker.{method}"),
        format!(
            "{kills} workers killed mid-work, {lost} tasks failed with WorkerLost, {ok} correct results, pool replaced every worker and went on"
        ),
    );
}

crash_test!(pool_worker_killed_fork, {
    pool_worker_killed(StartMethod::Fork)
});

crash_test!(pool_worker_killed_spawn, {
    pool_worker_killed(StartMethod::Spawn)
});

// ============================================================================ barrier party

const GO: usize = 0; // + id: rounds released to survivor `id`; u64::MAX: exit
const RESULT: usize = 2; // + id: round * 4 + outcome
const OK: u64 = 0;
const BROKEN: u64 = 1;
const TIMEOUT: u64 = 2;

#[derive(Serialize, Deserialize)]
struct PartyJob {
    barrier: Barrier,
    words: SharedAtomics,
    id: usize,
}

/// The victim: always first at the barrier.
fn barrier_victim(barrier: Barrier) {
    while barrier.wait().is_ok() {}
}

/// A survivor: waits at the barrier once per round the parent releases.
fn barrier_survivor(job: PartyJob) {
    let w = job.words.as_slice();
    for round in 1u64.. {
        let deadline = Instant::now() + LONG;
        loop {
            let go = w[GO + job.id].load(Ordering::SeqCst);
            if go == u64::MAX {
                return;
            }
            if go >= round || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_micros(200));
        }
        let outcome = match job.barrier.wait_timeout(LONG) {
            Ok(_) => OK,
            Err(BarrierWaitError::Broken) => BROKEN,
            Err(BarrierWaitError::Timeout) => TIMEOUT,
        };
        w[RESULT + job.id].store(round * 4 + outcome, Ordering::SeqCst);
    }
}

/// How a kill round went.
#[derive(Default)]
struct BarrierFigures {
    kills: u64,
    /// Survivors told `Broken`, and the worst time from the kill to the barrier breaking.
    broken: u64,
    worst: Duration,
    /// Rounds where both survivors arrived right after the kill, before any liveness sweep:
    /// the dead party had arrived, so the round may complete (`Ok` for both); the next round
    /// then breaks.
    raced: u64,
    raced_completed: u64,
}

/// Where the survivors are when the victim dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Variant {
    /// Not at the barrier yet: one arrives alone, sleeps, and its sweep finds the victim.
    NoneInside,
    /// One is already waiting with the victim.
    OneInside,
    /// Both arrive at once right after the kill, racing the sweep.
    Race,
}

fn barrier_party_killed(
    method: StartMethod,
    variant: Variant,
    rng: &mut Rng,
    fig: &mut BarrierFigures,
) {
    let barrier = Barrier::new(3, None).unwrap();
    let words = SharedAtomics::new(4).unwrap();
    let w = words.as_slice();
    let survivors: Vec<Process> = (0..2)
        .map(|id| {
            let job = PartyJob {
                barrier: barrier.clone(),
                words: words.clone(),
                id,
            };
            start(method, barrier_survivor, job)
        })
        .collect();
    let release = |id: usize, round: u64| w[GO + id].store(round, Ordering::SeqCst);
    let result = |id: usize, round: u64| {
        let mut r = 0;
        assert!(
            eventually(LONG, || {
                r = w[RESULT + id].load(Ordering::SeqCst);
                r / 4 == round
            }),
            "survivor {id} did not finish round {round}"
        );
        r % 4
    };
    let victim = start(method, barrier_victim, barrier.clone());
    let normal_rounds = rng.range(1, 4);
    for round in 1..=normal_rounds {
        release(0, round);
        release(1, round);
        assert_eq!((result(0, round), result(1, round)), (OK, OK));
    }
    // The kill round: the victim is inside `wait`, alone or with one survivor.
    let mut round = normal_rounds + 1;
    assert!(eventually(LONG, || barrier.n_waiting() == 1));
    let early = usize::from(variant == Variant::OneInside);
    if early == 1 {
        release(0, round);
        assert!(eventually(LONG, || barrier.n_waiting() == 2));
    }
    std::thread::sleep(rng.duration(Duration::ZERO, Duration::from_millis(20)));
    kill_and_reap(&victim);
    fig.kills += 1;
    KILLS.fetch_add(1, Ordering::Relaxed);
    let killed_at = Instant::now();
    if variant == Variant::Race {
        // Both survivors arrive at once, racing the liveness sweep: the victim had arrived,
        // so the round may complete. Then the next round must break (the victim will never
        // come), not hang.
        release(0, round);
        release(1, round);
        let (r0, r1) = (result(0, round), result(1, round));
        assert!(
            (r0, r1) == (BROKEN, BROKEN) || (r0, r1) == (OK, OK),
            "survivors disagree: {r0} {r1}"
        );
        fig.raced += 1;
        if r0 == OK {
            fig.raced_completed += 1;
            round += 1;
            release(0, round);
            release(1, round);
            assert_eq!(
                (result(0, round), result(1, round)),
                (BROKEN, BROKEN),
                "the round after a dead party's last one did not break"
            );
        }
        fig.broken += 2;
        fig.worst = fig.worst.max(killed_at.elapsed());
    } else {
        // One survivor is (or gets) inside `wait`: it finds the dead party and breaks the
        // round; the other arrives at a broken barrier.
        release(0, round);
        assert!(
            eventually(LONG, || barrier.broken()),
            "the dead party was never noticed"
        );
        fig.worst = fig.worst.max(killed_at.elapsed());
        release(1, round);
        assert_eq!((result(0, round), result(1, round)), (BROKEN, BROKEN));
        fig.broken += 2;
    }
    // Reset, a new third party, and the survivors complete a round again.
    barrier.reset();
    let replacement = start(method, barrier_victim, barrier.clone());
    release(0, round + 1);
    release(1, round + 1);
    assert_eq!((result(0, round + 1), result(1, round + 1)), (OK, OK));
    release(0, u64::MAX);
    release(1, u64::MAX);
    for p in &survivors {
        assert_eq!(p.join_timeout(LONG).unwrap(), 0);
    }
    kill_and_reap(&replacement);
}

fn barrier_party_killed_rounds(method: StartMethod) {
    let mut rng = Rng::for_test(&format!("barrier_party_killed/{method}"));
    let rounds = scaled(3, 40);
    let mut fig = BarrierFigures::default();
    for i in 0..rounds {
        let variant = match i % 3 {
            0 => Variant::Race,
            1 => Variant::OneInside,
            _ => Variant::NoneInside,
        };
        barrier_party_killed(method, variant, &mut rng, &mut fig);
    }
    figure(
        &format!("crash.barrier_party.{method}"),
        format!(
            "{} parties killed mid-wait; {} survivors got Broken, within {:?} of the kill (worst); {} kills raced the survivors' arrival ({} of those rounds completed with the dead party counted as arrived, and the next round broke); a full round after every reset",
            fig.kills, fig.broken, fig.worst, fig.raced, fig.raced_completed
        ),
    );
}

crash_test!(barrier_party_killed_fork, {
    barrier_party_killed_rounds(StartMethod::Fork)
});

crash_test!(barrier_party_killed_spawn, {
    barrier_party_killed_rounds(StartMethod::Spawn)
});

// ============================================================================ pipe sender

#[derive(Serialize, Deserialize)]
#[serde(bound = "")]
struct SenderJob<D: CanSend> {
    tx: Connection<D>,
    words: SharedAtomics,
    who: u64,
    size: Size,
}

fn pipe_sender<D: CanSend>(job: SenderJob<D>) {
    let w = job.words.as_slice();
    let (done, busy) = (DONE + 2 * job.who as usize, DONE + 2 * job.who as usize + 1);
    let mut seq = 0;
    while w[STOP].load(Ordering::SeqCst) == 0 {
        let it = item(job.who, seq, job.size);
        w[busy].store(1, Ordering::SeqCst);
        if job.tx.send(&it).is_err() {
            procpool::exit(3);
        }
        w[done].store(seq + 1, Ordering::SeqCst);
        w[busy].store(0, Ordering::SeqCst);
        seq += 1;
    }
}

/// `Pipe::one_way` or `Pipe::duplex`.
type MakePipe<D, S> = fn() -> std::io::Result<(Connection<D>, Connection<S>)>;

/// One sender per pipe; the receiver (this thread) multiplexes over all pipes with
/// `pipe::wait`, checks every message, and kills a random sender at random moments. A
/// victim's pipe ends in end of file (killed between messages) or `Truncated` (killed
/// mid-send: the partial message is reported lost, never delivered); the others go on.
fn pipe_sender_killed<D: CanRecv, S: CanSend>(
    method: StartMethod,
    size: Size,
    make: MakePipe<D, S>,
) {
    let kind = std::any::type_name::<S>()
        .rsplit("::")
        .next()
        .unwrap_or("?");
    let mut rng = Rng::for_test(&format!("pipe_sender_killed/{method}/{size:?}/{kind}"));
    let kills = scaled(4, 60);
    let n = 3;
    let words = SharedAtomics::new(DONE + 2 * (n + kills)).unwrap();
    let w = words.as_slice();
    struct Peer<D: CanRecv> {
        who: u64,
        rx: Option<Connection<D>>,
        p: Process,
        received: u64,
        killed: bool,
        truncated: bool,
    }
    let mut next_who = 0u64;
    let mut add = |peers: &mut Vec<Peer<D>>| {
        let (rx, tx) = make().unwrap();
        let job = SenderJob {
            tx,
            words: words.clone(),
            who: next_who,
            size,
        };
        peers.push(Peer {
            who: next_who,
            rx: Some(rx),
            p: start(method, pipe_sender::<S>, job),
            received: 0,
            killed: false,
            truncated: false,
        });
        next_who += 1;
    };
    let mut peers: Vec<Peer<D>> = Vec::new();
    for _ in 0..n {
        add(&mut peers);
    }
    let deadline = Instant::now() + Duration::from_secs(100);
    let mut kills_left = kills;
    let mut next_kill =
        Instant::now() + rng.duration(Duration::from_millis(1), Duration::from_millis(40));
    let mut since_kill: Vec<u64> = Vec::new();
    let mut stopping = false;
    loop {
        assert!(Instant::now() < deadline, "the receiver hangs");
        let open: Vec<usize> = (0..peers.len())
            .filter(|&i| peers[i].rx.is_some())
            .collect();
        if stopping && open.is_empty() {
            break;
        }
        let ready = {
            let fds: Vec<_> = open
                .iter()
                .map(|&i| peers[i].rx.as_ref().unwrap().as_fd())
                .collect();
            procpool::pipe::wait(&fds, Some(Duration::from_millis(5))).unwrap()
        };
        for r in ready {
            let peer = &mut peers[open[r]];
            let rx = peer.rx.as_ref().unwrap();
            match rx.recv::<Item>() {
                Ok(it) => {
                    assert_eq!((it.who, it.seq), (peer.who, peer.received), "out of step");
                    assert!(
                        check_item(&it, size),
                        "corrupt message {}/{}",
                        it.who,
                        it.seq
                    );
                    peer.received += 1;
                }
                Err(RecvError::Eof) => peer.rx = None,
                Err(RecvError::Truncated) => {
                    assert!(peer.killed, "sender {} alive, message truncated", peer.who);
                    peer.truncated = true;
                    assert!(matches!(rx.recv::<Item>(), Err(RecvError::Broken)));
                    peer.rx = None;
                }
                Err(e) => panic!("sender {}: {e:?}", peer.who),
            }
        }
        let alive: Vec<usize> = (0..peers.len()).filter(|&i| !peers[i].killed).collect();
        if kills_left > 0 && Instant::now() >= next_kill {
            let victim = alive[rng.range(0, alive.len() as u64) as usize];
            kill_and_reap(&peers[victim].p);
            KILLS.fetch_add(1, Ordering::Relaxed);
            peers[victim].killed = true;
            add(&mut peers);
            kills_left -= 1;
            next_kill =
                Instant::now() + rng.duration(Duration::from_millis(1), Duration::from_millis(40));
            since_kill = peers.iter().map(|p| p.received).collect();
        }
        // After the last kill, stop once every surviving sender has delivered again.
        if kills_left == 0 && !stopping {
            let progressed = peers
                .iter()
                .zip(&since_kill)
                .all(|(p, &before)| p.killed || p.received > before);
            if progressed {
                w[STOP].store(1, Ordering::SeqCst);
                stopping = true;
            }
        }
    }
    let (mut mid_send, mut total) = (0, 0);
    for peer in &peers {
        let done = w[DONE + 2 * peer.who as usize].load(Ordering::SeqCst);
        total += peer.received;
        if peer.killed {
            assert!(
                peer.received == done || peer.received == done + 1,
                "victim {}: sent {done}, received {}",
                peer.who,
                peer.received
            );
            if peer.truncated {
                assert_eq!(
                    w[DONE + 2 * peer.who as usize + 1].load(Ordering::SeqCst),
                    1
                );
                mid_send += 1;
            }
        } else {
            assert_eq!(peer.p.join_timeout(LONG).unwrap(), 0);
            assert!(!peer.truncated);
            assert_eq!(peer.received, done, "sender {}", peer.who);
        }
    }
    figure(
        &format!("crash.pipe_sender.{size:?}.{kind}.{method}"),
        format!(
            "{kills} senders killed ({mid_send} mid-message: Truncated, then Broken), {total} messages checked byte for byte, survivors went on to a clean end of file"
        ),
    );
}

fn pipe_senders_killed(method: StartMethod) {
    for size in [Size::Small, Size::Huge] {
        pipe_sender_killed::<RecvOnly, SendOnly>(method, size, Pipe::one_way);
        pipe_sender_killed::<Duplex, Duplex>(method, size, Pipe::duplex);
    }
}

#[test]
fn pipe_sender_killed_fork() {
    let _serial = serial();
    watchdog(Duration::from_secs(200), || {
        pipe_senders_killed(StartMethod::Fork)
    });
}

#[test]
fn pipe_sender_killed_spawn() {
    let _serial = serial();
    watchdog(Duration::from_secs(200), || {
        pipe_senders_killed(StartMethod::Spawn)
    });
}

/// Prints the total (run with `--test-threads=1 --nocapture`; the name sorts last).
#[test]
fn zz_report_crash_figures() {
    let _serial = serial();
    figure(
        "crash.total",
        format!(
            "{} SIGKILLs injected and survived",
            KILLS.load(Ordering::Relaxed)
        ),
    );
}
