//! Queue tests with real processes.

use std::collections::BTreeMap;
use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::*;
use crate::ByteBuf;
use crate::sys::testfork::{fork_child, with_watchdog};

const T: Duration = Duration::from_secs(30);

#[test]
fn api_and_timeouts() {
    let q = Queue::<u32>::new(1).unwrap();
    assert!(q.empty());
    assert!(!q.full());
    assert_eq!(q.maxsize(), 1);
    let start = Instant::now();
    assert!(
        q.get_timeout(Duration::from_millis(30))
            .unwrap_err()
            .is_empty()
    );
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(q.try_get(), Err(GetError::Empty));
    q.put(7).unwrap();
    assert!(q.full());
    assert_eq!(q.qsize(), 1);
    let start = Instant::now();
    match q.put_timeout(8, Duration::from_millis(30)) {
        Err(PutError::Full(8)) => {}
        other => panic!("expected Full(8), got {other:?}"),
    }
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(q.put_nowait(9).unwrap_err().into_inner(), 9);
    assert_eq!(q.get_nowait(), Ok(7));
    assert!(q.put_deadline(10, Instant::now() + T).is_ok());
    assert_eq!(q.get_deadline(Instant::now() + T), Ok(10));
}

#[test]
fn closed_handle_refuses_but_others_go_on() {
    let q = Queue::<String>::new(0).unwrap();
    let other = q.clone();
    q.put("kept".into()).unwrap();
    q.close();
    assert!(q.is_closed());
    assert!(q.put("x".into()).unwrap_err().is_closed());
    assert_eq!(q.get(), Err(GetError::Closed));
    assert!(!other.is_closed());
    assert_eq!(other.get().unwrap(), "kept");
}

#[test]
fn failed_encode_leaves_queue_usable() {
    #[derive(Debug)]
    struct Bad(bool);
    impl Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            if self.0 {
                Err(serde::ser::Error::custom("nope"))
            } else {
                s.serialize_u8(1)
            }
        }
    }
    impl<'de> Deserialize<'de> for Bad {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            u8::deserialize(d).map(|_| Bad(false))
        }
    }
    let q = Queue::<Bad>::new(0).unwrap();
    match q.put(Bad(true)) {
        Err(PutError::Encode(e, item)) => {
            assert_eq!(e.kind(), crate::codec::EncodeErrorKind::Serialize);
            assert!(item.0);
        }
        other => panic!("{other:?}"),
    }
    assert!(q.empty());
    q.put(Bad(false)).unwrap();
    assert!(!q.get().unwrap().0);
}

