//! Scenario 19 (C. Queues): two writers and one reader on a queue.
//!
//! Two writer processes put `url_1..url_3` and `url_4..url_6` with random short sleeps,
//! printing `Put url_k to queue...`; a reader process loops for ever printing
//! `Get url_k from queue.`. The parent joins the writers and then terminates the reader.
//!
//! The tutorial terminated the reader right after joining the writers, which can kill it
//! before it has read the last urls. Here the queue is a [`JoinableQueue`]: the reader marks
//! each url done after printing it, and the parent waits for that (`join`) before it
//! terminates the reader, so all six urls are always read.

use std::process::ExitCode;
use std::time::Duration;

use demos::{DemoResult, Opts, Rng, check, say, scaled};
use procpool::{JoinableQueue, Process};

const USAGE: &str = "\
queue_readers [options]

Scenario 19: two writer processes put url_1..url_3 and url_4..url_6 into a queue (random
short sleeps); a reader process gets them in an endless loop. The parent joins the writers,
waits until every url has been read, and terminates the reader. All six urls are read.
Works under every start method (--method).";

fn writer((q, urls, mut rng, fast): (JoinableQueue<String>, Vec<String>, Rng, bool)) {
    for url in urls {
        say!("Put {url} to queue...");
        if q.put(url).is_err() {
            return;
        }
        std::thread::sleep(scaled(rng.f64(), fast));
    }
}

fn reader(q: JoinableQueue<String>) -> std::convert::Infallible {
    loop {
        match q.get() {
            Ok(url) => say!("Get {url} from queue."),
            Err(e) => say!("reader: {e}"),
        }
        let _ = q.task_done();
    }
}

fn body(opts: &Opts) -> DemoResult {
    let q = JoinableQueue::<String>::new(0)?;
    let urls = |r: std::ops::RangeInclusive<u32>| r.map(|k| format!("url_{k}")).collect::<Vec<_>>();
    let mut writers = Vec::new();
    for (i, batch) in [urls(1..=3), urls(4..=6)].into_iter().enumerate() {
        let rng = Rng::for_child(opts.seed, i as u64);
        let mut p = Process::new(writer, (q.clone(), batch, rng, opts.fast));
        p.start()?;
        writers.push(p);
    }
    let mut r = Process::new(reader, q.clone()).with_name("reader");
    r.start()?;
    for w in &writers {
        check(w.join()? == 0, format!("{w} failed"))?;
    }
    // Every url put has been read (and printed) once the queue is joined.
    let all_read = q.join_timeout(Duration::from_secs(30)).is_ok();
    r.terminate()?;
    r.join()?;
    say!("----------");
    say!("writers joined, every url read, reader terminated: {r}");
    check(all_read, "the reader did not read every url within 30 s")
}

fn main() -> ExitCode {
    let opts = Opts::parse(USAGE);
    demos::run(|| body(&opts))
}
