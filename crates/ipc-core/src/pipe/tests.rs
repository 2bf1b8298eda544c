//! Pipe tests with real processes (forked with `sys::testfork`), each under a watchdog.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::frame::{self, HEADER_LEN, Head, MIN_FRAME};
use super::*;
use crate::codec::{DecodeErrorKind, EncodeErrorKind};
use crate::sys::fd as sysfd;
use crate::sys::testfork::{fork_child, with_watchdog};

const LIMIT: Duration = Duration::from_secs(60);
const CHILD: Duration = Duration::from_secs(30);

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i.wrapping_mul(7) % 251) as u8).collect()
}

/// Exit code 0 if `ok`, 1 otherwise (children report through their exit code).
fn code(ok: bool) -> i32 {
    if ok { 0 } else { 1 }
}

#[test]
fn connections_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Connection<Duplex>>();
    check::<Connection<RecvOnly>>();
    check::<Connection<SendOnly>>();
}

// Scenario 22: a consumer and a producer process, one end each.
#[test]
fn duplex_ping_pong_between_processes() {
    with_watchdog(LIMIT, || {
        let (consumer_end, producer_end) = Pipe::new().unwrap();
        let mut consumer = fork_child(|| {
            consumer_end.send("Consumer Words").unwrap();
            let got: String = consumer_end.recv().unwrap();
            code(got == "Producer Words")
        });
        let mut producer = fork_child(|| {
            let got: String = producer_end.recv().unwrap();
            producer_end.send("Producer Words").unwrap();
            code(got == "Consumer Words")
        });
        drop((consumer_end, producer_end));
        assert_eq!(consumer.wait(CHILD), 0);
        assert_eq!(producer.wait(CHILD), 0);
    });
}