#[test]
fn a_queue_is_not_a_message() {
    let q = Queue::<Queue<u8>>::new(0).unwrap();
    let inner = Queue::<u8>::new(0).unwrap();
    match q.put(inner) {
        Err(PutError::Encode(e, _)) => {
            assert_eq!(e.kind(), crate::codec::EncodeErrorKind::NotTransferable)
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn decode_error_loses_only_that_item() {
    let q = Queue::<String>::new(0).unwrap();
    // Same ring, another item type: a peer that put something else.
    let raw: Queue<Vec<u32>> = Queue::from_ring(q.ring().clone());
    raw.put(vec![u32::MAX; 3]).unwrap();
    q.put("ok".into()).unwrap();
    assert!(matches!(q.get(), Err(GetError::Decode(_))));
    assert_eq!(q.get().unwrap(), "ok");
}

#[test]
fn fifo_from_parent_and_child() {
    with_watchdog(T, || {
        let q = Queue::<u32>::new(0).unwrap();
        for i in 0..10 {
            q.put(i).unwrap();
        }
        let mut c = fork_child(|| {
            for i in 10..20 {
                q.put(i).unwrap();
            }
            0
        });
        assert_eq!(c.wait(T), 0);
        let got: Vec<u32> = (0..20).map(|_| q.get_timeout(T).unwrap()).collect();
        assert_eq!(got, (0..20).collect::<Vec<_>>());
        assert!(q.empty());
    });
}

#[test]
fn put_then_exit_loses_nothing() {
    with_watchdog(T, || {
        let q = Queue::<String>::new(0).unwrap();
        let mut c = fork_child(|| {
            q.put("last words".into()).unwrap();
            0 // _exit at once: no feeder thread to flush
        });
        assert_eq!(c.wait(T), 0);
        assert_eq!(q.get_timeout(T).unwrap(), "last words");
    });
}

#[test]
fn many_producers_many_consumers_exactly_once() {
    with_watchdog(Duration::from_secs(120), || {
        const P: u32 = 8;
        const C: u32 = 8;
        const N: u32 = 10_000;
        let q = Queue::<Option<(u32, u32)>>::new(1000).unwrap();
        let results = Queue::<Vec<(u32, u32)>>::new(0).unwrap();
        let mut kids = Vec::new();
        for _ in 0..C {
            kids.push(fork_child(|| {
                let mut got = Vec::new();
                let mut last: BTreeMap<u32, u32> = BTreeMap::new();
                while let Some((p, i)) = q.get_timeout(T).unwrap() {
                    // FIFO per producer, as seen by each consumer.
                    if let Some(prev) = last.insert(p, i) {
                        assert!(prev < i, "producer {p}: {i} after {prev}");
                    }
                    got.push((p, i));
                }
                results.put(got).unwrap();
                0
            }));
        }
        for p in 0..P {
            kids.push(fork_child(|| {
                for i in 0..N {
                    q.put(Some((p, i))).unwrap();
                }
                0
            }));
        }
        for k in kids.iter_mut().skip(C as usize) {
            assert_eq!(k.wait(T), 0);
        }
        for _ in 0..C {
            q.put(None).unwrap();
        }
        let mut all: Vec<(u32, u32)> = Vec::new();
        for _ in 0..C {
            all.extend(results.get_timeout(T).unwrap());
        }
        for k in kids.iter_mut().take(C as usize) {
            assert_eq!(k.wait(T), 0);
        }
        all.sort_unstable();
        let want: Vec<(u32, u32)> = (0..P).flat_map(|p| (0..N).map(move |i| (p, i))).collect();
        assert_eq!(all.len(), want.len());
        assert!(all == want, "items lost or duplicated");
        assert!(q.empty());
    });
}

fn pattern(len: usize, seed: u8) -> ByteBuf {
    ByteBuf::from(
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect::<Vec<_>>(),
    )
}

#[test]
fn message_sizes_across_processes() {
    with_watchdog(Duration::from_secs(120), || {
        let cap = 64 * 1024;
        let q: Queue<ByteBuf> = Queue::builder().capacity(cap).build().unwrap();
        // Encoded size = varint length prefix + bytes; cover chunk sizes around the ring size.
        let sizes = [
            0,
            1,
            7,
            8,
            cap - 40,
            cap - 17,
            cap - 16,
            cap - 15,
            cap,
            cap + 1,
            3 * cap + 5,
            64 << 20,
        ];
        let mut c = fork_child(|| {
            for (k, &n) in sizes.iter().enumerate() {
                q.put(pattern(n, k as u8)).unwrap();
            }
            0
        });
        for (k, &n) in sizes.iter().enumerate() {
            let got = q.get_timeout(T).unwrap();
            assert_eq!(got.len(), n, "size {n}");
            assert!(got == pattern(n, k as u8), "content of size {n}");
        }
        assert_eq!(c.wait(T), 0);
        assert!(q.empty());
    });
}

#[test]
fn smallest_ring_streams_large_messages() {
    with_watchdog(Duration::from_secs(60), || {
        // 4 KiB is the smallest ring; a message larger than it must stream through it
        // (a 4 KiB stream chunk plus its header never fit, and `put` waited forever).
        let q: Queue<ByteBuf> = Queue::builder().capacity(4096).build().unwrap();
        let mut child = fork_child(|| {
            for seed in 0..4u8 {
                q.put(pattern(4096 * usize::from(seed + 1) + 3, seed))
                    .unwrap();
            }
            0
        });
        for seed in 0..4u8 {
            let got = q.get_timeout(T).unwrap();
            assert!(got == pattern(4096 * usize::from(seed + 1) + 3, seed));
        }
        assert_eq!(child.wait(T), 0);
    });
}

/// A 64 KiB-ring queue whose producer was SIGKILLed while streaming a 1 MiB message (it
/// blocks mid-stream: nobody reads yet and the message is 16x the ring).
fn queue_with_dead_streaming_producer() -> Queue<ByteBuf> {
    let q: Queue<ByteBuf> = Queue::builder().capacity(64 * 1024).build().unwrap();
    let mut c = fork_child(|| {
        q.put(pattern(1 << 20, 1)).unwrap();
        0
    });
    // Wait until the child is streaming (bytes in flight).
    let start = Instant::now();
    while q.ring().bytes_in_flight() == 0 {
        assert!(start.elapsed() < T);
        std::thread::sleep(Duration::from_millis(1));
    }
    c.kill();
    assert_eq!(c.wait(T), -9);
    q
}

#[test]
fn producer_killed_mid_stream_does_not_wedge() {
    with_watchdog(T, || {
        let q = queue_with_dead_streaming_producer();
        // The reader must discard the partial message (after repairing the dead writer's
        // lock) and deliver the next one intact.
        let q2 = q.clone();
        let h = std::thread::spawn(move || q2.get_timeout(T));
        q.put(pattern(1000, 2)).unwrap();
        let got = h.join().unwrap().unwrap();
        assert!(got == pattern(1000, 2));
        assert!(q.empty());
        // And the queue keeps working both ways.
        q.put(pattern(5, 3)).unwrap();
        assert!(q.get().unwrap() == pattern(5, 3));
    });
}

#[test]
fn producer_killed_mid_stream_repaired_by_next_producer() {
    with_watchdog(T, || {
        let q = queue_with_dead_streaming_producer();
        // No reader yet: the next producer takes the writer lock over and aborts the message.
        let q2 = q.clone();
        let producer = std::thread::spawn(move || q2.put(pattern(70_000, 4)));
        let got = q.get_timeout(T).unwrap();
        assert!(got == pattern(70_000, 4));
        producer.join().unwrap().unwrap();
        assert_eq!(q.qsize(), 0);
    });
}

#[test]
fn consumer_killed_mid_get_does_not_wedge() {
    with_watchdog(T, || {
        let q: Queue<ByteBuf> = Queue::builder().capacity(64 * 1024).build().unwrap();
        let lost = pattern(4 << 20, 5);
        let mut c = fork_child(|| {
            // Reads the big message slowly: take one get; the ring is tiny so it streams.
            let _ = q.get();
            0
        });
        let q2 = q.clone();
        let producer = std::thread::spawn(move || {
            q2.put(lost).unwrap();
            q2.put(pattern(100, 6)).unwrap();
        });
        // Kill the consumer while it is streaming.
        let start = Instant::now();
        while q.ring().bytes_in_flight() == 0 {
            assert!(start.elapsed() < T);
            std::thread::sleep(Duration::from_micros(100));
        }
        c.kill();
        let _ = c.wait(T);
        // The survivor skips whatever remains of the half-read message (or gets it whole if
        // the child died before reading any of it) and then gets the next one intact.
        let first = q.get_timeout(T).unwrap();
        let next = if first.len() == 4 << 20 {
            q.get_timeout(T).unwrap()
        } else {
            first
        };
        assert!(next == pattern(100, 6));
        producer.join().unwrap();
        assert!(q.empty());
    });
}

#[test]
fn unbounded_queue_holds_256_mib_and_gives_memory_back() {
    with_watchdog(Duration::from_secs(120), || {
        let q = Queue::<ByteBuf>::unbounded().unwrap();
        let mb = pattern(1 << 20, 7);
        for _ in 0..256 {
            q.try_put(mb.clone()).unwrap(); // never blocks: no consumer yet
        }
        assert_eq!(q.qsize(), 256);
        let blocks = |q: &Queue<ByteBuf>| {
            let st = nix::sys::stat::fstat(q.ring().shm_fd()).unwrap();
            st.st_blocks as u64 * 512
        };
        assert!(blocks(&q) >= 256 << 20);
        for _ in 0..256 {
            assert!(q.get().unwrap() == mb);
        }
        // The next put finds the ring empty far from the start: it restarts and trims.
        q.put(pattern(10, 8)).unwrap();
        assert!(q.get().unwrap() == pattern(10, 8));
        let after = blocks(&q);
        assert!(
            after < 16 << 20,
            "{after} bytes still allocated after draining"
        );
    });
}

#[test]
fn joinable_queue_with_four_consumers() {
    with_watchdog(T, || {
        let q = JoinableQueue::<u32>::new(0).unwrap();
        let done = Queue::<u32>::new(0).unwrap();
        let mut kids: Vec<_> = (0..4)
            .map(|_| {
                fork_child(|| {
                    while let Ok(v) = q.get() {
                        if v == u32::MAX {
                            q.task_done().unwrap();
                            break;
                        }
                        done.put(v).unwrap();
                        q.task_done().unwrap();
                    }
                    0
                })
            })
            .collect();
        for i in 0..1000 {
            q.put(i).unwrap();
        }
        q.join_timeout(T).unwrap();
        assert_eq!(q.unfinished_tasks(), 0);
        assert_eq!(done.qsize(), 1000);
        for _ in 0..4 {
            q.put(u32::MAX).unwrap();
        }
        q.join_timeout(T).unwrap();
        for k in &mut kids {
            assert_eq!(k.wait(T), 0);
        }
        assert_eq!(q.task_done(), Err(TaskDoneError));
        let start = Instant::now();
        q.put(1).unwrap();
        assert!(q.join_timeout(Duration::from_millis(20)).is_err());
        assert!(start.elapsed() >= Duration::from_millis(20));
    });
}

#[test]
fn simple_queue() {
    let q = SimpleQueue::<(String, i64)>::new().unwrap();
    assert!(q.empty());
    q.put(("a".into(), -1)).unwrap();
    assert_eq!(q.get().unwrap(), ("a".to_string(), -1));
    q.close();
    assert!(q.put(("b".into(), 2)).unwrap_err().is_closed());
}

#[test]
fn anonymous_queues_leave_nothing_in_dev_shm() {
    let before: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.flatten().count())
        .into_iter()
        .collect();
    for _ in 0..50 {
        let q = Queue::<u8>::new(0).unwrap();
        q.put(1).unwrap();
    }
    let after: Vec<_> = std::fs::read_dir("/dev/shm")
        .map(|d| d.flatten().count())
        .into_iter()
        .collect();
    assert_eq!(before, after);
    let _ = std::io::stdout().as_fd();
}

/// Rough throughput figures (run with `--release --ignored --nocapture`); the benchmark
/// harness in `benches/` is the real measurement.
#[test]
#[ignore]
fn speed_probe() {
    let q = Queue::<u64>::new(0).unwrap();
    let n = 200_000u64;
    let start = Instant::now();
    let mut c = fork_child(|| {
        for i in 0..n {
            q.put(i).unwrap();
        }
        0
    });
    let mut sum = 0;
    for _ in 0..n {
        sum += q.get().unwrap();
    }
    let el = start.elapsed();
    assert_eq!(c.wait(T), 0);
    assert_eq!(sum, n * (n - 1) / 2);
    println!("queue_small: {:.0} items/s", n as f64 / el.as_secs_f64());
    let q = Queue::<ByteBuf>::new(0).unwrap();
    let n = 10_000;
    let item = pattern(64 * 1024, 1);
    let start = Instant::now();
    let mut c = fork_child(|| {
        for _ in 0..n {
            q.put(item.clone()).unwrap();
        }
        0
    });
    for _ in 0..n {
        assert_eq!(q.get().unwrap().len(), 64 * 1024);
    }
    let el = start.elapsed();
    assert_eq!(c.wait(T), 0);
    println!(
        "queue_64k: {:.0} MB/s",
        (n * 64 * 1024) as f64 / el.as_secs_f64() / 1e6
    );
}
