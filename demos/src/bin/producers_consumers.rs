//! Scenario 20 (C. Queues): three producers, two consumers, and end markers.
//!
//! Three producers, named after what they make (`buns`, `bones`, `slop`), each make 2 items
//! with random 1–3 s pauses, printing `PID produced ITEM`. Two consumers loop on `get`,
//! printing `PID eats ITEM`, and stop at the end marker. The parent joins the producers, then
//! puts one end marker per consumer. The queue carries `Option<String>`: `None` is the end
//! marker, and no item can be mistaken for it. (The tutorial forgot to start its second
//! consumer; both run here.) The demo checks that all 6 items are eaten exactly once.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, Rng, check, say, scaled};
use procpool::{Process, Queue};

const USAGE: &str = "\
producers_consumers [options]

Scenario 20: three producers (buns, bones, slop) make 2 items each with random 1-3 s pauses;
two consumers eat until they get the end marker (one per consumer, put by the parent after
joining the producers). Every item is eaten exactly once (checked).
Works under every start method (--method).";

type TargetResult = Result<(), Box<dyn std::error::Error>>;

fn producer((q, food, mut rng, fast): (Queue<Option<String>>, String, Rng, bool)) -> TargetResult {
    for i in 0..2 {
        std::thread::sleep(scaled(rng.range_f64(1.0, 3.0), fast));
        let item = format!("{food}{i}");
        say!("{} produced {item}", std::process::id());
        q.put(Some(item))?;
    }
    Ok(())
}

fn consumer(
    (q, eaten, mut rng, fast): (Queue<Option<String>>, Queue<String>, Rng, bool),
) -> TargetResult {
    while let Some(item) = q.get()? {
        say!("{} eats {item}", std::process::id());
        eaten.put(item)?;
        std::thread::sleep(scaled(rng.range_f64(1.0, 3.0), fast));
    }
    Ok(())
}

fn body(opts: &Opts) -> DemoResult {
    let q = Queue::<Option<String>>::unbounded()?;
    let eaten = Queue::<String>::unbounded()?;
    let mut producers = Vec::new();
    for (i, food) in ["buns", "bones", "slop"].into_iter().enumerate() {
        let rng = Rng::for_child(opts.seed, i as u64);
        let mut p =
            Process::new(producer, (q.clone(), food.to_string(), rng, opts.fast)).with_name(food);
        p.start()?;
        producers.push(p);
    }
    let mut consumers = Vec::new();
    for i in 0..2 {
        let rng = Rng::for_child(opts.seed, 10 + i);
        let mut c = Process::new(consumer, (q.clone(), eaten.clone(), rng, opts.fast))
            .with_name(format!("consumer-{}", i + 1));
        c.start()?;
        consumers.push(c);
    }
    for p in &producers {
        check(p.join()? == 0, format!("{p} failed"))?;
    }
    for _ in &consumers {
        q.put(None)?; // one end marker per consumer
    }
    for c in &consumers {
        check(c.join()? == 0, format!("{c} failed"))?;
    }
    let mut counts = BTreeMap::<String, u32>::new();
    while let Ok(item) = eaten.get_timeout(Duration::ZERO) {
        *counts.entry(item).or_default() += 1;
    }
    say!("----------");
    say!("eaten: {counts:?}");
    let expected: Vec<String> = ["buns", "bones", "slop"]
        .iter()
        .flat_map(|f| (0..2).map(move |i| format!("{f}{i}")))
        .collect();
    check(
        counts.len() == expected.len() && expected.iter().all(|e| counts.get(e) == Some(&1)),
        "every item must be eaten exactly once",
    )?;
    say!("all {} items eaten exactly once", expected.len());
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