#[test]
fn one_way_pipe_carries_messages_in_its_direction() {
    let (rx, tx) = Pipe::one_way().unwrap();
    tx.send(&(1u8, "two")).unwrap();
    let (a, b): (u8, String) = rx.recv().unwrap();
    assert_eq!((a, b.as_str()), (1, "two"));
    let dbg = format!("{rx:?} {tx:?}");
    assert!(
        dbg.contains("receive-only") && dbg.contains("send-only"),
        "{dbg}"
    );
    assert_eq!(rx.fileno(), rx.as_fd().as_raw_fd());
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum Item {
    Text(String),
    Number(i64),
}

// Scenario 23: a list, then a map and a set in reply, over pipes between processes.
#[test]
fn structured_messages_between_processes() {
    with_watchdog(LIMIT, || {
        let (parent, child_end) = Pipe::new().unwrap();
        let mut child = fork_child(|| {
            let list = vec![
                Item::Text("spam".into()),
                Item::Number(42),
                Item::Text("egg".into()),
            ];
            child_end.send(&list).unwrap();
            child_end.close();
            0
        });
        // `child_end` moved into the closure (for `close`), so the parent's copy is gone.
        let got: Vec<Item> = parent.recv().unwrap();
        assert_eq!(got[1], Item::Number(42));
        assert!(parent.recv::<Vec<Item>>().unwrap_err().is_eof());
        assert_eq!(child.wait(CHILD), 0);

        let (parent, child_end) = Pipe::new().unwrap();
        let mut child = fork_child(|| {
            let map = BTreeMap::from([
                ("name".to_string(), Item::Text("Bob".into())),
                ("spam".to_string(), Item::Number(42)),
            ]);
            child_end.send(&map).unwrap();
            let set: BTreeSet<String> = child_end.recv().unwrap();
            code(set == BTreeSet::from(["a".to_string(), "b".to_string()]))
        });
        let map: BTreeMap<String, Item> = parent.recv().unwrap();
        assert_eq!(map["name"], Item::Text("Bob".into()));
        parent.send(&BTreeSet::from(["b", "a"])).unwrap();
        assert_eq!(child.wait(CHILD), 0);
    });
}

// Scenario 24: the consumer closes the end it does not use, so end of file arrives.
#[test]
fn eof_arrives_when_the_last_copy_closes() {
    with_watchdog(LIMIT, || {
        let (rx, tx) = Pipe::one_way().unwrap();
        let tx = RefCell::new(Some(tx));
        let mut child = fork_child(|| {
            drop(tx.borrow_mut().take()); // the consumer's inherited copy of the sending end
            let got: Result<Vec<u32>, _> = rx.iter().collect();
            code(got.unwrap() == (0..10).collect::<Vec<_>>())
        });
        drop(rx);
        let tx = tx.into_inner().unwrap();
        for i in 0..10u32 {
            tx.send(&i).unwrap();
        }
        tx.close();
        assert_eq!(child.wait(CHILD), 0);
    });
}

// While the receiving process itself keeps a copy of the sending end, there is no end of file:
// poll with a timeout says so (no hang), and closing the copy brings end of file.
#[test]
fn a_kept_copy_of_the_sender_delays_eof_without_hanging() {
    with_watchdog(LIMIT, || {
        let (rx, tx) = Pipe::one_way().unwrap();
        let mut child = fork_child(|| {
            for i in 0..3u32 {
                tx.send(&i).unwrap();
            }
            0
        });
        assert_eq!(child.wait(CHILD), 0); // the child's copy is closed now
        for i in 0..3u32 {
            assert_eq!(rx.recv::<u32>().unwrap(), i);
        }
        let t = Duration::from_millis(50);
        let start = Instant::now();
        assert!(
            !rx.poll_timeout(t).unwrap(),
            "our own copy keeps the pipe open"
        );
        assert!(start.elapsed() >= t);
        drop(tx);
        assert!(rx.poll_timeout(CHILD).unwrap());
        assert!(rx.recv::<u32>().unwrap_err().is_eof());
        assert!(
            rx.recv::<u32>().unwrap_err().is_eof(),
            "end of file is sticky"
        );
    });
}

// The remedy for a forgotten copy: the producer shuts the stream down for every copy.
#[test]
fn shutdown_send_ends_the_stream_despite_stray_copies() {
    with_watchdog(LIMIT, || {
        for duplex in [false, true] {
            let (rx, tx) = if duplex {
                let (a, b) = Pipe::new().unwrap();
                (Endpoint::D(a), Endpoint::D(b))
            } else {
                let (r, w) = Pipe::one_way().unwrap();
                (Endpoint::R(r), Endpoint::S(w))
            };
            // The child keeps its inherited copy of the sending end (the classic mistake).
            let mut child = fork_child(|| {
                let mut n = 0u32;
                loop {
                    match rx.recv::<u32>() {
                        Ok(v) if v == n => n += 1,
                        Err(RecvError::Eof) => return code(n == 10),
                        _ => return 2,
                    }
                }
            });
            for i in 0..10u32 {
                tx.send(&i).unwrap();
            }
            tx.shutdown_send().unwrap();
            tx.shutdown_send().unwrap(); // idempotent
            assert!(matches!(tx.send(&0u32), Err(SendError::Closed)));
            assert_eq!(child.wait(CHILD), 0);
        }
    });
}

/// Either kind of end, to run one test over both pipe kinds.
enum Endpoint {
    D(Connection<Duplex>),
    R(Connection<RecvOnly>),
    S(Connection<SendOnly>),
}

impl Endpoint {
    fn send<T: Serialize>(&self, v: &T) -> Result<(), SendError> {
        match self {
            Endpoint::D(c) => c.send(v),
            Endpoint::S(c) => c.send(v),
            Endpoint::R(_) => unreachable!(),
        }
    }
    fn shutdown_send(&self) -> Result<(), SendError> {
        match self {
            Endpoint::D(c) => c.shutdown_send(),
            Endpoint::S(c) => c.shutdown_send(),
            Endpoint::R(_) => unreachable!(),
        }
    }
    fn recv<T: serde::de::DeserializeOwned>(&self) -> Result<T, RecvError> {
        match self {
            Endpoint::D(c) => c.recv(),
            Endpoint::R(c) => c.recv(),
            Endpoint::S(_) => unreachable!(),
        }
    }
}

#[test]
fn empty_messages_are_messages() {
    let (a, b) = Pipe::new().unwrap();
    a.send_bytes(&[]).unwrap();
    a.send(&()).unwrap();
    a.send("").unwrap();
    a.send_bytes(&[]).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), Vec::<u8>::new());
    b.recv::<()>().unwrap();
    assert_eq!(b.recv::<String>().unwrap(), "");
    let mut buf = [9u8; 4];
    assert_eq!(b.recv_bytes_into(&mut buf, 4).unwrap(), 0);
    assert!(b.try_recv::<()>().unwrap_err().is_empty());
}

