//! Scenarios 15 and 17 (B. Synchronisation, C. Queues): a producer and a consumer around a
//! bounded buffer, with semaphores.
//!
//! A [`Queue`]`(10)` is the buffer, `empty = Semaphore(2)` counts free slots, `full =
//! Semaphore(0)` counts items, and a [`Lock`] makes each step exclusive. The producer loops:
//! acquire `empty`, lock, put an item, print, sleep 1 s, unlock, release `full`. The consumer
//! mirrors it. Output alternates in pairs (at most 2 items are ever in the buffer; the demo
//! checks it).
//!
//! * `semaphore` (15): the items are counters; the lines are `Producer append an element` and
//!   `Consumer pop an element`.
//! * `random` (17): the producer puts random floats and prints `Producer put X`; the consumer
//!   prints `Consumer get X`: the same values in the same (FIFO) order, which the demo checks.
//!
//! The tutorial's processes loop forever as daemons; here they run `--rounds` rounds. Readers
//! of the tutorial saw it hang under the spawn start method, because the primitives were
//! module globals re-created in each child; here they are passed to the children as arguments
//! and the demo works under every start method (`--method spawn`, `--method forkserver`).

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

use demos::{DemoResult, Opts, Rng, check, say};
use procpool::{Lock, Process, Queue, Semaphore, SharedAtomics};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
producer_consumer [semaphore|random] [--rounds N] [options]

Scenarios 15 and 17: a producer and a consumer around a Queue(10) buffer guarded by
empty = Semaphore(2), full = Semaphore(0) and a Lock; each step sleeps 1 s.
  semaphore    items are counters: `Producer append an element` / `Consumer pop an element`
  random       random floats: `Producer put X` / `Consumer get X`, same values, FIFO order
  --rounds N   items to produce and consume (default 6; the tutorial loops forever)
Works under every start method (--method fork|spawn|forkserver): the primitives are passed to
the children as arguments. Without a part, runs both, each as a fresh program.";

const PARTS: [(&str, &str); 2] = [
    ("semaphore", "semaphores around a buffer (scenario 15)"),
    ("random", "random numbers through the queue (scenario 17)"),
];

/// Stats words, updated under the lock.
const IN_BUFFER: usize = 0;
const MOST_IN_BUFFER: usize = 1;

/// Slots in the buffer that the `empty` semaphore hands out.
const SLOTS: u32 = 2;

/// Everything both sides share; passed to each child as an argument.
#[derive(Clone, Serialize, Deserialize)]
struct Shared {
    buffer: Queue<f64>,
    empty: Semaphore,
    full: Semaphore,
    lock: Lock,
    stats: SharedAtomics,
    /// What the consumer took, in order, for the parent's check.
    seen: Queue<f64>,
    rounds: u32,
    pause: Duration,
    random: bool,
}

type TargetResult = Result<(), Box<dyn std::error::Error>>;

fn producer((s, mut rng): (Shared, Rng)) -> TargetResult {
    for i in 0..s.rounds {
        s.empty.acquire().forget();
        {
            let _locked = s.lock.acquire();
            let item = if s.random { rng.f64() } else { f64::from(i) };
            s.buffer.put(item)?;
            let n = s.stats[IN_BUFFER].fetch_add(1, Ordering::SeqCst) + 1;
            s.stats[MOST_IN_BUFFER].fetch_max(n, Ordering::SeqCst);
            if s.random {
                say!("Producer put {item}");
            } else {
                say!("Producer append an element");
            }
            std::thread::sleep(s.pause);
        }
        s.full.release()?;
    }
    Ok(())
}

fn consumer(s: Shared) -> TargetResult {
    for _ in 0..s.rounds {
        s.full.acquire().forget();
        {
            let _locked = s.lock.acquire();
            let item = s.buffer.get()?;
            s.stats[IN_BUFFER].fetch_sub(1, Ordering::SeqCst);
            if s.random {
                say!("Consumer get {item}");
            } else {
                say!("Consumer pop an element");
            }
            s.seen.put(item)?;
            std::thread::sleep(s.pause);
        }
        s.empty.release()?;
    }
    Ok(())
}

fn run_part(opts: &Opts, random: bool) -> DemoResult {
    let rounds: u32 = opts.number("--rounds", 6);
    let shared = Shared {
        buffer: Queue::new(10)?,
        empty: Semaphore::new(SLOTS)?,
        full: Semaphore::new(0)?,
        lock: Lock::new()?,
        stats: SharedAtomics::new(2)?,
        seen: Queue::unbounded()?,
        rounds,
        pause: opts.dur(1.0),
        random,
    };
    say!(
        "start method: {}, {rounds} rounds, seed {}",
        opts.start_method(),
        opts.seed
    );
    let mut p = Process::new(producer, (shared.clone(), Rng::for_child(opts.seed, 0)))
        .with_name("producer")
        .with_daemon(true);
    let mut c = Process::new(consumer, shared.clone())
        .with_name("consumer")
        .with_daemon(true);
    p.start()?;
    c.start()?;
    for child in [&p, &c] {
        check(child.join()? == 0, format!("{child} failed"))?;
    }

    let seen: Vec<f64> = (0..rounds)
        .map(|_| shared.seen.get_timeout(Duration::from_secs(10)))
        .collect::<Result<_, _>>()?;
    let mut rng = Rng::for_child(opts.seed, 0);
    let expected: Vec<f64> = (0..rounds)
        .map(|i| if random { rng.f64() } else { f64::from(i) })
        .collect();
    let most = shared.stats[MOST_IN_BUFFER].load(Ordering::SeqCst);
    say!("----------");
    say!(
        "consumer got all {} items in the order they were put; at most {most} in the buffer",
        seen.len()
    );
    check(
        seen == expected,
        "the consumer must get the producer's items in FIFO order",
    )?;
    check(
        most <= u64::from(SLOTS),
        format!("{most} items in the buffer at once, empty = Semaphore({SLOTS})"),
    )
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    let names = PARTS.map(|(n, _)| n);
    match opts.part(&names).as_deref() {
        None => opts.run_parts(&PARTS),
        Some("semaphore") => demos::run(|| run_part(&opts, false)),
        Some(_) => demos::run(|| run_part(&opts, true)),
    }
}
