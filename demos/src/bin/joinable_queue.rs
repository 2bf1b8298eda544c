//! Scenario 21 (C. Queues): JoinableQueue.
//!
//! Three producers make 10 items each and then `join()` the queue: they wait until every item
//! has been marked done. Two daemon consumers get items, print them and call `task_done()`.
//! When the producers return, everything has been consumed; the parent prints its last line
//! and ends, and the daemon consumers die with it.

use std::process::ExitCode;
use std::sync::atomic::Ordering;

use demos::{DemoResult, Opts, Rng, check, say, scaled};
use procpool::{JoinableQueue, Process, SharedAtomics};

const USAGE: &str = "\
joinable_queue [--items N] [options]

Scenario 21: JoinableQueue. Three producers put 10 items each, then join() the queue until
every item is marked done; two daemon consumers get, print and task_done() each item. When
the producers have returned everything has been consumed (checked); the parent ends and the
daemon consumers die with it.
  --items N   items per producer (default 10)
Works under every start method (--method).";

fn producer(
    (q, food, items, mut rng, fast): (JoinableQueue<String>, String, u32, Rng, bool),
) -> Result<(), Box<dyn std::error::Error>> {
    for i in 0..items {
        std::thread::sleep(scaled(rng.range_f64(0.0, 0.3), fast));
        let item = format!("{food}{i}");
        say!("{} produced {item}", std::process::id());
        q.put(item)?;
    }
    q.join(); // until every item put (by anyone) has been marked done
    say!("{} ({food}): all items consumed", std::process::id());
    Ok(())
}

fn consumer(
    (q, consumed, mut rng, fast): (JoinableQueue<String>, SharedAtomics, Rng, bool),
) -> std::convert::Infallible {
    loop {
        if let Ok(item) = q.get() {
            std::thread::sleep(scaled(rng.range_f64(0.0, 0.2), fast));
            say!("{} consumed {item}", std::process::id());
            consumed[0].fetch_add(1, Ordering::SeqCst);
        }
        let _ = q.task_done();
    }
}

fn body(opts: &Opts) -> DemoResult {
    let items: u32 = opts.number("--items", 10);
    let q = JoinableQueue::<String>::new(0)?;
    let consumed = SharedAtomics::new(1)?;
    let mut consumers = Vec::new();
    for i in 0..2 {
        let rng = Rng::for_child(opts.seed, 10 + i);
        let mut c = Process::new(consumer, (q.clone(), consumed.clone(), rng, opts.fast))
            .with_daemon(true)
            .with_name(format!("consumer-{}", i + 1));
        c.start()?;
        say!(
            "started {} (pid {}, daemon)",
            c.name(),
            c.pid().unwrap_or(0)
        );
        consumers.push(c);
    }
    let mut producers = Vec::new();
    for (i, food) in ["buns", "bones", "slop"].into_iter().enumerate() {
        let rng = Rng::for_child(opts.seed, i as u64);
        let mut p = Process::new(
            producer,
            (q.clone(), food.to_string(), items, rng, opts.fast),
        )
        .with_name(food);
        p.start()?;
        producers.push(p);
    }
    for p in &producers {
        check(p.join()? == 0, format!("{p} failed"))?;
    }
    let done = consumed[0].load(Ordering::SeqCst);
    let total = u64::from(items) * 3;
    say!("----------");
    say!(
        "producers returned: {done} of {total} items consumed, {} unfinished",
        q.unfinished_tasks()
    );
    check(
        done == total,
        "every item must be consumed when the producers return",
    )?;
    say!("Main process ended (the daemon consumers end with it)");
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
