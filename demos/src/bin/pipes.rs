//! Scenarios 22 to 25 (C. Pipes): `Pipe`, `Connection`, end of file, shared ends.
//!
//! * `duplex` (22): `Pipe::new()` gives two ends; a Producer process and a Consumer process
//!   get one each. The consumer sends `Consumer Words` and then receives; the producer receives
//!   and then sends `Producer Words`. `Pipe::one_way()` (Python's `Pipe(duplex=False)`) gives a
//!   receive-only end and a send-only end (sending on the receiving end does not compile).
//! * `messages` (23): any serde value crosses a pipe: a child sends a list and closes its end
//!   (the parent then reads end of file); a second child sends a map and waits for the
//!   parent's reply, a set of strings.
//! * `eof` (24): a consumer process receives until end of file; the parent sends 0..9 and ends
//!   the stream. End of file comes only when *every* copy of the sending end is closed, and a
//!   child started by fork holds a copy of everything its parent had open, so the parent ends
//!   the stream with `shutdown_send()`, which works whoever still holds a copy. The part also
//!   shows what happens when the parent only drops its end: under fork the consumer would wait
//!   for ever (the tutorial's bug); here it gives up after 1 s and says why.
//! * `shared` (25): a producer process sends 0..9 and then one end marker per consumer; two
//!   consumers share the receiving end under a `Lock`. The messages are `Option<u32>` and the
//!   marker is `None`, so the value 0 is not mistaken for it (the tutorial's `None` marker
//!   tested with `if not item` stopped at 0). Every value is received exactly once.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, check, say};
use procpool::{
    Connection, Lock, Pipe, Process, Queue, RecvOnly, RecvTimeoutError, SendOnly, StartMethod,
    current_process,
};
use serde::{Deserialize, Serialize};

const USAGE: &str = "\
pipes [duplex|messages|eof|shared] [options]

Scenarios 22-25: pipes.
  duplex     a duplex pipe between a producer and a consumer process; a one-way pipe (22)
  messages   structured messages: a list, a map, a set (23)
  eof        receive until end of file; why every copy of the sending end matters (24)
  shared     two consumers share one receiving end under a Lock, Option end markers (25)
Without a part, runs all four, each as a fresh program.";

const PARTS: [(&str, &str); 4] = [
    (
        "duplex",
        "a duplex pipe between two processes (scenario 22)",
    ),
    ("messages", "structured messages (scenario 23)"),
    ("eof", "end of file (scenario 24)"),
    ("shared", "two consumers on one pipe (scenario 25)"),
];

type TargetResult = Result<(), Box<dyn std::error::Error>>;

// ---------------------------------------------------------------------------------------------
// 22: duplex

fn producer(conn: Connection) -> TargetResult {
    let words: String = conn.recv()?;
    say!("Producer Received: {words}");
    conn.send("Producer Words")?;
    Ok(())
}

fn consumer(conn: Connection) -> TargetResult {
    conn.send("Consumer Words")?;
    let words: String = conn.recv()?;
    say!("Consumer Received: {words}");
    Ok(())
}

fn one_way_sender(tx: Connection<SendOnly>) -> TargetResult {
    tx.send("hello through a one-way pipe")?;
    Ok(())
}

fn part_duplex() -> DemoResult {
    let (left, right) = Pipe::new()?;
    let mut p = Process::new(producer, left).with_name("Producer");
    let mut c = Process::new(consumer, right).with_name("Consumer");
    p.start()?;
    c.start()?;
    for child in [&p, &c] {
        check(child.join()? == 0, format!("{child} failed"))?;
    }

    let (rx, tx) = Pipe::one_way()?; // Python: Pipe(duplex=False)
    let mut s = Process::new(one_way_sender, tx);
    s.start()?;
    let got: String = rx.recv()?;
    s.join()?;
    say!("Pipe::one_way(): the child sent on the send-only end, the parent received {got:?}");
    say!("(a receive-only end has no `send` method: that mistake does not compile)");
    say!("Main process ended");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 23: structured messages

/// An element of a Python-like heterogeneous list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
enum Obj {
    Str(String),
    Int(i64),
}

impl fmt::Display for Obj {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Obj::Str(s) => write!(f, "{s:?}"),
            Obj::Int(i) => write!(f, "{i}"),
        }
    }
}

fn send_list(tx: Connection<SendOnly>) -> TargetResult {
    let list = vec![
        Obj::Str("spam".into()),
        Obj::Int(42),
        Obj::Str("egg".into()),
    ];
    tx.send(&list)?;
    tx.close();
    Ok(())
}

fn send_map_and_wait(conn: Connection) -> TargetResult {
    let map = BTreeMap::from([
        ("name".to_string(), Obj::Str("Bob".into())),
        ("spam".to_string(), Obj::Int(42)),
    ]);
    conn.send(&map)?;
    let reply: BTreeSet<String> = conn.recv()?;
    say!("child got: {reply:?}");
    Ok(())
}