#[test]
fn sixteen_mib_messages_between_processes() {
    with_watchdog(LIMIT, || {
        let big = pattern(16 << 20);
        let numbers: Vec<u64> = (0..(2u64 << 20))
            .map(|i| i.wrapping_mul(0x0123_4567_89AB_CDEF))
            .collect();
        let (a, b) = Pipe::new().unwrap();
        let mut child = fork_child(|| {
            b.send_bytes(&big).unwrap();
            b.send(&numbers).unwrap();
            let back = b.recv_bytes().unwrap();
            code(back == big)
        });
        assert_eq!(a.recv_bytes().unwrap(), big);
        assert_eq!(a.recv::<Vec<u64>>().unwrap(), numbers);
        a.send_bytes(&big).unwrap();
        assert_eq!(child.wait(CHILD), 0);
    });
}

#[test]
fn large_message_to_a_thread_of_the_same_process() {
    with_watchdog(LIMIT, || {
        let big = Arc::new(pattern((16 << 20) + 1));
        let (rx, tx) = Pipe::one_way().unwrap();
        let b2 = big.clone();
        let h = std::thread::spawn(move || {
            tx.send_bytes(&b2).unwrap();
            tx.send(&*b2).unwrap();
        });
        assert_eq!(rx.recv_bytes().unwrap(), *big);
        assert_eq!(rx.recv::<Vec<u8>>().unwrap(), *big);
        h.join().unwrap();
        assert!(rx.recv_bytes().unwrap_err().is_eof());
    });
}

#[test]
fn send_bytes_range_is_bounds_checked() {
    let (a, b) = Pipe::new().unwrap();
    let data = b"0123456789";
    a.send_bytes_range(data, 3, None).unwrap();
    a.send_bytes_range(data, 10, None).unwrap();
    a.send_bytes_range(data, 0, Some(10)).unwrap();
    assert_eq!(b.recv_bytes().unwrap(), b"3456789");
    assert_eq!(b.recv_bytes().unwrap(), b"");
    assert_eq!(b.recv_bytes().unwrap(), data);
    for (offset, size) in [
        (11, None),
        (5, Some(6)),
        (1, Some(usize::MAX)),
        (usize::MAX, Some(1)),
    ] {
        assert!(
            matches!(
                a.send_bytes_range(data, offset, size),
                Err(SendError::OutOfRange { len: 10, .. })
            ),
            "{offset} {size:?}"
        );
    }
    assert!(!b.poll().unwrap(), "nothing was sent by the failed calls");
}

#[test]
fn recv_bytes_max_drops_a_long_message_and_stays_usable() {
    with_watchdog(LIMIT, || {
        let (a, b) = Pipe::new().unwrap();
        let long = pattern(300 << 10); // longer than the socket buffer: needs the reader
        let h = std::thread::spawn(move || {
            a.send_bytes(&long).unwrap();
            a.send_bytes(b"0123456789ABCDEF").unwrap();
            a.send_bytes(b"ok").unwrap();
            a
        });
        assert!(matches!(
            b.recv_bytes_max(10),
            Err(RecvError::TooLong { len, limit: 10 }) if len == 300 << 10
        ));
        assert!(matches!(
            b.recv_bytes_max(10),
            Err(RecvError::TooLong { len: 16, limit: 10 })
        ));
        assert_eq!(b.recv_bytes_max(10).unwrap(), b"ok");
        drop(h.join().unwrap());
        assert!(b.recv_bytes_max(10).unwrap_err().is_eof());
    });
}

