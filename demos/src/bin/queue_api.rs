//! Scenario 18 (C. Queues): the Queue API, call by call.
//!
//! `Queue(maxsize)`; `put` blocking, with a timeout (Python's `put(item, True, timeout)`,
//! failing with Full) and without blocking (`put_nowait`); `get` likewise (failing with Empty);
//! `qsize()`, `empty()`, `full()`; `close()`. Python's `qsize` raises NotImplementedError on
//! macOS; procpool's is exact wherever it builds, including across processes (a child fills
//! the queue and the parent counts).

use std::process::ExitCode;
use std::time::{Duration, Instant};

use demos::{DemoResult, Opts, check, say};
use procpool::{GetError, Process, PutError, Queue};

const USAGE: &str = "\
queue_api [options]

Scenario 18: the Queue API. Queue(maxsize); put / put_timeout (Full) / put_nowait;
get / get_timeout (Empty) / get_nowait; qsize, empty, full; close. Each call is printed
with its result. The timeouts are 1 s (scaled by --fast).";

fn fill((q, n): (Queue<String>, u32)) -> Result<(), PutError<String>> {
    for i in 0..n {
        q.put(format!("from child {i}"))?;
    }
    Ok(())
}

fn body(opts: &Opts) -> DemoResult {
    let timeout = opts.dur(1.0);
    let secs = |d: Duration| format!("{:.2} s", d.as_secs_f64());

    let q = Queue::<String>::new(3)?;
    say!("q = Queue(maxsize={})", q.maxsize());
    say!(
        "q.empty() = {}, q.full() = {}, q.qsize() = {}",
        q.empty(),
        q.full(),
        q.qsize()
    );
    for item in ["spam", "egg", "ham"] {
        q.put(item.to_string())?;
        say!("q.put({item:?})        -> ok, qsize = {}", q.qsize());
    }
    say!(
        "q.empty() = {}, q.full() = {}, q.qsize() = {}",
        q.empty(),
        q.full(),
        q.qsize()
    );
    check(
        q.full() && q.qsize() == 3,
        "a queue of 3 holding 3 items is full",
    )?;

    let t0 = Instant::now();
    match q.put_timeout("bacon".to_string(), timeout) {
        Err(PutError::Full(item)) => say!(
            "q.put_timeout({item:?}, {}) -> Full after {} (the item is given back)",
            secs(timeout),
            secs(t0.elapsed())
        ),
        other => return Err(format!("put_timeout on a full queue: {other:?}").into()),
    }
    match q.put_nowait("bacon".to_string()) {
        Err(e @ PutError::Full(_)) => say!("q.put_nowait(\"bacon\")  -> {e} (Full, at once)"),
        other => return Err(format!("put_nowait on a full queue: {other:?}").into()),
    }

    say!("q.get()              -> {:?}", q.get()?);
    say!("q.get_nowait()       -> {:?}", q.get_nowait()?);
    say!(
        "q.get_timeout({})  -> {:?}",
        secs(timeout),
        q.get_timeout(timeout)?
    );
    say!("q.empty() = {}, q.qsize() = {}", q.empty(), q.qsize());
    let t0 = Instant::now();
    match q.get_timeout(timeout) {
        Err(GetError::Empty) => say!(
            "q.get_timeout({})  -> Empty after {}",
            secs(timeout),
            secs(t0.elapsed())
        ),
        other => return Err(format!("get_timeout on an empty queue: {other:?}").into()),
    }
    match q.get_nowait() {
        Err(e @ GetError::Empty) => say!("q.get_nowait()       -> {e} (Empty, at once)"),
        other => return Err(format!("get_nowait on an empty queue: {other:?}").into()),
    }

    let mut p = Process::new(fill, (q.clone(), 3));
    p.start()?;
    p.join()?;
    say!(
        "a child put 3 items:  q.qsize() = {} (exact, in every process)",
        q.qsize()
    );
    check(q.qsize() == 3, "qsize counts the child's items")?;
    for _ in 0..3 {
        say!("q.get()              -> {:?}", q.get()?);
    }

    q.close();
    match q.put("late".to_string()) {
        Err(e @ PutError::Closed(_)) => say!("q.close(); q.put(\"late\") -> {e}"),
        other => return Err(format!("put after close: {other:?}").into()),
    }
    match q.get() {
        Err(e @ GetError::Closed) => say!("q.get() after close  -> {e}"),
        other => return Err(format!("get after close: {other:?}").into()),
    }
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