fn part_messages() -> DemoResult {
    let (rx, tx) = Pipe::one_way()?;
    let mut p = Process::new(send_list, tx);
    p.start()?;
    let list: Vec<Obj> = rx.recv()?;
    let shown: Vec<String> = list.iter().map(Obj::to_string).collect();
    say!("parent got: [{}]", shown.join(", "));
    match rx.recv::<Vec<Obj>>() {
        Err(e) if e.is_eof() => say!("then end of file: the child closed its end"),
        other => return Err(format!("expected end of file, got {other:?}").into()),
    }
    p.join()?;

    let (mine, theirs) = Pipe::new()?;
    let mut q = Process::new(send_map_and_wait, theirs);
    q.start()?;
    let map: BTreeMap<String, Obj> = mine.recv()?;
    let shown: Vec<String> = map.iter().map(|(k, v)| format!("{k:?}: {v}")).collect();
    say!("parent got: {{{}}}", shown.join(", "));
    check(
        map.get("name") == Some(&Obj::Str("Bob".into())) && map.get("spam") == Some(&Obj::Int(42)),
        "the map arrives whole",
    )?;
    mine.send(&BTreeSet::from(["spam", "egg"]))?;
    check(q.join()? == 0, format!("{q} failed"))?;
    say!("parent exit");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 24: end of file

fn consume_until_eof((rx, patience): (Connection<RecvOnly>, Option<Duration>)) -> TargetResult {
    let mut got = Vec::new();
    loop {
        let msg = match patience {
            None => rx.recv::<u32>().map_err(RecvTimeoutError::from),
            Some(p) => rx.recv_timeout::<u32>(p),
        };
        match msg {
            Ok(v) => {
                say!("consumer got {v}");
                got.push(v);
            }
            Err(RecvTimeoutError::Recv(e)) if e.is_eof() => {
                say!("consumer: end of file after {} values", got.len());
                return Ok(());
            }
            Err(RecvTimeoutError::Timeout) => {
                let why = if current_process().start_method() == Some(StartMethod::Fork) {
                    "this child inherited a copy of the sending end through fork, and that copy \
                     is still open"
                } else {
                    "some process still holds a copy of the sending end"
                };
                say!(
                    "consumer: no end of file after {} values and {:.2} s of silence: {why}",
                    got.len(),
                    patience.unwrap_or_default().as_secs_f64()
                );
                return Ok(());
            }
            Err(e) => return Err(e.into()),
        }
    }
}

fn part_eof(opts: &Opts) -> DemoResult {
    say!("--- the right pattern: send, then shutdown_send() ---");
    let (rx, tx) = Pipe::one_way()?;
    // The receiving end is moved into the consumer: the parent's copy is closed at `start`.
    let mut c = Process::new(consume_until_eof, (rx, None));
    c.start()?;
    for i in 0..10u32 {
        tx.send(&i)?;
    }
    // End of file for the consumer, whoever still holds a copy of `tx`.
    tx.shutdown_send()?;
    drop(tx);
    check(c.join()? == 0, format!("{c} failed"))?;
    say!("consumer ended: {c}");

    say!("--- only dropping the sending end (the tutorial's mistake, in procpool's terms) ---");
    let (rx, tx) = Pipe::one_way()?;
    let mut c = Process::new(consume_until_eof, (rx, Some(opts.dur(1.0))));
    c.start()?;
    for i in 0..3u32 {
        tx.send(&i)?;
    }
    drop(tx);
    check(c.join()? == 0, format!("{c} failed"))?;
    say!("(under fork a child holds a copy of every descriptor its parent had: end a stream");
    say!(" with shutdown_send(), or the consumer never sees end of file)");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 25: two consumers on one pipe

fn produce((tx, consumers): (Connection<SendOnly>, u32)) -> TargetResult {
    for i in 0..10u32 {
        tx.send(&Some(i))?;
    }
    for _ in 0..consumers {
        tx.send(&None::<u32>)?; // one end marker per consumer
    }
    Ok(())
}

fn consume_shared(
    (rx, lock, got, pause): (Connection<RecvOnly>, Lock, Queue<u32>, Duration),
) -> TargetResult {
    let me = current_process().name().to_owned();
    loop {
        // Take turns: two processes must not read parts of each other's messages.
        let msg = {
            let _turn = lock.acquire();
            rx.recv::<Option<u32>>()?
        };
        match msg {
            Some(v) => {
                say!("{me} got {v}");
                got.put(v)?;
                std::thread::sleep(pause); // the work, outside the lock
            }
            None => {
                say!("{me} got the end marker");
                return Ok(());
            }
        }
    }
}

fn part_shared(opts: &Opts) -> DemoResult {
    let (rx, tx) = Pipe::one_way()?;
    let lock = Lock::new()?;
    let got = Queue::<u32>::unbounded()?;
    let mut consumers = Vec::new();
    for i in 1..=2 {
        let mut c = Process::new(
            consume_shared,
            (rx.try_clone()?, lock.clone(), got.clone(), opts.dur(0.1)),
        )
        .with_name(format!("consumer-{i}"));
        c.start()?;
        consumers.push(c);
    }
    drop(rx); // the consumers have their copies
    let mut p = Process::new(produce, (tx, 2)).with_name("producer");
    p.start()?;
    for child in consumers.iter().chain([&p]) {
        check(child.join()? == 0, format!("{child} failed"))?;
    }
    let mut values = Vec::new();
    while let Ok(v) = got.get_timeout(Duration::ZERO) {
        values.push(v);
    }
    values.sort_unstable();
    say!("----------");
    say!("received: {values:?}");
    check(
        values == (0..10).collect::<Vec<u32>>(),
        "every value 0..9 must be received exactly once",
    )?;
    say!("every value received exactly once (0 included: the end marker is None, not 0)");
    Ok(())
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    let names = PARTS.map(|(n, _)| n);
    match opts.part(&names).as_deref() {
        None => opts.run_parts(&PARTS),
        Some("duplex") => demos::run(part_duplex),
        Some("messages") => demos::run(part_messages),
        Some("eof") => demos::run(|| part_eof(&opts)),
        Some(_) => demos::run(|| part_shared(&opts)),
    }
}