#[test]
fn recv_bytes_into_checks_bounds_and_keeps_a_long_message() {
    with_watchdog(LIMIT, || {
        let (a, b) = Pipe::new().unwrap();
        let mut buf = [0u8; 8];
        a.send_bytes(b"abc").unwrap();
        assert!(matches!(
            b.recv_bytes_into(&mut buf, 9),
            Err(RecvBytesIntoError::OffsetOutOfRange { offset: 9, len: 8 })
        ));
        // Nothing was consumed by the failed call.
        assert_eq!(b.recv_bytes_into(&mut buf, 5).unwrap(), 3);
        assert_eq!(buf, [0, 0, 0, 0, 0, b'a', b'b', b'c']);

        a.send_bytes(b"0123456789").unwrap();
        let e = b.recv_bytes_into(&mut buf, 0).unwrap_err();
        assert_eq!(e.into_message().unwrap(), b"0123456789");
        assert_eq!(buf, [0, 0, 0, 0, 0, b'a', b'b', b'c'], "buffer untouched");

        let long = pattern(100_000);
        a.send_bytes(&long).unwrap();
        match b.recv_bytes_into(&mut buf, 0) {
            Err(RecvBytesIntoError::BufferTooShort(m)) => assert_eq!(m, long),
            other => panic!("{other:?}"),
        }
        a.send_bytes(&long).unwrap();
        let mut big = vec![0u8; 100_010];
        assert_eq!(b.recv_bytes_into(&mut big, 10).unwrap(), 100_000);
        assert_eq!(&big[10..], &long[..]);
        a.send(&5u16).unwrap();
        assert_eq!(
            b.recv::<u16>().unwrap(),
            5,
            "the connection is still in step"
        );
    });
}

