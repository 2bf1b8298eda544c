//! Rough pool throughput probe (the benchmark harness in `benches/` is the real measurement).
use std::time::Instant;

fn triv(x: u64) -> u64 {
    x + 1
}

fn count(n: i64) -> i64 {
    let mut i = n;
    while i > -n {
        i = std::hint::black_box(i - 1);
    }
    i
}

fn cpu() {
    let total = 20_000i64;
    let t0 = Instant::now();
    for n in 0..total {
        std::hint::black_box(count(std::hint::black_box(n)));
    }
    let seq = t0.elapsed();
    let t1 = Instant::now();
    let pool = procpool::Pool::new(10).unwrap();
    let t2 = Instant::now();
    let cs: usize = std::env::var("CS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let out = if cs > 0 {
        pool.map_chunked(count, 0..total, cs).unwrap()
    } else {
        pool.map(count, 0..total).unwrap()
    };
    let t3 = Instant::now();
    pool.terminate();
    pool.join().unwrap();
    let t4 = Instant::now();
    std::hint::black_box(out);
    println!(
        "cpu: sequential {:?}; pool create {:?}, map {:?}, terminate+join {:?}; speedup {:.2}",
        seq,
        t2 - t1,
        t3 - t2,
        t4 - t3,
        seq.as_secs_f64() / (t4 - t1).as_secs_f64()
    );
}

fn main() {
    if std::env::args().any(|a| a == "--cpu") {
        cpu();
        return;
    }
    let pool = procpool::Pool::new(2).unwrap();
    pool.map(triv, 0..1000).unwrap();
    if std::env::args().any(|a| a == "--mapdefault") {
        let t = Instant::now();
        for _ in 0..20 {
            pool.map(triv, 0..100_000u64).unwrap();
        }
        println!(
            "map default: {:.0} tasks/s",
            2_000_000.0 / t.elapsed().as_secs_f64()
        );
        return;
    }
    if std::env::args().any(|a| a == "--chunk1") {
        let t = Instant::now();
        pool.map_chunked(triv, 0..200_000u64, 1).unwrap();
        println!(
            "map chunk 1: {:.0} tasks/s",
            200_000.0 / t.elapsed().as_secs_f64()
        );
        return;
    }
    if std::env::args().any(|a| a == "--serial") {
        let t = Instant::now();
        for i in 0..5000 {
            pool.apply(triv, i).unwrap();
        }
        println!(
            "apply serial: {:.1} us/roundtrip",
            t.elapsed().as_secs_f64() * 1e6 / 5000.0
        );
        return;
    }
    for chunk in [None, Some(1)] {
        let n = 100_000u64;
        let t = Instant::now();
        let r = match chunk {
            None => pool.map(triv, 0..n).unwrap(),
            Some(c) => pool.map_chunked(triv, 0..n, c).unwrap(),
        };
        assert_eq!(r.len() as u64, n);
        println!(
            "map chunk {chunk:?}: {:.0} tasks/s",
            n as f64 / t.elapsed().as_secs_f64()
        );
    }
    let t = Instant::now();
    let rs: Vec<_> = (0..10_000)
        .map(|i| pool.apply_async(triv, i).unwrap())
        .collect();
    for r in rs {
        r.get().unwrap();
    }
    println!(
        "apply_async pipelined: {:.0} tasks/s",
        10_000.0 / t.elapsed().as_secs_f64()
    );
    let t = Instant::now();
    for i in 0..2000 {
        pool.apply(triv, i).unwrap();
    }
    println!(
        "apply serial: {:.1} us/roundtrip",
        t.elapsed().as_secs_f64() * 1e6 / 2000.0
    );
}