#[test]
fn absurd_header_length_is_refused_without_reading_on() {
    let (a, b) = Pipe::new().unwrap();
    // A well-formed header announcing 4 GiB - 1, and nothing else.
    let mut h = [0u8; HEADER_LEN];
    h[..4].copy_from_slice(&u32::MAX.to_le_bytes());
    h[4..].copy_from_slice(&frame::encode_head(Head::Message(usize::MAX))[4..]);
    sysfd::write_all(b.as_fd(), &h, true).unwrap();
    match a.recv_bytes() {
        Err(RecvError::TooLong { len, limit }) => {
            assert_eq!(len, u32::MAX as usize);
            assert_eq!(limit, crate::codec::MAX_MESSAGE_LEN);
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(a.recv::<u8>(), Err(RecvError::Broken)));
    assert!(
        a.poll().unwrap(),
        "a broken end does not make receivers wait"
    );
    assert!(format!("{a:?}").contains("broken"));
    // Sending in the other direction is unaffected.
    a.send(&1u8).unwrap();
    assert_eq!(b.recv::<u8>().unwrap(), 1);

    let (a, b) = Pipe::new().unwrap();
    sysfd::write_all(b.as_fd(), &[0xAB; MIN_FRAME], true).unwrap();
    assert!(matches!(a.recv::<u8>(), Err(RecvError::BadFrame)));
    assert!(matches!(a.recv_bytes(), Err(RecvError::Broken)));
}

fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

// A header announcing the maximum (1 GiB) followed by a little data and end of file: the
// reader must not allocate for the announcement. Measured in a child, so that the peak
// resident size is this reader's alone.
#[test]
fn truncated_huge_message_does_not_allocate_its_announced_size() {
    with_watchdog(LIMIT, || {
        let mut child = fork_child(|| {
            let (a, b) = Pipe::new().unwrap();
            let max = crate::codec::MAX_MESSAGE_LEN;
            let mut bytes = frame::encode_head(Head::Message(max)).to_vec();
            bytes.extend(pattern(5000));
            sysfd::write_all(b.as_fd(), &bytes, true).unwrap();
            drop(b);
            let before = peak_rss_kib();
            let r = a.recv_bytes();
            let grew = peak_rss_kib() - before;
            if !matches!(r, Err(RecvError::Truncated)) {
                return 2;
            }
            if !matches!(a.recv_bytes(), Err(RecvError::Broken)) {
                return 3;
            }
            code(grew < 64 * 1024)
        });
        assert_eq!(child.wait(CHILD), 0);
    });
}

#[test]
fn garbage_body_is_a_decode_error_and_the_connection_stays_usable() {
    let (a, b) = Pipe::new().unwrap();
    a.send_bytes(&[0xff, 0xff, 0xff]).unwrap();
    match b.recv::<String>() {
        Err(RecvError::Decode(e)) => assert_ne!(e.kind(), DecodeErrorKind::MissingDescriptor),
        other => panic!("{other:?}"),
    }
    a.send_bytes(&[0xff; 1000]).unwrap(); // a long body goes through the scratch buffer
    assert!(matches!(b.recv::<Vec<String>>(), Err(RecvError::Decode(_))));
    a.send(&7u32).unwrap();
    a.send(&1u8).unwrap();
    assert!(matches!(b.recv::<(u32, u64)>(), Err(RecvError::Decode(_))));
    assert_eq!(b.recv::<u8>().unwrap(), 1);
}

#[test]
fn send_to_a_closed_peer_is_an_error() {
    let (a, b) = Pipe::new().unwrap();
    drop(b);
    assert!(a.send(&1u8).unwrap_err().is_disconnected());
    assert!(
        a.send_bytes(&pattern(10_000))
            .unwrap_err()
            .is_disconnected()
    );
    assert!(a.recv::<u8>().unwrap_err().is_eof());

    let (rx, tx) = Pipe::one_way().unwrap();
    rx.close();
    assert!(tx.send(&1u8).unwrap_err().is_disconnected());
    assert!(format!("{tx:?}").contains("disconnected"));
}

// SIGPIPE must not kill a process writing to a one-way pipe without readers: checked in a
// child, whose death by signal would show in its exit status.
#[test]
fn writing_to_a_pipe_without_readers_does_not_kill_the_process() {
    with_watchdog(LIMIT, || {
        let mut child = fork_child(|| {
            let (rx, tx) = Pipe::one_way().unwrap();
            drop(rx);
            let r1 = tx.send(&1u8);
            let r2 = tx.send_bytes(&pattern(1 << 20));
            code(matches!(
                (r1, r2),
                (Err(SendError::Disconnected), Err(SendError::Disconnected))
            ))
        });
        assert_eq!(child.wait(CHILD), 0);
    });
}

#[test]
fn a_blocked_sender_learns_when_the_reader_goes_away() {
    with_watchdog(LIMIT, || {
        let (rx, tx) = Pipe::one_way().unwrap();
        let h = std::thread::spawn(move || tx.send_bytes(&pattern(8 << 20)));
        assert!(rx.poll_timeout(CHILD).unwrap());
        drop(rx);
        assert!(h.join().unwrap().unwrap_err().is_disconnected());
    });
}

#[test]
fn wait_returns_only_the_ready_objects() {
    with_watchdog(LIMIT, || {
        let pairs: Vec<_> = (0..4).map(|_| Pipe::new().unwrap()).collect();
        let receivers: Vec<&Connection> = pairs.iter().map(|(_, b)| b).collect();
        let t = Duration::from_millis(30);
        let start = Instant::now();
        assert!(wait(&receivers, Some(t)).unwrap().is_empty());
        assert!(start.elapsed() >= t);
        assert!(
            wait_deadline(&receivers, Instant::now())
                .unwrap()
                .is_empty()
        );

        pairs[1].0.send(&1u8).unwrap();
        pairs[3].0.send(&3u8).unwrap();
        assert_eq!(wait(&receivers, None).unwrap(), [1, 3]);

        // Any descriptor can be waited on, e.g. a raw pipe (or a process's pidfd).
        let (r, w) = sysfd::pipe().unwrap();
        let mixed: [&dyn AsFd; 2] = [&r, receivers[0]];
        assert!(wait(&mixed, Some(Duration::ZERO)).unwrap().is_empty());
        drop(w);
        assert_eq!(wait(&mixed, Some(CHILD)).unwrap(), [0]);
        assert!(wait::<&Connection>(&[], None).unwrap().is_empty());
    });
}

#[test]
fn poll_and_recv_timeouts_wait_at_least_the_timeout() {
    let (a, b) = Pipe::new().unwrap();
    let t = Duration::from_millis(40);
    let start = Instant::now();
    assert!(!b.poll_timeout(t).unwrap());
    assert!(start.elapsed() >= t);
    let start = Instant::now();
    assert!(b.recv_timeout::<u8>(t).unwrap_err().is_timeout());
    assert!(start.elapsed() >= t);
    assert!(!b.poll_deadline(Instant::now()).unwrap());
    assert!(
        b.recv_deadline::<u8>(Instant::now())
            .unwrap_err()
            .is_timeout()
    );
    a.send(&9u8).unwrap();
    assert!(b.poll().unwrap());
    assert_eq!(b.recv_timeout::<u8>(Duration::MAX).unwrap(), 9);
}

// A peer killed in the middle of sending a large message: the reader gets the bytes that made
// it, then a typed truncation error, not a hang.
#[test]
fn peer_killed_mid_send_gives_truncated() {
    with_watchdog(LIMIT, || {
        let (a, b) = Pipe::new().unwrap();
        let big = vec![7u8; 64 << 20];
        let mut child = fork_child(move || {
            let _ = b.send_bytes(&big);
            0
        });
        // `b` moved into the closure and was dropped here: the child holds the only copy.
        assert!(a.poll_timeout(CHILD).unwrap(), "the child started sending");
        child.kill();
        assert_eq!(child.wait(CHILD), -9);
        assert!(matches!(a.recv_bytes(), Err(RecvError::Truncated)));
        assert!(matches!(a.recv_bytes(), Err(RecvError::Broken)));
    });
}

#[test]
fn threads_share_a_connection_without_mixing_messages() {
    with_watchdog(LIMIT, || {
        let (rx, tx) = Pipe::one_way().unwrap();
        let tx = Arc::new(tx);
        let senders: Vec<_> = (0..4u8)
            .map(|t| {
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for i in 0..300usize {
                        let len = [0, 5, 200, 70_000][i % 4];
                        tx.send(&(t, i, vec![t; len])).unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        let rx = Arc::new(rx);
        let receivers: Vec<_> = (0..2)
            .map(|_| {
                let rx = rx.clone();
                std::thread::spawn(move || {
                    let mut n = 0;
                    for m in rx.iter::<(u8, usize, Vec<u8>)>() {
                        let (t, _, body) = m.unwrap();
                        assert!(body.iter().all(|&x| x == t));
                        n += 1;
                    }
                    n
                })
            })
            .collect();
        for s in senders {
            s.join().unwrap();
        }
        let total: usize = receivers.into_iter().map(|r| r.join().unwrap()).sum();
        assert_eq!(total, 4 * 300);
    });
}

// Scenario 25: two consumer processes share one receiving end under a Lock; every value is
// received exactly once (the reader never takes bytes beyond its own message).
#[test]
fn two_consumer_processes_share_one_end() {
    with_watchdog(LIMIT, || {
        let (rx, tx) = Pipe::one_way().unwrap();
        let (results, report) = Pipe::one_way().unwrap();
        let lock = crate::Lock::new().unwrap();
        let consumer = || {
            loop {
                let m: Option<u32> = {
                    let _g = lock.acquire();
                    rx.recv().unwrap()
                };
                match m {
                    Some(v) => report.send(&v).unwrap(),
                    None => return 0,
                }
            }
        };
        let mut kids = [fork_child(consumer), fork_child(consumer)];
        drop((rx, report));
        for i in 0..200u32 {
            tx.send(&Some(i)).unwrap();
        }
        tx.send(&None::<u32>).unwrap();
        tx.send(&None::<u32>).unwrap();
        for k in &mut kids {
            assert_eq!(k.wait(CHILD), 0);
        }
        let mut got: Vec<u32> = results.iter().collect::<Result<_, _>>().unwrap();
        got.sort();
        assert_eq!(got, (0..200).collect::<Vec<_>>());
    });
}

#[test]
fn connections_travel_only_as_child_arguments() {
    let (a, _b) = Pipe::new().unwrap();
    let e = crate::codec::encode(&a).unwrap_err();
    assert_eq!(e.kind(), EncodeErrorKind::NotTransferable);
    let encoded = crate::transfer::encode_with_fds(&(&a, 5u8)).unwrap();
    assert_eq!(encoded.fds.len(), 1);
    // A failed encode sends nothing and leaves the connection usable.
    assert!(matches!(a.send(&a), Err(SendError::Encode(_))));
    a.send(&1u8).unwrap();
}
